"""Hover markdown, lens titles, sparklines and number formats; markdown safety checked with a real parser."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from autometrics_lsp.backend import BackendError, BackendErrorKind
from autometrics_lsp.figures import Edge, FunctionFigures
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import Figure, hover_queries
from autometrics_lsp.rendering import (
    code,
    escape_markdown,
    format_count,
    format_duration,
    format_rate,
    format_ratio,
    lens_title,
    markdown_link,
    render_hover,
    render_not_instrumented,
    sparkline,
)

IDENTITY = FunctionIdentity("shop.ledger", "Ledger.record")
QUERIES = {figure: query.expr for figure, query in hover_queries(IDENTITY, "5m").items()}
TIMEOUT = BackendError(BackendErrorKind.TIMEOUT, "http://127.0.0.1:9090", "did not answer within 1.0 s")
BUSY = FunctionFigures(
    rate=1.3,
    error_ratio=0.1923,
    p95=0.235,
    p99=0.247,
    rate_history=(0.0, 0.5, 1.0, None, 2.0),
    errors_by_type=(("ValueError", 0.2),),
    callers=(Edge("handle", "shop.api", 1.0, 0.25),),
    callees=(Edge("Ledger.save", "shop.db", 0.6, 0.1),),
    queries=QUERIES,
)
# Everything that could open a link, an image, HTML, an entity, emphasis, a code span, a table cell or a block.
EVIL = "x](javascript:alert(1)) <img src=x onerror=alert(1)> *b* _i_ ~~s~~ `t` ``u`` | \\ &amp; [r]\n# h\n---"

PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


class Charts:
    """A `link` callable that hands out distinct URLs and remembers which expression each one charts."""

    def __init__(self) -> None:
        self.exprs: dict[str, str] = {}

    def __call__(self, expr: str) -> str:
        url = f"https://charts.example/{len(self.exprs)}"
        self.exprs[url] = expr
        return url


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from walk(token.children or [])


def parsed(markdown: str) -> list[Token]:
    return list(walk(PARSER.parse(markdown)))


def kinds(tokens: list[Token]) -> set[str]:
    return {token.type for token in tokens}


def code_spans(tokens: list[Token]) -> list[str]:
    return [token.content for token in tokens if token.type == "code_inline"]


def text_of(tokens: list[Token]) -> str:
    return "".join(token.content for token in tokens if token.type in ("text", "code_inline"))


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_second", "shown"),
    [
        (None, "–"),
        (math.nan, "–"),
        (0.0, "0/s"),
        (12.34, "12.3/s"),
        (1.0, "1/s"),
        (999.96, "1k/s"),
        (1234.0, "1.23k/s"),
        (2.5e6, "2.5M/s"),
        (3e15, "3000T/s"),
        (0.5, "30/min"),
        (0.02, "1.2/min"),
        (0.01, "36/h"),
        (1e-5, "0.036/h"),
        (1e-9, "<0.01/h"),
    ],
)
def test_format_rate(per_second: float | None, shown: str) -> None:
    assert format_rate(per_second) == shown


@pytest.mark.parametrize(
    ("ratio", "shown"),
    [
        (None, "–"),
        (math.inf, "–"),
        (0.0, "0%"),
        (1e-7, "<0.01%"),
        (0.004, "0.4%"),
        (0.0123, "1.2%"),
        (0.1923, "19.2%"),
        (0.25, "25%"),
        (0.9999, ">99.9%"),
        (1.0, "100%"),
    ],
)
def test_format_ratio(ratio: float | None, shown: str) -> None:
    assert format_ratio(ratio) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "–"),
        (math.nan, "–"),
        (0.0, "0 ms"),
        (0.0000042, "4.2 µs"),
        (0.0005, "500 µs"),
        (0.0125, "12.5 ms"),
        (0.21, "210 ms"),
        (0.9999, "1 s"),
        (1.234, "1.23 s"),
        (90.0, "1.5 min"),
        (7200.0, "2 h"),
    ],
)
def test_format_duration(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(("value", "shown"), [(None, "–"), (0.0, "0"), (3.0, "3"), (2.5, "2.5")])
def test_format_count(value: float | None, shown: str) -> None:
    assert format_count(value) == shown


# --- sparkline ----------------------------------------------------------------------------------


def test_sparkline_scales_from_zero_to_the_peak() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6]) == "▁▃▄▅▆▇█"
    assert sparkline([4, 4]) == "██"


def test_sparkline_tells_a_few_calls_from_none_and_shows_gaps() -> None:
    assert sparkline([0.0, 0.001, None, 100.0, math.nan]) == "▁▂ █ "


def test_sparkline_of_nothing() -> None:
    assert sparkline([]) == ""
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([None, None]) == "  "


# --- the hover ----------------------------------------------------------------------------------


def test_busy_hover_shows_every_figure_and_a_chart_per_figure() -> None:
    charts = Charts()

    markdown = render_hover(IDENTITY, BUSY, charts)

    tokens = parsed(markdown)
    text = text_of(tokens)
    for shown in ("1.3/s", "19.2%", "235 ms", "247 ms", "ValueError", "12/min", "shop.api.handle", "25%",
                  "shop.db.Ledger.save", "36/min", "▁▄▅ █", "peak 2/s", "Ledger.record", "shop.ledger"):
        assert shown in text
    assert "No calls" not in text
    links = {str(token.attrs["href"]): token for token in tokens if token.type == "link_open"}
    charted = {charts.exprs[url] for url in links}
    assert charted == {QUERIES[figure] for figure in (
        Figure.RATE, Figure.ERROR_RATIO, Figure.P95, Figure.P99, Figure.ERRORS_BY_TYPE, Figure.CALLERS,
        Figure.CALLEES,
    )}
    assert "in flight" not in text


def test_concurrency_is_shown_with_its_chart_when_tracked() -> None:
    figures = FunctionFigures(rate=1.0, concurrency=4.0, queries=QUERIES)
    charts = Charts()

    text = text_of(parsed(render_hover(IDENTITY, figures, charts)))

    assert "in flight" in text and "4" in text
    assert QUERIES[Figure.CONCURRENCY] in charts.exprs.values()


def test_no_data_says_so_and_keeps_the_links() -> None:
    charts = Charts()

    tokens = parsed(render_hover(IDENTITY, FunctionFigures(queries=QUERIES), charts))

    assert "No calls recorded in the last 5m." in text_of(tokens)
    assert "table_open" not in kinds(tokens)
    assert len([token for token in tokens if token.type == "link_open"]) == 6


def test_calls_earlier_in_the_hour_still_show_the_sparkline() -> None:
    figures = FunctionFigures(rate=0.0, rate_history=(0.0, 3.0, 0.0), queries=QUERIES, window="1m")

    text = text_of(parsed(render_hover(IDENTITY, figures, Charts())))

    assert "No calls recorded in the last 1m." in text
    assert "▁█▁" in text


def test_backend_problem_is_one_line_naming_the_url_and_cause_with_links_kept() -> None:
    markdown = render_hover(IDENTITY, FunctionFigures(queries=QUERIES, problem=TIMEOUT), Charts())

    problem_lines = [line for line in markdown.splitlines() if "127.0.0.1:9090" in line]
    assert len(problem_lines) == 1
    assert "Live metrics unavailable" in problem_lines[0] and "did not answer within 1.0 s" in problem_lines[0]
    assert "No calls" not in markdown and "Traceback" not in markdown
    assert markdown.count("](https://charts.example/") == 6


def test_partial_failure_shows_what_came_back_and_the_problem() -> None:
    figures = FunctionFigures(rate=None, p95=0.1, queries=QUERIES, problem=TIMEOUT)

    tokens = parsed(render_hover(IDENTITY, figures, Charts()))

    assert "Some live figures are missing" in text_of(tokens)
    assert "table_open" in kinds(tokens) and "100 ms" in text_of(tokens)


def test_links_that_are_not_http_never_become_links() -> None:
    markdown = render_hover(IDENTITY, BUSY, lambda expr: "javascript:alert(1)")

    assert "link_open" not in kinds(parsed(markdown))
    assert "javascript" not in markdown


def test_a_link_destination_survives_blanks_and_parentheses() -> None:
    (link,) = [token for token in parsed(markdown_link("calls", "http://h.example/p (x)/?q=a b")) if
               token.type == "link_open"]

    assert link.attrs["href"] == "http://h.example/p%20%28x%29/?q=a%20b"


# --- markdown injection -------------------------------------------------------------------------


def test_names_from_code_and_backend_never_become_markdown() -> None:
    evil_problem = BackendError(BackendErrorKind.BAD_RESPONSE, "http://127.0.0.1:9090", EVIL)
    figures = FunctionFigures(
        rate=1.0,
        error_ratio=0.5,
        errors_by_type=((EVIL, 0.5),),
        callers=(Edge(EVIL, EVIL, 0.5, 0.0), Edge("plain", "m", 0.25, 0.0)),
        callees=(Edge(EVIL, "", 0.5, 1.0),),
        queries=QUERIES,
        problem=evil_problem,
    )
    charts = Charts()

    tokens = parsed(render_hover(FunctionIdentity(EVIL, EVIL), figures, charts))

    assert kinds(tokens).isdisjoint({"html_inline", "html_block", "image", "em_open", "s_open", "heading_open", "hr"})
    assert len([token for token in tokens if token.type == "strong_open"]) == 1
    assert {token.attrs["href"] for token in tokens if token.type == "link_open"} <= set(charts.exprs)
    one_line = EVIL.replace("\n", " ")
    spans = code_spans(tokens)
    assert spans.count(one_line) == 3  # function, module, error type
    assert spans.count(f"{one_line}.{one_line}".replace("|", "¦")) == 1  # caller in a table cell
    assert spans.count(one_line.replace("|", "¦")) == 1  # callee in a table cell
    assert one_line in text_of(tokens)  # the problem message, as plain text
    rows = [token for token in tokens if token.type == "tr_open"]
    cells = [token for token in tokens if token.type in ("td_open", "th_open")]
    # Figures (4 columns, 2 rows), callers (3 columns, 3 rows), callees (3 columns, 2 rows): no cell split.
    assert (len(rows), len(cells)) == (2 + 3 + 2, 4 * 2 + 3 * 3 + 3 * 2)


@pytest.mark.parametrize("text", [EVIL, "", " ", "`", "``", "a`", " `x` ", "\n"])
def test_code_spans_hold_any_text(text: str) -> None:
    tokens = parsed(f"before {code(text)} after")

    assert code_spans(tokens) == [text.replace("\n", " ") or " "]
    assert text_of(tokens).startswith("before ") and text_of(tokens).endswith(" after")


def test_escaped_text_renders_as_itself() -> None:
    tokens = parsed(escape_markdown(EVIL))

    assert kinds(tokens) <= {"paragraph_open", "paragraph_close", "inline", "text"}
    assert text_of(tokens) == EVIL.replace("\n", " ")


# --- lens titles and the plain-function hint ----------------------------------------------------


@pytest.mark.parametrize(
    ("figures", "title"),
    [
        (BUSY, "1.3/s · 19.2% errors · p99 247 ms"),
        (FunctionFigures(rate=0.02), "1.2/min"),
        (FunctionFigures(), "no calls yet"),
        (FunctionFigures(rate=0.0, window="15m"), "no calls in 15m"),
        (FunctionFigures(problem=TIMEOUT), "metrics unavailable"),
    ],
)
def test_lens_title(figures: FunctionFigures, title: str) -> None:
    assert lens_title(figures) == title


def test_not_instrumented_hint_names_the_import() -> None:
    tokens = parsed(render_not_instrumented(EVIL))

    assert any(
        token.type == "fence" and "from autometrics_lsp.runtime import autometrics" in token.content
        for token in tokens
    )
    assert EVIL.replace("\n", " ") in code_spans(tokens)
    assert kinds(tokens).isdisjoint({"html_inline", "html_block", "link_open", "image"})
