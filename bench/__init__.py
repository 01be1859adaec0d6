"""Benchmark harness: cold start, warm latency, I/O and cost of the bridge against an exactly-once floor and a
minimal baseline, on loopback and with modelled round trips.

`python -m bench` (or `make bench`) runs it; see bench/README.md.
"""
