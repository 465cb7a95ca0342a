"""autometrics-lsp: function-level metrics (the autometrics spec) for Python, and a language server that shows them live.

`autometrics_lsp.runtime` is what instrumented services import; it depends on prometheus_client only.
Everything else in this package is the language server and its command-line interface.
"""

__version__ = "0.1.0"
