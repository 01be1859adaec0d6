// ledger.js: the failure ledger, newest first, each entry with a replay button. A replay runs
// `udm-bridge events replay`'s own code on the console's server, optionally to another key's call.
import { act, clear, el, idFor, pre, time } from './dom.js';

const rows = new Map(); // entry ref -> {row, cells}
let table = null;

function replayForm(entry) {
  const id = idFor('replay-to', entry.ref);
  const to = el('input', { id, name: 'to', type: 'text', placeholder: 'identity:alice', autocomplete: 'off', spellcheck: 'false' });
  const button = el('button', { type: 'submit', text: 'Replay' });
  const output = el('output', { for: id, class: 'result', role: 'status' });
  const form = el(
    'form',
    { class: 'replay', 'aria-label': `Replay ${entry.event_key}` },
    el('label', { for: id, text: 'To (a stale event needs one)' }),
    to,
    button,
    output,
  );
  form.addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    button.disabled = true;
    output.textContent = 'Replaying…';
    try {
      const result = await act(`/api/ledger/${encodeURIComponent(entry.ref)}/replay`, { to: to.value.trim() || null });
      const where = result.call_sid ? ` to ${result.call_sid}` : result.recipient ? ` (${result.recipient})` : '';
      output.textContent = `${result.status}${where}${result.detail ? `: ${result.detail}` : ''}`;
    } catch (error) {
      output.textContent = `Not replayed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function fill(cells, entry) {
  for (const cell of Object.values(cells)) clear(cell);
  cells.failed.append(time(entry.failed_at));
  cells.key.append(
    el('code', { text: entry.event_key }),
    el('span', { class: 'recipient', text: `→ ${entry.recipient}` }),
    el('details', {}, el('summary', { text: 'Content' }), pre(entry.content, 'Content')),
  );
  cells.reason.append(el('span', { class: 'badge badge--warn', text: entry.reason }));
  const attempts = entry.attempts === 1 ? '1 attempt' : `${entry.attempts} attempts`;
  cells.reason.append(el('span', { class: 'why', text: entry.detail ? `${entry.detail} (${attempts})` : attempts }));
  if (entry.replayed_at) {
    cells.replayed.append('Replayed ', time(entry.replayed_at), ' as ', el('code', { text: entry.replay_message_sid || '' }));
  } else {
    cells.replayed.append('Not replayed yet.');
  }
}

function newTable(root) {
  const headings = ['Failed', 'Event and recipient', 'Reason', 'Replay'];
  const body = el('tbody');
  const node = el(
    'table',
    { class: 'ledger-table' },
    el('caption', { class: 'visually-hidden', text: 'Ledger entries, newest first' }),
    el('thead', {}, el('tr', {}, ...headings.map((text) => el('th', { scope: 'col', text })))),
    body,
  );
  clear(root);
  root.append(node);
  return body;
}

export function showLedger(root, entries) {
  if (!entries.length) {
    rows.clear();
    table = null;
    clear(root);
    root.append(el('p', { class: 'empty', text: 'The ledger is empty.' }));
    return;
  }
  table = table && root.contains(table) ? table : newTable(root);
  const kept = new Set(entries.map((entry) => entry.ref));
  for (const [ref, found] of rows) {
    if (!kept.has(ref)) {
      found.row.remove();
      rows.delete(ref);
    }
  }
  entries.forEach((entry, index) => {
    let found = rows.get(entry.ref);
    if (!found) {
      const cells = {
        failed: el('td'),
        key: el('td', { class: 'key' }),
        reason: el('td'),
        replayed: el('p', { class: 'replayed' }),
      };
      const { replayed, ...shown } = cells;
      const action = el('td', {}, replayed, replayForm(entry));
      const row = el('tr', { 'data-ref': entry.ref }, ...Object.values(shown), action);
      found = { row, cells };
      rows.set(entry.ref, found);
    }
    fill(found.cells, entry);
    if (table.children[index] !== found.row) table.insertBefore(found.row, table.children[index] || null);
  });
}
