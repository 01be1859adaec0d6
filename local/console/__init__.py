"""The local console: a page on 127.0.0.1 that shows the local stack live (its calls and each
agent's cards, the events the front answered, the ledger) and acts on it (a message from a call, a
replay). `make run` starts it and prints its URL; docs/console.md says how to use it.

* ``feed``: the front's invocations, summarised and bounded; ``views``: calls and ledger as shown.
* ``watch``: each topic's latest state and version, for the event stream.
* ``server``: the HTTP server, its headers and checks, the actions; ``page``: the HTML.
* ``static/``: the page's ES modules and styles (no build step, nothing from the internet).
"""

from __future__ import annotations

from local.console.server import Console

__all__ = ["Console"]
