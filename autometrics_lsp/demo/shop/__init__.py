"""A small tea shop, instrumented with `autometrics_lsp.runtime`: the sample service of the demo and the e2e tests.

`python -m autometrics_lsp.demo.shop --port P --rate R` serves `/metrics` on 127.0.0.1:P and calls the shop's
entry points R times a second, forever, following the traffic plan in `plan.py`. This package's `__init__`
imports nothing, so the stack can read these constants without loading the instrumented modules.
"""

SERVICE_NAME = "shop"
DEFAULT_RATE = 20.0  # entry-point calls per second
DEFAULT_VERSION = "1.0.0"
