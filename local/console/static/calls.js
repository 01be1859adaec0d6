// calls.js: a panel per live call. Its agent panel shows the UDMs the call received, newest first,
// each rendered by agent/cards.js exactly as the agent's app renders it; a box sends a message from
// the call (call.sendMessage); below, what was sent and what the CRM's receiver verified.
import { render } from '/agent/cards.js';
import { act, clear, el, idFor, pre, time } from './dom.js';

// The page's CSP lets HTML into the page only through this policy, and only the cards renderer's
// output (every text and attribute escaped by it) is handed to it.
const policy = window.trustedTypes ? window.trustedTypes.createPolicy('cards', { createHTML: (html) => html }) : null;

function cardHtml(content) {
  const html = render(content);
  return policy ? policy.createHTML(html) : html;
}

function parsed(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { title: text }; // not JSON: Twilio refuses that, but shown as text all the same
  }
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

const panels = new Map(); // call SID -> {node, cards: Map(message SID -> node), parts}

function message(item) {
  const node = el('div', { class: 'message', 'data-sid': item.sid });
  const card = el('div', { class: 'message__card' });
  card.insertAdjacentHTML('afterbegin', cardHtml(parsed(item.content)));
  const when = new Date(item.at);
  const meta = el(
    'p',
    { class: 'message__meta' },
    'UDM ',
    el('code', { text: item.sid }),
    ' · ',
    el('time', { datetime: when.toISOString(), text: when.toLocaleTimeString() }),
  );
  const raw = el('details', { class: 'message__raw' }, el('summary', { text: 'Content' }), pre(pretty(item.content), 'Content'));
  node.append(card, meta, raw);
  return node;
}

function sendBox(call) {
  const id = idFor('send', call.call_sid);
  const area = el('textarea', { id, name: 'content', rows: 3, spellcheck: 'false', 'aria-describedby': `${id}-hint` });
  area.value = '{"verified": true}';
  const output = el('output', { for: id, class: 'result', role: 'status' });
  const button = el('button', { type: 'submit', text: 'Send from this call' });
  const form = el(
    'form',
    { class: 'send', 'aria-label': 'Send a message from this call' },
    el('label', { for: id, text: "Message from the agent's app" }),
    el('p', { id: `${id}-hint`, class: 'hint', text: 'What call.sendMessage sends: JSON, or plain text. The bridge forwards it to the CRM.' }),
    area,
    el('div', { class: 'row' }, button, output),
  );
  form.addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    button.disabled = true;
    output.textContent = 'Sending…';
    try {
      const sent = await act(`/api/calls/${encodeURIComponent(call.call_sid)}/messages`, { content: area.value });
      output.textContent = sent.callbacks.length
        ? `Sent ${sent.sid}: Twilio called the subscription, which answered ${sent.callbacks.join(', ')}.`
        : `Sent ${sent.sid}, but the call has no subscription yet: nobody received it.`;
    } catch (error) {
      output.textContent = `Not sent: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function sentList(items) {
  if (!items.length) return el('p', { class: 'empty', text: 'Nothing sent from this call yet.' });
  return el(
    'ol',
    { class: 'sent-list' },
    ...items.map((item) =>
      el(
        'li',
        {},
        el('p', {}, el('code', { text: item.sid }), ` ${item.content_type}: `, el('code', { class: 'inline', text: item.content })),
        el('p', { class: 'hint', text: `Twilio called the subscription: ${item.callbacks.join(', ') || 'no subscription'}` }),
        ...item.forwarded.map((forwarded) =>
          el(
            'div',
            { class: `forwarded ${forwarded.verified ? 'forwarded--verified' : 'forwarded--unverified'}` },
            el('p', {
              text: forwarded.verified
                ? `The CRM's receiver verified the forwarded webhook and answered ${forwarded.status}:`
                : `The CRM's receiver could not verify a forwarded webhook (answered ${forwarded.status}).`,
            }),
            forwarded.payload ? pre(JSON.stringify(JSON.parse(forwarded.payload), null, 2), 'Forwarded webhook') : null,
          ),
        ),
      ),
    ),
  );
}

function newPanel(call) {
  const titleId = idFor('call', call.call_sid);
  const title = el('h3', { id: titleId, class: 'call__title' });
  const leg = el('p', { class: 'leg' });
  const cards = el('div', { class: 'cards', 'aria-live': 'polite' });
  const noCards = el('p', { class: 'empty', text: 'No message on this call yet.' });
  const sent = el('div', { class: 'sent' });
  const node = el(
    'article',
    { class: 'call', 'aria-labelledby': titleId, 'data-call': call.call_sid },
    el('header', {}, title, leg),
    el('section', { class: 'agent', 'aria-label': 'Agent panel' }, el('h4', { text: 'Agent panel' }), noCards, cards),
    sendBox(call),
    el('section', { class: 'sent-section', 'aria-label': 'Sent from the call' }, el('h4', { text: 'Sent from the call' }), sent),
  );
  return { node, title, leg, cards, noCards, sent, rendered: new Map() };
}

function update(panel, call) {
  panel.title.textContent = call.keys.join(' · ');
  clear(panel.leg);
  panel.leg.append('SDK leg ', el('code', { text: call.call_sid }), ' · started ', time(call.started, true), ` · ${call.status}`);
  if (call.from) panel.leg.append(' · from ', el('span', { text: call.from }));
  const wanted = new Set(call.messages.map((item) => item.sid));
  for (const [sid, node] of panel.rendered) {
    if (!wanted.has(sid)) {
      node.remove();
      panel.rendered.delete(sid);
    }
  }
  // Newest first: what arrived since the last update goes on top, oldest of them first.
  for (const item of [...call.messages].reverse()) {
    if (panel.rendered.has(item.sid)) continue;
    const node = message(item);
    panel.cards.prepend(node);
    panel.rendered.set(item.sid, node);
  }
  panel.noCards.hidden = call.messages.length > 0;
  clear(panel.sent);
  panel.sent.append(sentList(call.sent));
}

export function showCalls(root, calls) {
  const live = new Set(calls.map((call) => call.call_sid));
  for (const [sid, panel] of panels) {
    if (!live.has(sid)) {
      panel.node.remove();
      panels.delete(sid);
    }
  }
  root.querySelector(':scope > .empty')?.remove();
  calls.forEach((call, index) => {
    let panel = panels.get(call.call_sid);
    if (!panel) {
      panel = newPanel(call);
      panels.set(call.call_sid, panel);
    }
    update(panel, call);
    if (root.children[index] !== panel.node) root.insertBefore(panel.node, root.children[index] || null);
  });
  if (!calls.length && !root.querySelector(':scope > .empty')) {
    root.append(el('p', { class: 'empty', text: 'No live call. Place one: see the Serving lines of make run.' }));
  }
}
