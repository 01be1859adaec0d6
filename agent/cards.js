// cards.js: the card an agent's app shows for a udm-bridge event. No dependencies, no build step.
//
// The bridge posts every event to the call as a User Defined Message whose content is a card
// (docs/cards.md; the contract is layers/bridge/bridge/schemas/content.schema.json):
//
//   {"version": 1, "id", "type", "source"?, "timestamp"?, "title", "summary"?, "url"?,
//    "fields"?: [{"label", "value"}], "data", "redacted"?: [pointers], "truncated"?: true}
//
// API
//   render(content) -> string   HTML for one card: an <article class="udm-card">. Every text and
//                               attribute is escaped; only http: and https: URLs become links (new
//                               tab, rel="noopener noreferrer"). A version it doesn't know shows
//                               its title and fields only. `data` is for the app's logic: not shown.
//   escapeHtml(text) -> string  text safe inside HTML elements and quoted attributes.
//   safeUrl(text) -> string|null  the URL when it is http(s), else null.
//   CONTENT_VERSION             the version this renderer knows (1).
//
// With the Voice SDK:
//   import { render } from './cards.js';
//   call.on('messageReceived', (message) => show(render(JSON.parse(message.content))));
// where show() puts the HTML where the agent looks, e.g. list.insertAdjacentHTML('afterbegin', html).
// cards.css styles it (optional).

export const CONTENT_VERSION = 1;

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"'`]/g, (char) => ENTITIES[char]);
}

export function safeUrl(text) {
  if (typeof text !== 'string') return null;
  let url;
  try {
    url = new URL(text);
  } catch {
    return null; // relative or malformed: nothing to follow
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}

function text(value) {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

function fieldsOf(content) {
  if (!Array.isArray(content.fields)) return [];
  return content.fields
    .filter((field) => field && typeof field === 'object')
    .map((field) => [text(field.label), text(field.value)])
    .filter(([label, value]) => label && value);
}

function fieldsHtml(fields) {
  if (fields.length === 0) return '';
  const rows = fields.map(([label, value]) => `<div><dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd></div>`);
  return `<dl class="udm-card__fields">${rows.join('')}</dl>`;
}

export function render(content) {
  const card = content && typeof content === 'object' && !Array.isArray(content) ? content : {};
  const known = card.version === CONTENT_VERSION;
  const title = text(card.title) || text(card.type) || 'Event';
  const url = known ? safeUrl(card.url) : null;
  const heading = url
    ? `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${escapeHtml(title)}</a>`
    : escapeHtml(title);
  const classes = known ? 'udm-card' : 'udm-card udm-card--unknown';
  const parts = [`<article class="${classes}" aria-label="${escapeHtml(title)}">`, '<header>'];
  parts.push(`<h3 class="udm-card__title">${heading}</h3>`);
  if (known) {
    const meta = [text(card.source), text(card.type)].filter(Boolean).map((part) => escapeHtml(part));
    const when = text(card.timestamp);
    if (when) meta.push(`<time datetime="${escapeHtml(when)}">${escapeHtml(when)}</time>`);
    if (meta.length) parts.push(`<p class="udm-card__meta">${meta.join(' · ')}</p>`);
  }
  parts.push('</header>');
  const summary = known ? text(card.summary) : '';
  if (summary) parts.push(`<p class="udm-card__summary">${escapeHtml(summary)}</p>`);
  parts.push(fieldsHtml(fieldsOf(card)));
  if (known && Array.isArray(card.redacted) && card.redacted.length) {
    parts.push('<p class="udm-card__note" role="note">Some values were hidden for safety.</p>');
  }
  if (known && card.truncated === true) {
    parts.push('<p class="udm-card__note" role="note">Some details were left out to fit the message.</p>');
  }
  parts.push('</article>');
  return parts.join('');
}
