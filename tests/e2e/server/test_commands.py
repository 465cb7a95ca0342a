"""workspace/executeCommand end to end: charts through window/showDocument, PromQL, status, the function list."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lsprotocol import types

from autometrics_lsp import commands
from autometrics_lsp.demo.shop import api, inventory
from tests.support.lsp import open_document, position_of

API = Path(api.__file__)


async def execute(client, command: str, *arguments):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


async def test_open_chart_of_the_function_under_the_cursor(lsp_session, prometheus):
    async with lsp_session({"prometheusUrl": prometheus.url}) as client:
        uri = open_document(client, API)
        position = position_of(API, "charge_card(order_id", offset=2)
        answer = await execute(
            client,
            commands.OPEN_CHART,
            {"uri": uri, "position": {"line": position.line, "character": position.character}, "figure": "p99"},
        )

    assert [shown.uri for shown in client.shown_documents] == [answer["url"]]
    assert client.shown_documents[0].external is True
    link = urlsplit(answer["url"])
    assert f"{link.scheme}://{link.netloc}" == prometheus.url and link.path == "/graph"
    expr = parse_qs(link.query)["g0.expr"][0]
    assert expr.startswith("histogram_quantile(0.99") and 'function="charge"' in expr


async def test_copy_query_gives_the_promql_of_a_figure(lsp_session, prometheus):
    async with lsp_session({"prometheusUrl": prometheus.url, "window": "2m"}) as client:
        answer = await execute(
            client, commands.COPY_QUERY, {"module": "autometrics_lsp.demo.shop.payments", "function": "charge", "figure": "callers"}
        )
    assert "by (caller_function, caller_module" in answer["query"] and "[2m]" in answer["query"]


async def test_bad_arguments_are_a_clear_error(lsp_session, prometheus):
    async with lsp_session({"prometheusUrl": prometheus.url}) as client:
        with pytest.raises(Exception, match="figure must be one of"):
            await execute(client, commands.OPEN_CHART, {"module": "m", "function": "f", "figure": "colour"})
        with pytest.raises(Exception, match="instrumented function"):
            await execute(client, commands.OPEN_CHART, {"uri": API.as_uri(), "position": {"line": 0, "character": 0}})


async def test_status_says_whether_the_backend_answers(lsp_session, prometheus, unused_tcp_port):
    async with lsp_session({"prometheusUrl": prometheus.url}) as client:
        assert await execute(client, commands.STATUS) == {
            "prometheusUrl": prometheus.url, "reachable": True, "problem": None
        }
    down = f"http://127.0.0.1:{unused_tcp_port}"
    async with lsp_session({"prometheusUrl": down, "timeout": 1.0}) as client:
        status = await execute(client, commands.STATUS)
    assert status["reachable"] is False and down in status["problem"]


async def test_list_functions_sorted_by_rate(lsp_session, prometheus, metrics_window, shop_service, workspace_root):
    async with lsp_session({"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0}) as client:
        rows = await execute(client, commands.LIST_FUNCTIONS, {"sort": "rate"})

    shop_rows = [row for row in rows if row["module"].startswith("autometrics_lsp.demo.shop.")]
    assert {(row["module"], row["function"]) for row in shop_rows} == {
        (traffic.identity.module, traffic.identity.function) for traffic in shop_service.plan.functions
    }
    busiest = shop_service.plan.of(inventory.stock_level)
    assert (shop_rows[0]["module"], shop_rows[0]["function"]) == (busiest.identity.module, busiest.identity.function)
    assert shop_rows[0]["rate"] == pytest.approx(busiest.calls_per_second, rel=0.25)
    rates = [row["rate"] for row in shop_rows if row["rate"] is not None]
    assert rates == sorted(rates, reverse=True)
    assert all(row["uri"].startswith(workspace_root.as_uri()) for row in rows)
