"""Pure: the table of instrumented functions with their live figures, sorted the way the user asks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from autometrics_lsp.figures import FunctionFigures
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.rendering import format_duration, format_rate, format_ratio


class SortKey(str, Enum):
    RATE = "rate"
    ERRORS = "errors"
    LATENCY = "latency"
    NAME = "name"


@dataclass(frozen=True)
class FunctionRow:
    identity: FunctionIdentity
    path: Path
    line: int  # 0-based, of the function's name
    figures: FunctionFigures


def sort_rows(rows: Sequence[FunctionRow], key: SortKey) -> list[FunctionRow]:
    """Busiest / most failing / slowest first; functions without that figure last, then by name."""
    if key is SortKey.NAME:
        return sorted(rows, key=lambda row: (row.identity.module, row.identity.function))
    figure = {
        SortKey.RATE: lambda f: f.rate,
        SortKey.ERRORS: lambda f: f.error_ratio,
        SortKey.LATENCY: lambda f: f.p99,
    }[key]

    def order(row: FunctionRow) -> tuple[bool, float, str, str]:
        value = figure(row.figures)
        missing = value is None or not math.isfinite(value)
        return (missing, 0.0 if missing else -value, row.identity.module, row.identity.function)

    return sorted(rows, key=order)


def row_cells(row: FunctionRow, relative_to: Path | None = None) -> dict[str, str]:
    location = row.path
    if relative_to is not None and row.path.is_relative_to(relative_to):
        location = row.path.relative_to(relative_to)
    return {
        "function": row.identity.function,
        "module": row.identity.module,
        "calls": format_rate(row.figures.rate),
        "errors": format_ratio(row.figures.error_ratio),
        "p99": format_duration(row.figures.p99),
        "location": f"{location}:{row.line + 1}",
    }


def render_text_table(rows: Sequence[FunctionRow], relative_to: Path | None = None) -> str:
    """A plain-text table for a terminal: aligned columns, numbers right-aligned."""
    header = {"function": "FUNCTION", "module": "MODULE", "calls": "CALLS", "errors": "ERRORS", "p99": "P99",
              "location": "LOCATION"}
    lines = [header, *(row_cells(row, relative_to) for row in rows)]
    widths = {column: max(len(line[column]) for line in lines) for column in header}
    right_aligned = {"calls", "errors", "p99"}
    return "\n".join(
        "  ".join(
            line[column].rjust(widths[column]) if column in right_aligned else line[column].ljust(widths[column])
            for column in header
        ).rstrip()
        for line in lines
    )
