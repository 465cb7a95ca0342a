"""Parts of `benchmarks/hover_latency.py`: workload, live data, LSP client, statistics."""
