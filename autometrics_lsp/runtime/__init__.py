"""Function-level metrics (the autometrics spec v1.0.0) for Python services, exposed to Prometheus.

    from autometrics_lsp.runtime import autometrics, init, start_http_server

    @autometrics
    def handle(request): ...

    init(service_name="checkout")       # optional: everything has a default
    start_http_server()                  # http://127.0.0.1:9464/metrics

Metric and label names are in `names.py`; the decorator's rules in `decorator.py`; caller tracking across
tasks and threads in `caller.py`; the hot path in `wrappers.py` and `store.py`. This package needs only
prometheus_client (it must never import the language server's dependencies).
"""

from autometrics_lsp.runtime.caller import carry_caller
from autometrics_lsp.runtime.core import init
from autometrics_lsp.runtime.decorator import autometrics, skip_autometrics
from autometrics_lsp.runtime.exposition import MetricsServer, make_asgi_app, make_wsgi_app, start_http_server
from autometrics_lsp.runtime.objectives import Objective, ObjectiveLatency, ObjectivePercentile

__all__ = [
    "MetricsServer",
    "Objective",
    "ObjectiveLatency",
    "ObjectivePercentile",
    "autometrics",
    "carry_caller",
    "init",
    "make_asgi_app",
    "make_wsgi_app",
    "skip_autometrics",
    "start_http_server",
]
