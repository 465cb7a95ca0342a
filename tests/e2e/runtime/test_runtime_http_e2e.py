"""`/metrics` over real HTTP: the stand-alone server, the WSGI app in a real server, the ASGI app, and promtool."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from autometrics_lsp.runtime import (
    MetricsServer,
    autometrics,
    init,
    make_asgi_app,
    make_wsgi_app,
    names,
    start_http_server,
)

SERVICE = "http-e2e"


@pytest.fixture
def registry() -> CollectorRegistry:
    fresh = CollectorRegistry()
    init(registry=fresh, service_name=SERVICE, record_error_type=True)
    return fresh


@pytest.fixture
def metrics_server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    server = start_http_server(port=0, addr="127.0.0.1")
    try:
        yield server
    finally:
        server.stop()


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_start_http_server_serves_the_spec_metrics(metrics_server: MetricsServer) -> None:
    @autometrics(track_concurrency=True)
    def checkout(fail: bool) -> None:
        if fail:
            raise TimeoutError

    @autometrics
    def handler() -> None:
        checkout(False)
        try:
            checkout(True)
        except TimeoutError:
            pass

    handler()

    text = fetch(f"http://127.0.0.1:{metrics_server.port}/metrics")
    families = {family.name: family for family in text_string_to_metric_families(text)}

    assert families[names.CALLS_TOTAL.removesuffix("_total")].type == "counter"
    assert families[names.CALLS_DURATION_SECONDS].type == "histogram"
    assert families[names.CALLS_CONCURRENT].type == "gauge"
    assert families[names.BUILD_INFO].type == "gauge"
    checkout_calls = {
        (s.labels[names.RESULT], s.labels[names.CALLER_FUNCTION], s.labels.get(names.ERROR)): s.value
        for s in families[names.CALLS_TOTAL.removesuffix("_total")].samples
        if s.labels[names.FUNCTION] == checkout.__qualname__
    }
    assert checkout_calls == {
        ("ok", "", None): 0,
        ("error", "", None): 0,
        ("ok", handler.__qualname__, None): 1,
        ("error", handler.__qualname__, "TimeoutError"): 1,
    }
    for family in families.values():
        for sample in family.samples:
            if sample.labels.get(names.FUNCTION) == checkout.__qualname__:
                assert sample.labels[names.SERVICE_NAME] == SERVICE
                assert sample.labels[names.MODULE] == __name__
    duration_labels = {
        name
        for s in families[names.CALLS_DURATION_SECONDS].samples
        if s.labels[names.FUNCTION] == checkout.__qualname__
        for name in s.labels
    }
    assert duration_labels == {*names.DURATION_LABELS, names.LE}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with the Debian prometheus package")
def test_promtool_finds_nothing_to_complain_about(metrics_server: MetricsServer) -> None:
    @autometrics(track_concurrency=True, record_error_type=True)
    def lint_me() -> None:
        raise ValueError

    with pytest.raises(ValueError):
        lint_me()

    text = fetch(f"http://127.0.0.1:{metrics_server.port}/metrics")
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_stopped_server_frees_its_port(registry: CollectorRegistry) -> None:
    server = start_http_server(port=0)
    url = f"http://127.0.0.1:{server.port}/metrics"
    assert names.BUILD_INFO in fetch(url)

    server.stop()

    with pytest.raises(OSError):
        fetch(url)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_wsgi_app_in_a_real_server_follows_a_later_init(registry: CollectorRegistry) -> None:
    app = make_wsgi_app()
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert f'service_name="{SERVICE}"' in fetch(url)

        init(registry=CollectorRegistry(), service_name="renamed")
        assert 'service_name="renamed"' in fetch(url)
        assert f'service_name="{SERVICE}"' not in fetch(url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_asgi_app_answers_an_http_request(registry: CollectorRegistry) -> None:
    @autometrics
    def served_over_asgi() -> None:
        pass

    served_over_asgi()
    app = make_asgi_app()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": []}
    asyncio.run(app(scope, receive, send))

    start, body = sent[0], b"".join(message.get("body", b"") for message in sent[1:])
    assert (start["type"], start["status"]) == ("http.response.start", 200)
    assert f'function="{served_over_asgi.__qualname__}"' in body.decode()
