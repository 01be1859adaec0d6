// dom.js: building the console's elements. Text goes in as text (textContent), never as HTML: the
// one place HTML enters the page is the cards renderer's output, in calls.js.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}

export function time(epochSeconds, withDate = false) {
  const when = new Date(epochSeconds * 1000);
  const shown = withDate ? when.toLocaleString() : when.toLocaleTimeString();
  return el('time', { datetime: when.toISOString(), title: when.toLocaleString(), text: shown });
}

export function pre(text, label) {
  return el('pre', { class: 'raw', tabindex: 0, 'aria-label': label, text });
}

// Each call's ID in element IDs and labels: SIDs are letters and digits, but nothing is assumed.
export function idFor(prefix, value) {
  return `${prefix}-${String(value).replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

const token = () => document.querySelector('meta[name="console-token"]').getAttribute('content');

// An action: JSON to the console, with the page's token. Answers are JSON (a problem when refused).
export async function act(path, body) {
  const reply = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Console-Token': token() },
    body: JSON.stringify(body),
  });
  const answer = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(answer.detail || `HTTP ${reply.status}`);
  return answer;
}
