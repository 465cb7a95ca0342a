"""Per-version rows end to end: the session's shop (version 1.0.0) and a second shop (version 1.1.0, at half the
traffic) scraped by one Prometheus; the hover lists both versions, newest first, each with its own figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autometrics_lsp.demo.shop import DEFAULT_VERSION, api, payments
from autometrics_lsp.demo.shop.plan import traffic_plan
from autometrics_lsp.demo.stack import RunningBackend, start_prometheus, start_service, wait_for_shop_traffic
from tests.support.hover_text import parse_duration, parse_percent, parse_rate
from tests.support.lsp import hover_text, position_of

NEW_VERSION = "1.1.0"
NEW_VERSION_RATE_SHARE = 0.5
SHOP = Path(api.__file__).parent
PAYMENTS = SHOP / "payments.py"
API = SHOP / "api.py"


@pytest.fixture(scope="module")
def two_versions(shop_service, metrics_window) -> Iterator[tuple[RunningBackend, float]]:
    """A Prometheus scraping both shops; yields it with the new version's entry-point rate."""
    new_rate = shop_service.service.rate * NEW_VERSION_RATE_SHARE
    with start_service(rate=new_rate, version=NEW_VERSION) as newer:
        with start_prometheus([shop_service.service.target, newer.target]) as backend:
            wait_for_shop_traffic(backend, metrics_window)
            yield backend, new_rate


def version_rows(markdown: str) -> list[list[str]]:
    lines = markdown.splitlines()
    start = lines.index("| version | calls | errors | p99 |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


async def test_each_version_gets_its_row_newest_first(lsp_session, two_versions, metrics_window, shop_service):
    backend, new_rate = two_versions
    settings = {"prometheusUrl": backend.url, "window": metrics_window, "timeout": 5.0}
    async with lsp_session(settings) as client:
        markdown = await hover_text(client, PAYMENTS, position_of(PAYMENTS, "def charge", offset=len("def ")))

    assert markdown is not None
    rows = version_rows(markdown)
    assert [row[0] for row in rows] == [f"`{NEW_VERSION}`", f"`{DEFAULT_VERSION}`"], markdown
    for (_name, calls, errors, p99), plan in zip(rows, (traffic_plan(new_rate), shop_service.plan)):
        traffic = plan.of(payments.charge)
        assert parse_rate(calls) == pytest.approx(traffic.calls_per_second, rel=0.25), markdown
        assert parse_percent(errors) == pytest.approx(traffic.error_ratio, abs=0.06), markdown
        fastest, slowest = traffic.latency_range_seconds
        assert 0.5 * fastest <= parse_duration(p99) <= 2.5 * slowest, markdown


async def test_a_single_version_shows_no_version_table(lsp_session, prometheus, metrics_window):
    settings = {"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0}
    async with lsp_session(settings) as client:
        markdown = await hover_text(client, API, position_of(API, "def checkout", offset=len("def ")))

    assert markdown is not None and "| calls |" in markdown
    assert "| version |" not in markdown
