"""Read the figures back out of a hover's markdown, so editor tests can compare them with the traffic plan."""

from __future__ import annotations

import re

import pytest

from autometrics_lsp.demo.shop.plan import FunctionTraffic

_RATE = re.compile(r"^([\d.,]+)\s*(k|M)?/(s|min|h)$")
_DURATION = re.compile(r"^([\d.,]+)\s*(µs|us|ms|s|min)$")
_PERCENT = re.compile(r"^([\d.,]+)\s*%$")
_PER_UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0}
_MULTIPLIER = {None: 1.0, "k": 1e3, "M": 1e6}
_SECONDS = {"µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}


def parse_rate(text: str) -> float:
    """'12.3/s', '48/min', '1.2k/s' -> calls per second."""
    match = _RATE.match(text.strip())
    if not match:
        raise ValueError(f"not a rate: {text!r}")
    number, multiplier, unit = match.groups()
    return float(number.replace(",", "")) * _MULTIPLIER[multiplier] / _PER_UNIT[unit]


def parse_percent(text: str) -> float:
    match = _PERCENT.match(text.strip().lstrip("<>").strip())
    if not match:
        raise ValueError(f"not a percentage: {text!r}")
    return float(match.group(1).replace(",", "")) / 100


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    number, unit = match.groups()
    return float(number.replace(",", "")) * _SECONDS[unit]


def first_table(markdown: str) -> dict[str, str]:
    """The first markdown table's header cells mapped to its first row's cells."""
    rows = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    if len(rows) < 3:
        raise ValueError(f"no table in hover:\n{markdown}")
    header, _separator, first = rows[:3]
    return dict(zip(_cells(header), _cells(first)))


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


# Rates over a short window jitter with scrape timing and the loop's pace: ±25% is far tighter than any
# mix-up of functions (the shop's rates differ by factors), and error shares are exact by construction.
RATE_TOLERANCE = 0.25
ERROR_RATIO_TOLERANCE = 0.06


def assert_figures_match(markdown: str, traffic: FunctionTraffic) -> None:
    figures = first_table(markdown)
    assert parse_rate(figures["calls"]) == pytest.approx(traffic.calls_per_second, rel=RATE_TOLERANCE), markdown
    assert parse_percent(figures["errors"]) == pytest.approx(traffic.error_ratio, abs=ERROR_RATIO_TOLERANCE), markdown
    if traffic.latency_range_seconds is not None:
        fastest, slowest = traffic.latency_range_seconds
        # histogram_quantile interpolates inside a bucket: allow the neighbouring default bucket edges.
        assert 0.5 * fastest <= parse_duration(figures["p99"]) <= 2.5 * slowest, markdown
