"""The domain: events, calls, parked events, the ledger, outcomes and their rules. Pure values and
rules: no I/O and no SDKs, so every other layer speaks in these types."""
