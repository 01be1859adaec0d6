"""Sources: how each sender signs its webhooks (signatures), where an event's parts are in its
deliveries (profiles, sources.json) and the JSON Schemas they are checked against (schemas)."""
