// events.js: the stream of what the HTTP front answered, newest first. Each entry opens to its
// request headers (signatures elided), body, the answer and the Content it posted, fetched on demand.
import { clear, el, pre, time } from './dom.js';

const shown = new Map(); // entry id -> <li>

// An outcome's look: the badge's class is chosen from this list only, never from the data.
const TONES = {
  delivered: 'good',
  ok: 'good',
  parked: 'wait',
  ignored: 'muted',
  stale: 'warn',
  'no call': 'warn',
  refused: 'bad',
  error: 'bad',
};

function tone(outcome) {
  if (outcome in TONES) return TONES[outcome];
  return outcome.startsWith('batch') ? 'wait' : 'muted';
}

function headerList(headers) {
  return el(
    'dl',
    { class: 'headers' },
    ...Object.entries(headers).map(([name, value]) => el('div', {}, el('dt', { text: name }), el('dd', { text: value }))),
  );
}

function detailOf(entry) {
  const parts = [
    el('h4', { text: 'Request headers' }),
    headerList(entry.detail.request.headers),
    el('h4', { text: 'Body' }),
    pre(entry.detail.request.body || '(empty)', 'Request body'),
  ];
  if (entry.detail.request.truncated) parts.push(el('p', { class: 'hint', text: 'Cut: the body is longer.' }));
  parts.push(el('h4', { text: `Answer: ${entry.status}` }), pre(entry.detail.response.body || '(empty)', 'Answer body'));
  if (entry.content.length) {
    parts.push(el('h4', { text: 'Content posted to the call' }));
    for (const posted of entry.content) {
      parts.push(el('p', { class: 'hint' }, 'UDM ', el('code', { text: posted.message_sid }), ' on ', el('code', { text: posted.call_sid })));
      parts.push(pre(posted.content, 'Content'));
    }
  }
  return parts;
}

function entryNode(entry) {
  const body = el('div', { class: 'detail', text: 'Loading…' });
  const summary = el(
    'summary',
    {},
    time(entry.at),
    ' ',
    el('span', { class: 'method', text: entry.method }),
    ' ',
    el('code', { class: 'path', text: entry.path }),
    ' ',
    el('span', { class: `badge badge--${tone(entry.outcome)}`, text: entry.outcome }),
    entry.event_id ? el('code', { class: 'event-id', text: entry.event_id }) : null,
    entry.recipient ? el('span', { class: 'recipient', text: `→ ${entry.recipient}` }) : null,
    entry.why ? el('span', { class: 'why', text: entry.why }) : null,
    el('span', { class: 'status', text: `${entry.status} · ${entry.ms} ms` }),
  );
  const details = el('details', {}, summary, body);
  details.addEventListener('toggle', async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = 'yes';
    try {
      const reply = await fetch(`/api/events/${encodeURIComponent(entry.id)}`);
      const found = await reply.json();
      clear(body);
      if (!reply.ok) throw new Error(found.detail || `HTTP ${reply.status}`);
      body.append(...detailOf(found));
    } catch (error) {
      body.textContent = `Could not load it: ${error.message}`;
      delete details.dataset.loaded;
    }
  });
  return el('li', { class: `event event--${entry.kind.replace(/[^a-z]/g, '-')}`, 'data-id': entry.id }, details);
}

export function showEvents(root, entries) {
  const kept = new Set(entries.map((entry) => entry.id));
  for (const [id, node] of shown) {
    if (!kept.has(id)) {
      node.remove();
      shown.delete(id);
    }
  }
  for (const entry of [...entries].reverse()) {
    if (shown.has(entry.id)) continue;
    const node = entryNode(entry);
    root.prepend(node);
    shown.set(entry.id, node);
  }
}
