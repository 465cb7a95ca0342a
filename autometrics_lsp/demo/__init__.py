"""The demo: a sample shop instrumented with `autometrics_lsp.runtime`, and the stack that runs it under a real backend.

`shop` is the sample service (known, deterministic traffic); `stack` starts and stops it and a real Prometheus or
VictoriaMetrics scraping it, for the `autometrics-lsp demo` command and the end-to-end tests alike.
"""
