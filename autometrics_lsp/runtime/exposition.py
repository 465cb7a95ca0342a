"""Serving `/metrics`: a stand-alone HTTP server, or a WSGI / ASGI app to mount in the service's own server.

Each helper runs `init()` with its defaults if the service has not called it yet, and serves whatever registry
the latest `init()` chose, so an app made at import time follows a later `init(registry=...)`. In multiprocess
mode, call `init()` in every worker (at import of the app module is fine): a worker's calls are written to the
shared directory only from then on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, RestrictedRegistry

from autometrics_lsp.runtime.core import RUNTIME
from autometrics_lsp.runtime.names import DEFAULT_METRICS_PORT


class _ActiveRegistry(Collector):
    """Stands for the registry `init()` chose last, looked up on every scrape."""

    def collect(self) -> Iterable[Metric]:
        return RUNTIME.registry.collect()

    def restricted_registry(self, names: Iterable[str]) -> RestrictedRegistry:
        return RUNTIME.registry.restricted_registry(names)


@dataclass
class MetricsServer:
    """A running `/metrics` HTTP server; `stop()` (or leaving a `with` block) shuts it down."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def address(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_http_server(port: int = DEFAULT_METRICS_PORT, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve `/metrics` from a daemon thread. `port=0` picks a free port (see `.port`).

    The default address is loopback; in a container that Prometheus scrapes from outside, pass `addr="0.0.0.0"`.
    """
    RUNTIME.ensure_initialised()
    server, thread = prometheus_client.start_http_server(port, addr, registry=_ActiveRegistry())
    return MetricsServer(server, thread)


def make_wsgi_app() -> Callable[..., Any]:
    """A WSGI app answering every path with the metrics (mount it at `/metrics`)."""
    RUNTIME.ensure_initialised()
    return prometheus_client.make_wsgi_app(_ActiveRegistry())


def make_asgi_app() -> Callable[..., Any]:
    """An ASGI app answering every path with the metrics (mount it at `/metrics`)."""
    RUNTIME.ensure_initialised()
    return prometheus_client.make_asgi_app(_ActiveRegistry())

