"""Hover end to end: the real server over stdio, a real Prometheus scraping the shop under known traffic."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from autometrics_lsp.demo.shop import api, orders, payments
from tests.support.hover_text import assert_figures_match
from tests.support.lsp import hover_text, position_of

SHOP = Path(api.__file__).parent
API = SHOP / "api.py"
ORDERS = SHOP / "orders.py"

@pytest.fixture
def shop_settings(prometheus, metrics_window) -> dict:
    return {"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0}


async def test_call_site_through_an_import_alias_shows_live_figures(lsp_session, shop_settings, shop_service):
    """`charge_card(...)` in api.py is `payments.charge` imported under another name."""
    async with lsp_session(shop_settings) as client:
        markdown = await hover_text(client, API, position_of(API, "charge_card(order_id", offset=3))

    assert markdown is not None
    assert "**`charge`**" in markdown and "`autometrics_lsp.demo.shop.payments`" in markdown
    traffic = shop_service.plan.of(payments.charge)
    assert_figures_match(markdown, traffic)
    assert f"`{traffic.error_type}`" in markdown  # errors by exception type
    assert "autometrics\\_lsp.demo.shop.api.checkout" in markdown or "autometrics_lsp.demo.shop.api.checkout" in markdown
    assert "Charts: [calls](" + shop_settings["prometheusUrl"] + "/graph?g0.expr=" in markdown


async def test_definition_of_a_method_shows_its_qualname_and_callees(lsp_session, shop_settings, shop_service):
    async with lsp_session(shop_settings) as client:
        markdown = await hover_text(client, ORDERS, position_of(ORDERS, "def record", offset=len("def r")))

    assert markdown is not None
    assert "**`Ledger.record`**" in markdown
    assert_figures_match(markdown, shop_service.plan.of(orders.Ledger.record))
    assert "| callee |" in markdown and "inventory.commit" in markdown


async def test_method_called_on_an_instance(lsp_session, shop_settings, shop_service):
    async with lsp_session(shop_settings) as client:
        markdown = await hover_text(client, API, position_of(API, "ledger.record(", offset=len("ledger.r")))

    assert markdown is not None and "**`Ledger.record`**" in markdown
    assert_figures_match(markdown, shop_service.plan.of(orders.Ledger.record))


async def test_every_entry_point_definition_matches_the_traffic_plan(lsp_session, shop_settings, shop_service):
    async with lsp_session(shop_settings) as client:
        for entry_point in (api.checkout, api.browse_catalog):
            position = position_of(API, f"def {entry_point.__name__}(", offset=len("def "))
            markdown = await hover_text(client, API, position)
            assert markdown is not None and f"**`{entry_point.__qualname__}`**" in markdown
            assert_figures_match(markdown, shop_service.plan.of(entry_point))


async def test_plain_function_gets_a_hint_and_no_metrics(lsp_session, shop_settings, tmp_path):
    source = tmp_path / "plain.py"
    source.write_text("def plain(x):\n    return x\n\nplain(1)\n")
    async with lsp_session(shop_settings, root=tmp_path) as client:
        markdown = await hover_text(client, source, position_of(source, "plain(1)"))

    assert markdown is not None
    assert "has no autometrics yet" in markdown and "@autometrics" in markdown
    assert "| calls |" not in markdown


async def test_no_hover_away_from_functions(lsp_session, shop_settings):
    async with lsp_session(shop_settings) as client:
        assert await hover_text(client, API, position_of(API, "CATALOG_PAGE_SIZE = 3", offset=len("CATALOG_PAGE_SIZE = "))) is None


async def test_instrumented_function_without_calls_says_so_and_keeps_links(lsp_session, shop_settings, tmp_path):
    source = tmp_path / "quiet.py"
    source.write_text(
        "from autometrics_lsp.runtime import autometrics\n\n\n@autometrics\ndef never_called():\n    return 1\n"
    )
    async with lsp_session(shop_settings, root=tmp_path) as client:
        markdown = await hover_text(client, source, position_of(source, "never_called"))

    assert markdown is not None
    assert "**`never_called`**" in markdown and "`quiet`" in markdown
    assert f"No calls recorded in the last {shop_settings['window']}" in markdown
    assert "Charts: [calls](" in markdown


async def test_unreachable_prometheus_is_one_clear_line_and_fast(lsp_session, unused_tcp_port):
    url = f"http://127.0.0.1:{unused_tcp_port}"
    async with lsp_session({"prometheusUrl": url, "timeout": 1.0}) as client:
        started = time.monotonic()
        markdown = await hover_text(client, API, position_of(API, "def checkout", offset=len("def ")))
        elapsed = time.monotonic() - started

    assert markdown is not None
    problem_lines = [line for line in markdown.splitlines() if line.startswith("⚠")]
    assert len(problem_lines) == 1 and url in problem_lines[0], markdown
    assert "Traceback" not in markdown
    assert f"Charts: [calls]({url}/graph?g0.expr=" in markdown
    assert elapsed < 10  # the budget is 1 s; this only guards against a hang
    assert any(url in message.message for message in client.messages), "one showMessage names the backend"
