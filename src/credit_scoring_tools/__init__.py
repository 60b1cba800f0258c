"""Tooling beside the product: benchmarks, profiling, load tests, the traffic simulator (not in the Bento)."""
