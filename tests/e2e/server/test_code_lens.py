"""Code lenses end to end: live titles from a real Prometheus, and a bounded number of requests per file."""

from __future__ import annotations

from pathlib import Path

import pytest

from autometrics_lsp import commands
from autometrics_lsp.demo.shop import api
from tests.support.counting_proxy import CountingProxy
from tests.support.hover_text import parse_percent, parse_rate
from tests.support.lsp import lenses, resolve_all

API = Path(api.__file__)
MANY_FUNCTIONS = 60


async def test_shop_lenses_show_the_traffic_plan(lsp_session, prometheus, metrics_window, shop_service):
    async with lsp_session({"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0}) as client:
        unresolved = await lenses(client, API)
        resolved = await resolve_all(client, unresolved)

    by_function = {lens.data["function"]: lens for lens in resolved}
    assert set(by_function) == {"checkout", "browse_catalog"}
    for function in (api.checkout, api.browse_catalog):
        lens = by_function[function.__qualname__]
        name_line = API.read_text().splitlines()[lens.range.start.line]
        assert name_line[lens.range.start.character : lens.range.end.character] == function.__name__
        rate_text, errors_text, p99_text = lens.command.title.split(" · ")
        traffic = shop_service.plan.of(function)
        assert parse_rate(rate_text) == pytest.approx(traffic.calls_per_second, rel=0.25), lens.command.title
        assert parse_percent(errors_text.removesuffix(" errors")) == pytest.approx(traffic.error_ratio, abs=0.06)
        assert p99_text.startswith("p99 ")
        assert lens.command.command == commands.OPEN_CHART
        assert list(lens.command.arguments) == [
            {"module": "autometrics_lsp.demo.shop.api", "function": function.__qualname__, "figure": "error_ratio"}
        ]


async def test_lenses_of_a_large_file_cost_at_most_four_requests(lsp_session, prometheus, tmp_path):
    source = tmp_path / "many.py"
    source.write_text(
        "from autometrics_lsp.runtime import autometrics\n"
        + "".join(f"\n\n@autometrics\ndef handler_{n}(request):\n    return {n}\n" for n in range(MANY_FUNCTIONS))
    )
    with CountingProxy(prometheus.url) as proxy:
        async with lsp_session({"prometheusUrl": proxy.url, "timeout": 5.0}, root=tmp_path) as client:
            unresolved = await lenses(client, source)
            assert proxy.count == 0, "listing lenses asks the backend nothing"
            resolved = await resolve_all(client, unresolved)

    assert len(resolved) == MANY_FUNCTIONS
    assert {lens.command.title for lens in resolved} == {"no calls yet"}
    assert 1 <= proxy.count <= 4, proxy.paths


async def test_lenses_can_be_switched_off(lsp_session, prometheus):
    async with lsp_session({"prometheusUrl": prometheus.url, "codeLens": False}) as client:
        assert not await lenses(client, API)


async def test_lens_titles_say_when_the_backend_is_down(lsp_session, unused_tcp_port):
    async with lsp_session({"prometheusUrl": f"http://127.0.0.1:{unused_tcp_port}", "timeout": 1.0}) as client:
        resolved = await resolve_all(client, await lenses(client, API))
    assert {lens.command.title for lens in resolved} == {"metrics unavailable"}
