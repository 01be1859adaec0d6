// node --test agent/ (make test-agent): the renderer of docs/cards.md, with hostile strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { CONTENT_VERSION, escapeHtml, render, safeUrl } from './cards.js';

// The GitHub card the bridge makes of octokit's pull_request example (docs/figures/cards.md).
const pullRequest = {
  version: 1,
  id: 'd-1',
  type: 'pull_request',
  source: 'github',
  title: '#2 Update the README with new information.',
  summary: 'Codertocat opened pull request #2 in Codertocat/Hello-World',
  url: 'https://github.com/Codertocat/Hello-World/pull/2',
  fields: [
    { label: 'Repository', value: 'Codertocat/Hello-World' },
    { label: 'Branch', value: 'changes → master' },
  ],
  data: { number: 2 },
};

const HOSTILE = `<script>alert("x")</script><img src=x onerror='alert(1)'>&amp;\``;

function card(overrides) {
  return { ...pullRequest, ...overrides };
}

test('a card shows its title as a link, the source and type, the summary and the fields in order', () => {
  const html = render(pullRequest);
  assert.ok(html.startsWith('<article class="udm-card" aria-label="#2 Update the README with new information.">'));
  assert.ok(html.includes(
    '<h3 class="udm-card__title"><a href="https://github.com/Codertocat/Hello-World/pull/2" target="_blank" ' +
      'rel="noopener noreferrer">#2 Update the README with new information.</a></h3>',
  ));
  assert.ok(html.includes('<p class="udm-card__meta">github · pull_request</p>'));
  assert.ok(html.includes('<p class="udm-card__summary">Codertocat opened pull request #2 in Codertocat/Hello-World</p>'));
  assert.ok(html.includes(
    '<dl class="udm-card__fields"><div><dt>Repository</dt><dd>Codertocat/Hello-World</dd></div>' +
      '<div><dt>Branch</dt><dd>changes → master</dd></div></dl>',
  ));
  assert.ok(html.endsWith('</article>'));
  assert.equal(CONTENT_VERSION, 1);
});

test('data is for the app, never shown', () => {
  assert.ok(!render(card({ data: { secret_plan: 'zzz' } })).includes('zzz'));
});

test('every text is escaped: title, summary, labels, values, source, type and time', () => {
  const html = render(card({
    title: HOSTILE,
    summary: HOSTILE,
    source: HOSTILE,
    type: HOSTILE,
    timestamp: HOSTILE,
    fields: [{ label: HOSTILE, value: HOSTILE }],
  }));
  assert.ok(!html.includes('<script'));
  assert.ok(!html.includes('<img'));
  assert.ok(!/onerror='/.test(html));
  const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;amp;&#96;';
  assert.equal(escapeHtml(HOSTILE), escaped);
  // title (aria-label, heading), summary, source, type, time (twice), label, value
  assert.equal(html.split(escaped).length - 1, 9);
});

test('quotes cannot leave an attribute', () => {
  const html = render(card({ title: '" onmouseover="alert(1)', url: 'https://x.example/"onmouseover="alert(1)' }));
  assert.ok(!html.includes('" onmouseover="'));
  assert.ok(!html.includes('"onmouseover="'));
  assert.ok(html.includes('aria-label="&quot; onmouseover=&quot;alert(1)"'));
  assert.ok(html.includes('href="https://x.example/%22onmouseover=%22alert(1)"'));
});

for (const url of [
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  ' javascript:alert(1)',
  'java\nscript:alert(1)',
  'java\tscript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  '//evil.example/x',
  '/relative',
  'mailto:a@example.com',
]) {
  test(`no link for ${JSON.stringify(url)}`, () => {
    const html = render(card({ url }));
    assert.ok(!html.includes('<a '));
    assert.ok(!html.toLowerCase().includes('javascript:'));
    assert.ok(html.includes('<h3 class="udm-card__title">#2 Update the README with new information.</h3>'));
    assert.equal(safeUrl(url), null);
  });
}

test('http and https URLs become links', () => {
  assert.equal(safeUrl('http://example.com/a?b=1&c=2'), 'http://example.com/a?b=1&c=2');
  assert.ok(render(card({ url: 'http://example.com/a?b=1&c=2' })).includes('href="http://example.com/a?b=1&amp;c=2"'));
  assert.equal(safeUrl(42), null);
});

test('a version it does not know shows only the title and the fields', () => {
  const html = render(card({ version: 2, summary: 'new things', url: 'https://example.com' }));
  assert.ok(html.startsWith('<article class="udm-card udm-card--unknown"'));
  assert.ok(html.includes('<h3 class="udm-card__title">#2 Update the README with new information.</h3>'));
  assert.ok(html.includes('<dt>Repository</dt>'));
  assert.ok(!html.includes('new things'));
  assert.ok(!html.includes('<a '));
  assert.ok(!html.includes('udm-card__meta'));
});

test('the content before cards (no version, no title) still shows its type', () => {
  const html = render({ id: 'e', type: 'crm.customer.identified', data: { name: 'Ada' } });
  assert.ok(html.includes('<h3 class="udm-card__title">crm.customer.identified</h3>'));
});

test('anything that is not a card renders as an empty one, never throws', () => {
  for (const value of [null, undefined, 'text', 42, [], { title: { nested: true } }, { fields: 'x' }]) {
    assert.ok(render(value).includes('<h3 class="udm-card__title">Event</h3>'));
  }
  const html = render(card({ fields: [null, { label: 'L' }, { label: '', value: 'v' }, { label: 'N', value: 7 }] }));
  assert.ok(html.includes('<dl class="udm-card__fields"><div><dt>N</dt><dd>7</dd></div></dl>'));
});

test('a card that lost something says so', () => {
  const html = render(card({ redacted: ['/data/password'], truncated: true }));
  assert.ok(html.includes('<p class="udm-card__note" role="note">Some values were hidden for safety.</p>'));
  assert.ok(html.includes('<p class="udm-card__note" role="note">Some details were left out to fit the message.</p>'));
  assert.ok(!html.includes('/data/password'));
});

test('the cards the docs show are rendered without error', () => {
  // docs/figures/cards.md is written by make docs-cards from the providers' published payloads.
  const figure = readFileSync(new URL('../docs/figures/cards.md', import.meta.url), 'utf8');
  const contents = [...figure.matchAll(/```json title="Content"\n([\s\S]*?)\n\s*```/g)].map((m) => JSON.parse(m[1]));
  assert.ok(contents.length >= 8);
  for (const content of contents) {
    const html = render(content);
    assert.ok(html.includes(`>${escapeHtml(content.title)}<`));
    assert.ok(!html.includes('udm-card--unknown'));
  }
});
