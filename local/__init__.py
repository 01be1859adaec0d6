"""Local development helpers (emulators and tooling that never ship to Lambda)."""
