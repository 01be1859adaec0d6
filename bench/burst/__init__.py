"""`make bench-burst`: thousands of signed webhooks a minute against the local stack while the emulated
Twilio account enforces its concurrency limit. bench/README.md says what it measures and how."""
