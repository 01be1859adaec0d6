"""DynamoDB behind the registry, parked-store and ledger ports, with one item codec."""
