"""Read the figures back out of a hover's markdown, so editor tests can compare them with the traffic plan."""

from __future__ import annotations

import re

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
