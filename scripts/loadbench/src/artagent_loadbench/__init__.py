"""Bench-only providers with fixed latencies (scripts/bench_load.py)."""
