"""Neovim (Debian's 0.7) as a real LSP client: hover a call site of an instrumented function, see live figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from autometrics_lsp.demo.shop import api, payments
from tests.e2e.editors.neovim.client import neovim_hover
from tests.support.hover_text import first_table, parse_percent, parse_rate
from tests.support.lsp import position_of

API = Path(api.__file__)


def test_hover_at_a_call_site_shows_live_figures(prometheus, metrics_window, shop_service, workspace_root):
    position = position_of(API, "charge_card(order_id", offset=3)
    answer = neovim_hover(
        API,
        position.line,
        position.character,
        root=workspace_root,
        settings={"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0},
    )

    assert answer.get("error") in (None, {}), answer
    markdown = answer["result"]["contents"]["value"]
    assert "**`charge`**" in markdown and "`autometrics_lsp.demo.shop.payments`" in markdown
    figures = first_table(markdown)
    traffic = shop_service.plan.of(payments.charge)
    assert parse_rate(figures["calls"]) == pytest.approx(traffic.calls_per_second, rel=0.25), markdown
    assert parse_percent(figures["errors"]) == pytest.approx(traffic.error_ratio, abs=0.06), markdown


def test_a_wrong_prometheus_url_is_one_clear_line(unused_tcp_port, workspace_root):
    url = f"http://127.0.0.1:{unused_tcp_port}"
    position = position_of(API, "def checkout", offset=len("def "))
    answer = neovim_hover(
        API, position.line, position.character, root=workspace_root, settings={"prometheusUrl": url, "timeout": 1.0}
    )

    markdown = answer["result"]["contents"]["value"]
    problems = [line for line in markdown.splitlines() if line.startswith("⚠")]
    assert len(problems) == 1 and url in problems[0], markdown
