"""The console's one page: server-rendered, every dynamic value escaped. The ES modules fill in the
live parts from the event stream; without them the page says what it needs."""

from __future__ import annotations

from html import escape

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="console-token" content="{token}">
<title>udm-bridge console (local)</title>
<link rel="icon" href="/static/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/agent/cards.css">
<link rel="stylesheet" href="/static/console.css">
<script type="module" src="/static/console.js"></script>
</head>
<body>
<header class="top">
  <h1>udm-bridge console</h1>
  <p class="local-only" role="note"><strong>Local only.</strong> Served by <code>make run</code> on
  127.0.0.1 for this machine: it shows the local stack (moto, the Twilio emulator, the HTTP front at
  <code>{front}</code>), never a deployed bridge. Phone numbers are masked, as in the logs.</p>
  <p id="live" class="live" role="status" aria-live="polite">Connecting to the local stack…</p>
  <noscript><p class="warning">The live views need JavaScript (ES modules, served by this console; nothing
  comes from the internet).</p></noscript>
</header>
<main>
  <section id="calls-section" class="calls" aria-labelledby="calls-heading">
    <h2 id="calls-heading">Live calls</h2>
    <p class="hint">Each SDK leg the registry holds, with the keys it is under. Its agent panel shows the
    User Defined Messages the call received, newest first, rendered by <code>agent/cards.js</code> as the
    agent's app renders them.</p>
    <div id="calls" class="call-list"><p class="empty">No live call yet.</p></div>
  </section>
  <section id="events-section" class="events" aria-labelledby="events-heading">
    <h2 id="events-heading">Events</h2>
    <p class="hint">Every request the HTTP front answered, newest first (the last {limit}); open one for its
    headers (signatures elided), body, answer and the Content it posted.</p>
    <ol id="events" class="event-list" reversed></ol>
  </section>
  <section id="ledger-section" class="ledger" aria-labelledby="ledger-heading">
    <h2 id="ledger-heading">Ledger</h2>
    <p class="hint">Accepted events that ended without delivery. Replay goes through
    <code>udm-bridge events replay</code>'s own code: the same IdempotencyKey, so it can't double a delivery.</p>
    <div id="ledger"><p class="empty">The ledger is empty.</p></div>
  </section>
</main>
</body>
</html>
"""


def page(token: str, front: str, limit: int) -> bytes:
    return PAGE.format(token=escape(token), front=escape(front), limit=limit).encode("utf-8")
