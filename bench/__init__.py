"""Benchmark harness: cold start, warm latency, I/O and cost of the bridge against a minimal baseline.

`python -m bench` (or `make bench`) runs it; see bench/README.md.
"""
