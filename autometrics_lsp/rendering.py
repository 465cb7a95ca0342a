"""Figures -> markdown for hovers, and the short texts of code lenses. Pure: no I/O, no clock.

Anything that came from outside (label values from the backend, names from the user's code, error
messages) is escaped before it reaches markdown, so it can never become a link, HTML or formatting.
Names go in code spans, which read well in VS Code and in Neovim alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit

from autometrics_lsp.figures import Edge, FunctionFigures
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import Figure
from autometrics_lsp.slo import SloStatus
from autometrics_lsp.versions import VersionFigures

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
MISSING = "–"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# The ASCII punctuation that can start or end markdown (or HTML) constructs in inline text.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>&|~!#])")
# What may stay unescaped in a link destination: enough for URLs, nothing that ends a markdown link.
_URL_SAFE = "/:?&=%#@!$'*+,;~-._"

_LINKED_FIGURES = (
    (Figure.RATE, "calls"),
    (Figure.ERROR_RATIO, "errors"),
    (Figure.P95, "p95"),
    (Figure.P99, "p99"),
    (Figure.CONCURRENCY, "in flight"),
    (Figure.ERRORS_BY_TYPE, "error types"),
    (Figure.CALLERS, "callers"),
    (Figure.CALLEES, "callees"),
)


# --- numbers ------------------------------------------------------------------------------------


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _three_digits(value: float) -> str:
    """About three significant digits, never in exponent notation: 0.0123, 1.23, 12.3, 123."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return _trim(f"{value:.1f}")
    if value >= 1:
        return _trim(f"{value:.2f}")
    return _trim(f"{value:.3f}") if value >= 0.01 else _trim(f"{value:.4f}")


def _with_suffix(value: float) -> str:
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        # 999.6 rounds to "1000": promote it to the next unit instead.
        if value >= scale * 0.9995:
            return f"{_three_digits(value / scale)}{suffix}"
    return _three_digits(value)


def format_rate(per_second: float | None) -> str:
    """Calls per second in the unit that keeps the number readable: 12.3/s, 4.5/min, 0.6/h."""
    if per_second is None or not math.isfinite(per_second):
        return MISSING
    if per_second <= 0:
        return "0/s"
    if per_second >= 0.9995:
        return f"{_with_suffix(per_second)}/s"
    if per_second * 60 >= 0.9995:
        return f"{_three_digits(per_second * 60)}/min"
    per_hour = per_second * 3600
    return f"{_three_digits(per_hour)}/h" if per_hour >= 0.01 else "<0.01/h"


def format_ratio(ratio: float | None) -> str:
    """A ratio as a percentage that never rounds a few errors to 0% or almost all to 100%."""
    if ratio is None or not math.isfinite(ratio):
        return MISSING
    percent = ratio * 100
    if percent <= 0:
        return "0%"
    if percent < 0.01:
        return "<0.01%"
    if 99.9 < percent < 100:
        return ">99.9%"
    if percent < 1:
        return f"{_trim(f'{percent:.2f}')}%"
    return f"{_trim(f'{percent:.1f}')}%"


def format_duration(seconds: float | None) -> str:
    """A latency with its unit: 850 µs, 12.5 ms, 1.2 s."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds <= 0:
        return "0 ms"
    if seconds < 0.0009995:
        return f"{_three_digits(seconds * 1e6)} µs"
    if seconds < 0.9995:
        return f"{_three_digits(seconds * 1e3)} ms"
    if seconds < 59.95:
        return f"{_three_digits(seconds)} s"
    if seconds < 3597:
        return f"{_three_digits(seconds / 60)} min"
    return f"{_with_suffix(seconds / 3600)} h"


def format_count(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.0f}" if value == round(value) else _three_digits(value)


# --- markdown safety ----------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text)


def escape_markdown(text: str) -> str:
    """Plain text that renders as itself: on one line, no emphasis, links, HTML, entities or table cells."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", _one_line(text))


def code(text: str, in_table: bool = False) -> str:
    """`text` as an inline code span, whatever backticks it holds.

    In a table cell a `|` ends the cell even inside a code span, and the `\\|` escape is undone by a
    backslash before it, so there `|` becomes `¦`: a visible stand-in that no renderer splits on.
    """
    text = _one_line(text)
    if in_table:
        text = text.replace("|", "¦")
    longest_run = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest_run + 1)
    # Code spans strip one space from each end when both are present: the padding is what gets stripped.
    needs_padding = text.strip() and (text.startswith(("`", " ")) or text.endswith("`"))
    padded = f" {text} " if needs_padding else text
    return f"{fence}{padded or ' '}{fence}"


def markdown_link(label: str, url: str) -> str:
    """A markdown link, or just the label when `url` is not http(s) (a link must never run code)."""
    if urlsplit(url).scheme not in ("http", "https"):
        return label
    return f"[{label}]({quote(url, safe=_URL_SAFE)})"


# --- pieces -------------------------------------------------------------------------------------


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value, scaled from zero to the peak; a gap (space) where a value is missing.

    Zero is the lowest block; any positive value is at least the second, so "a few calls" never looks like
    "no calls".
    """
    present = [value for value in values if value is not None and math.isfinite(value)]
    peak = max(present, default=0.0)
    blocks = []
    for value in values:
        if value is None or not math.isfinite(value):
            blocks.append(" ")
        elif value <= 0 or peak <= 0:
            blocks.append(SPARK_LEVELS[0])
        else:
            level = 1 + int(value / peak * (len(SPARK_LEVELS) - 2) + 0.5)
            blocks.append(SPARK_LEVELS[level])
    return "".join(blocks)


def _header(identity: FunctionIdentity, window: str) -> str:
    return f"**{code(identity.function)}** in {code(identity.module)} · last {escape_markdown(window)}"


def _figures_table(figures: FunctionFigures) -> str:
    columns = [
        ("calls", format_rate(figures.rate)),
        ("errors", format_ratio(figures.error_ratio)),
        ("p95", format_duration(figures.p95)),
        ("p99", format_duration(figures.p99)),
    ]
    if figures.concurrency is not None:
        columns.append(("in flight", format_count(figures.concurrency)))
    return "\n".join(
        (
            "| " + " | ".join(title for title, _ in columns) + " |",
            "|" + "---:|" * len(columns),
            "| " + " | ".join(value for _, value in columns) + " |",
        )
    )


def _history_line(figures: FunctionFigures) -> str | None:
    present = [value for value in figures.rate_history if value is not None]
    if not present or max(present) <= 0:
        return None
    return f"Last hour: {code(sparkline(figures.rate_history))} peak {format_rate(max(present))}"


def _errors_by_type_line(figures: FunctionFigures) -> str | None:
    if not figures.errors_by_type:
        return None
    kinds = " · ".join(f"{code(name)} {format_rate(rate)}" for name, rate in figures.errors_by_type)
    return f"Errors by type: {kinds}"


def _edges_table(title: str, edges: Sequence[Edge]) -> str | None:
    if not edges:
        return None
    rows = [f"| {title} | calls | errors |", "|---|---:|---:|"]
    rows += [
        f"| {code(edge.display_name, in_table=True)} | {format_rate(edge.rate)} | {format_ratio(edge.error_ratio)} |"
        for edge in edges
    ]
    return "\n".join(rows)


def _links_line(figures: FunctionFigures, chart: Callable[[str], str]) -> str | None:
    shown = {
        Figure.CONCURRENCY: figures.concurrency is not None,
        Figure.ERRORS_BY_TYPE: bool(figures.errors_by_type),
    }
    links = [
        markdown_link(label, chart(figures.queries[figure]))
        for figure, label in _LINKED_FIGURES
        if figure in figures.queries and shown.get(figure, True)
    ]
    return "Charts: " + " · ".join(links) if links else None


def _problem_line(figures: FunctionFigures, partial: bool) -> str | None:
    if figures.problem is None:
        return None
    lead = "Some live figures are missing" if partial else "Live metrics unavailable"
    return f"⚠ {lead}: {escape_markdown(figures.problem.message())}"


def _no_calls_line(figures: FunctionFigures) -> str | None:
    if figures.has_data or (figures.rate is None and figures.problem is not None):
        return None
    return f"No calls recorded in the last {escape_markdown(figures.window)}."


def _shows_table(figures: FunctionFigures) -> bool:
    """With calls in the window; or when the rate query failed but other figures came back."""
    if figures.has_data:
        return True
    others = (figures.error_ratio, figures.p95, figures.p99, figures.concurrency)
    return figures.rate is None and figures.problem is not None and any(v is not None for v in others)


def format_burn_rate(rate: float | None) -> str:
    """`5×`: how many times faster than sustainable the error budget is spent."""
    if rate is None or not math.isfinite(rate):
        return MISSING
    return f"{_three_digits(max(rate, 0.0))}×"


def _slo_verdict(slo: SloStatus) -> str:
    if slo.problem is not None and not slo.measured:
        return "unknown"
    if not slo.measured:
        return f"no calls in the last {escape_markdown(slo.window)}"
    return "**violated**" if slo.violated else "met"


def _slo_section(slo: SloStatus | None) -> str | None:
    """The objective, the current success rate / share within the latency threshold, and their burn rates."""
    if slo is None:
        return None
    origin = "" if slo.live else " (from the source)"
    lines = [f"Objective {code(slo.objective.name)}{origin}: {_slo_verdict(slo)}"]
    rows = []
    if slo.objective.success_rate is not None:
        rows.append(
            f"| success rate | {format_ratio(slo.objective.success_rate.ratio)} | {format_ratio(slo.success_rate)}"
            f" | {format_burn_rate(slo.success_burn_rate)} |"
        )
    if slo.objective.latency is not None:
        threshold, percentile = slo.objective.latency
        rows.append(
            f"| within {format_duration(threshold.seconds)} | {format_ratio(percentile.ratio)}"
            f" | {format_ratio(slo.within_latency)} | {format_burn_rate(slo.latency_burn_rate)} |"
        )
    lines.append("\n".join(["| objective | target | now | burn rate |", "|---|---:|---:|---:|", *rows]))
    return "\n\n".join(lines)


def _versions_table(versions: Sequence[VersionFigures]) -> str | None:
    if not versions:
        return None
    rows = ["| version | calls | errors | p99 |", "|---|---:|---:|---:|"]
    rows += [
        f"| {code(row.display_name, in_table=True)} | {format_rate(row.rate)} | {format_ratio(row.error_ratio)}"
        f" | {format_duration(row.p99)} |"
        for row in versions
    ]
    return "\n".join(rows)


def render_hover(
    identity: FunctionIdentity,
    figures: FunctionFigures,
    link: Callable[[str], str],
    *,
    slo: SloStatus | None = None,
    versions: Sequence[VersionFigures] = (),
) -> str:
    """The hover of an instrumented function: figures over the window, last hour, its objective, per-version
    figures (newest first), errors, callers, callees, and a chart link per figure. `link` maps a PromQL
    expression to the URL of its chart.
    """
    body = [
        _figures_table(figures) if _shows_table(figures) else None,
        _history_line(figures),
        _slo_section(slo),
        _versions_table(versions),
        _errors_by_type_line(figures),
        _edges_table("caller", figures.callers),
        _edges_table("callee", figures.callees),
    ]
    sections = [
        _header(identity, figures.window),
        _problem_line(figures, partial=any(body)),
        _no_calls_line(figures),
        *body,
        _links_line(figures, link),
    ]
    return "\n\n".join(section for section in sections if section)


def render_not_instrumented(name: str) -> str:
    return "\n\n".join(
        (
            f"{code(name)} has no autometrics yet. Decorate it to see its live calls, errors and latency here:",
            "```python\nfrom autometrics_lsp.runtime import autometrics\n\n@autometrics\ndef ...\n```",
        )
    )


def lens_title(figures: FunctionFigures) -> str:
    """`12.3/s · 0.4% errors · p99 210 ms`, or why there is nothing to show. Plain text (lenses are not markdown)."""
    if not figures.has_data:
        if figures.rate is None and figures.problem is not None:
            return "metrics unavailable"
        return "no calls yet" if figures.rate is None else f"no calls in {_one_line(figures.window)}"
    parts = [format_rate(figures.rate)]
    if figures.error_ratio is not None:
        parts.append(f"{format_ratio(figures.error_ratio)} errors")
    if figures.p99 is not None:
        parts.append(f"p99 {format_duration(figures.p99)}")
    return " · ".join(parts)
