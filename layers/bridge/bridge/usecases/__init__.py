"""Use cases: one module per thing the bridge does. Each speaks to the outside world only through
bridge.ports and returns a typed result; the entry points log, count and answer it."""
