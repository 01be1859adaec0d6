// console.js: the page's entry point. One EventSource on /api/stream brings each part's latest
// state (calls, events, ledger) whenever it changes; the browser reconnects by itself.
import { showCalls } from './calls.js';
import { showEvents } from './events.js';
import { showLedger } from './ledger.js';

const live = document.getElementById('live');
const parts = {
  calls: (data) => showCalls(document.getElementById('calls'), data),
  events: (data) => showEvents(document.getElementById('events'), data),
  ledger: (data) => showLedger(document.getElementById('ledger'), data),
};

const stream = new EventSource('/api/stream');
stream.addEventListener('open', () => {
  live.textContent = 'Live: updates as the local stack changes.';
  live.dataset.state = 'live';
});
stream.addEventListener('error', () => {
  live.textContent = 'Not connected: is make run still serving? Retrying…';
  live.dataset.state = 'down';
});
for (const [topic, show] of Object.entries(parts)) {
  stream.addEventListener(topic, (message) => {
    show(JSON.parse(message.data));
    document.body.dataset[topic] = 'shown'; // for the browser tests: this part has been drawn once
  });
}
