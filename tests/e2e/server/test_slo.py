"""Objectives end to end: hover sections and Warning diagnostics from the real server against a real Prometheus
scraping the shop, whose `payments` objective is violated on purpose (75% success against 95%) and whose
`checkout` objective is met."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from autometrics_lsp.demo.shop import api, payments
from autometrics_lsp.features.diagnostics import DIAGNOSTIC_SOURCE
from tests.support.hover_text import parse_percent
from tests.support.lsp import hover_text, open_document, position_of

SHOP = Path(api.__file__).parent
API = SHOP / "api.py"
PAYMENTS = SHOP / "payments.py"
DIAGNOSTICS_WAIT_SECONDS = 15.0


@pytest.fixture
def shop_settings(prometheus, metrics_window) -> dict:
    return {"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0}


def slo_rows(markdown: str) -> dict[str, list[str]]:
    """The objective table's rows by their first cell: target, now, burn rate."""
    lines = markdown.splitlines()
    start = lines.index("| objective | target | now | burn rate |")
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


async def diagnostics_of(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    async def published() -> list[types.Diagnostic]:
        while uri not in client.diagnostics:
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return list(client.diagnostics[uri])

    return await asyncio.wait_for(published(), DIAGNOSTICS_WAIT_SECONDS)


def at_line(diagnostics: list[types.Diagnostic], path: Path, needle: str) -> list[types.Diagnostic]:
    line = position_of(path, needle).line
    return [diagnostic for diagnostic in diagnostics if diagnostic.range.start.line == line]


async def test_violated_objective_shows_target_current_rate_and_burn_rate(lsp_session, shop_settings, shop_service):
    async with lsp_session(shop_settings) as client:
        markdown = await hover_text(client, PAYMENTS, position_of(PAYMENTS, "def charge", offset=len("def ")))

    assert markdown is not None
    assert "Objective `payments`: **violated**" in markdown, markdown
    target, now, burn = slo_rows(markdown)["success rate"]
    assert target == "95%"
    expected_success = 1 - shop_service.plan.of(payments.charge).error_ratio
    assert parse_percent(now) == pytest.approx(expected_success, abs=0.06), markdown
    burn_rate = float(burn.rstrip("×"))
    assert burn_rate == pytest.approx((1 - expected_success) / 0.05, rel=0.3), markdown
    # the objective comes after the main figures, which stay the first table
    assert markdown.index("| calls |") < markdown.index("| objective |")


async def test_met_objective_with_latency_target(lsp_session, shop_settings):
    async with lsp_session(shop_settings) as client:
        markdown = await hover_text(client, API, position_of(API, "def checkout", offset=len("def ")))

    assert markdown is not None
    assert "Objective `checkout`: met" in markdown, markdown
    rows = slo_rows(markdown)
    assert rows["success rate"][0] == "99%" and parse_percent(rows["success rate"][1]) >= 0.99
    target, within, _burn = rows["within 250 ms"]
    assert target == "99%" and parse_percent(within) >= 0.99, markdown


async def test_function_without_objective_has_no_objective_section(lsp_session, shop_settings):
    async with lsp_session(shop_settings) as client:
        markdown = await hover_text(client, API, position_of(API, "def browse_catalog", offset=len("def ")))

    assert markdown is not None and "| calls |" in markdown
    assert "Objective" not in markdown


async def test_violated_objective_is_a_warning_on_its_definition(lsp_session, shop_settings):
    async with lsp_session(shop_settings) as client:
        payments_uri = open_document(client, PAYMENTS)
        api_uri = open_document(client, API)
        payments_diagnostics = await diagnostics_of(client, payments_uri)
        api_diagnostics = await diagnostics_of(client, api_uri)

    [violation] = at_line(payments_diagnostics, PAYMENTS, "async def charge")
    assert violation.severity == types.DiagnosticSeverity.Warning and violation.source == DIAGNOSTIC_SOURCE
    assert re.search(r"objective 'payments' is violated .*success rate 7\d(\.\d)?% is below 95%", violation.message)
    assert at_line(api_diagnostics, API, "async def checkout") == []


async def test_misconfigured_objectives_are_warnings_without_a_backend(lsp_session, tmp_path, unused_tcp_port):
    source = tmp_path / "service.py"
    source.write_text(
        "from autometrics_lsp.runtime import Objective, ObjectivePercentile, autometrics\n"
        "\n"
        'SLOW = Objective("checkout", latency=(0.3, ObjectivePercentile.P99))\n'
        'ODD = Objective("Checkout API", success_rate=ObjectivePercentile.P99)\n'
        'RARE = Objective("rare", success_rate="97")\n'
        "\n\n"
        "@autometrics(objective=SLOW)\n"
        "def slow():\n    pass\n\n\n"
        "@autometrics(objective=ODD)\n"
        "def odd():\n    pass\n\n\n"
        "@autometrics(objective=RARE)\n"
        "def rare():\n    pass\n"
    )
    settings = {"prometheusUrl": f"http://127.0.0.1:{unused_tcp_port}", "timeout": 0.5}
    async with lsp_session(settings, root=tmp_path) as client:
        diagnostics = await diagnostics_of(client, open_document(client, source))

    def messages(needle: str) -> list[str]:
        return [diagnostic.message for diagnostic in at_line(diagnostics, source, needle)]

    assert any("not a histogram bucket boundary" in message for message in messages("def slow")), diagnostics
    assert any("discouraged" in message for message in messages("def odd")), diagnostics
    assert any("not one of the objective percentiles" in message for message in messages("def rare")), diagnostics
    assert all(diagnostic.severity == types.DiagnosticSeverity.Warning for diagnostic in diagnostics)
