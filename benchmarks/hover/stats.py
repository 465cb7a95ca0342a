"""Latency summaries and the fixed-width tables the benchmark prints. Pure."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p95: float
    p99: float
    mean: float


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default); NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = fraction * (len(ordered) - 1)
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (rank - below)


def summarize(samples: Sequence[float]) -> Summary:
    return Summary(
        count=len(samples),
        p50=percentile(samples, 0.50),
        p95=percentile(samples, 0.95),
        p99=percentile(samples, 0.99),
        mean=statistics.fmean(samples) if samples else math.nan,
    )


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 and math.isfinite(theirs) else math.nan


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others, widths fitted to the content."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        aligned = (cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True))
        return "  ".join([first.ljust(widths[0]), *aligned])

    return "\n".join([line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def milliseconds(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def times(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"
