"""PromQL building: label escaping, injection, and the figures the queries compute.

Escaping is checked against a test-side parser of PromQL (Go) string literals; the queries themselves are
checked by Prometheus' own engine through `promtool test rules`, which evaluates PromQL against synthetic
series offline, with no server to start, and compares values exactly. The figures a hover derives from its
merged queries are checked there against each figure's own (natural) query.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autometrics_lsp.backend import InstantQuery, RangeQuery, Sample
from autometrics_lsp.figures import FIGURE_SOURCES, CallFigures, Edge, buckets_of, call_figures, histogram_quantile
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import (
    Figure,
    HoverFetch,
    check_window,
    escape_label_value,
    function_lens_exprs,
    hover_fetch_queries,
    hover_queries,
    matcher,
    module_lens_queries,
    own_buckets_query,
    own_calls_query,
    selector,
)
from autometrics_lsp.runtime import names
from tests.support.promtool import assert_promql, expect, needs_promtool

_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}


def parse_string_literal(text: str, start: int = 0) -> tuple[str, int]:
    """A PromQL double-quoted string literal at `start` (Go syntax): its value and the index after it.

    Like Prometheus' lexer, a raw newline or an unknown escape is an error.
    """
    if text[start] != '"':
        raise ValueError("no opening quote")
    out = bytearray()
    index = start + 1
    while True:
        if index >= len(text) or text[index] == "\n":
            raise ValueError("unterminated string")
        char = text[index]
        if char == '"':
            return out.decode("utf-8"), index + 1
        if char != "\\":
            out += char.encode("utf-8")
            index += 1
            continue
        escape = text[index + 1]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            index += 2
        elif escape == "x":
            out.append(int(text[index + 2 : index + 4], 16))
            index += 4
        elif escape in "01234567":
            out.append(int(text[index + 1 : index + 4], 8))
            index += 4
        elif escape in "uU":
            width = 4 if escape == "u" else 8
            out += chr(int(text[index + 2 : index + 2 + width], 16)).encode("utf-8")
            index += 2 + width
        else:
            raise ValueError(f"unknown escape \\{escape}")


def parse_selector(text: str) -> list[tuple[str, str, str]]:
    """The (label, operator, value) matchers of a `{...}` selector, which must span all of `text`."""
    assert text[0] == "{"
    matchers = []
    index = 1
    while True:
        found = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)").match(text, index)
        assert found, f"no matcher at {index}: {text!r}"
        value, index = parse_string_literal(text, found.end())
        matchers.append((found.group(1), found.group(2), value))
        if text[index] == "}":
            assert index == len(text) - 1, "text after the selector"
            return matchers
        assert text[index : index + 2] == ", "
        index += 2


# Any character, with the ones that matter to PromQL syntax made frequent.
label_values = st.text(
    st.one_of(st.sampled_from('"\\\n\r{}[]()=~!,`\'$#'), st.characters(exclude_categories=("Cs",))),
    max_size=60,
)


# --- escaping -----------------------------------------------------------------------------------


@given(label_values)
def test_any_value_round_trips_through_a_string_literal(value: str) -> None:
    literal = f'"{escape_label_value(value)}"'

    assert parse_string_literal(literal) == (value, len(literal))


@given(st.text(max_size=30))
def test_lone_surrogates_become_the_replacement_character(value: str) -> None:
    literal = f'"{escape_label_value(value)}"'

    expected = re.sub("[\ud800-\udfff]", "\ufffd", value)
    assert parse_string_literal(literal) == (expected, len(literal))


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain.name", "plain.name"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\nlines"),
        ("tab\there\r", "tab\\there\\r"),
        ("bell\x07 nul\x00 del\x7f", "bell\\a nul\\x00 del\\x7f"),
        ("Ledger.<locals>.ünïcode ✓", "Ledger.<locals>.ünïcode ✓"),
    ],
)
def test_escapes(value: str, escaped: str) -> None:
    assert escape_label_value(value) == escaped


@given(label_values, label_values)
def test_a_crafted_name_never_widens_the_selector(function: str, module: str) -> None:
    rate = hover_queries(FunctionIdentity(module, function), "5m")[Figure.RATE].expr
    inner_selector = re.search(r"\{.*\}(?=\[5m\])", rate, re.DOTALL)

    assert inner_selector is not None
    assert parse_selector(inner_selector.group()) == [
        ("__name__", "=~", names.CALLS_NAME_PATTERN),
        ("function", "=", function),
        ("module", "=", module),
    ]


def test_selector_renders_the_tolerant_name_pattern_first() -> None:
    assert selector(names.CALLS_NAME_PATTERN, matcher("module", "m")) == (
        '{__name__=~"function_calls(_count)?(_total)?", module="m"}'
    )


@pytest.mark.parametrize(("label", "operator"), [("bad-label", "="), ("1st", "="), ("", "="), ("ok", "==")])
def test_matcher_refuses_what_is_not_promql(label: str, operator: str) -> None:
    with pytest.raises(ValueError):
        matcher(label, "value", operator)


@pytest.mark.parametrize("window", ["5m]) or vector(1) #", "5 m", "", "0s", "-5m", "1.5m"])
def test_a_window_that_is_not_a_duration_never_reaches_a_query(window: str) -> None:
    with pytest.raises(ValueError):
        check_window(window)
    with pytest.raises(ValueError):
        hover_queries(FunctionIdentity("m", "f"), window)


# --- shape of the query sets --------------------------------------------------------------------


def test_hover_queries_cover_every_figure_with_one_range_query_for_the_sparkline() -> None:
    queries = hover_queries(FunctionIdentity("shop.ledger", "Ledger.record"), "2m")

    assert set(queries) == set(Figure)
    history = queries[Figure.RATE_HISTORY]
    assert isinstance(history, RangeQuery)
    assert (history.duration, history.step) == (3600.0, 120.0)
    others = [query for figure, query in queries.items() if figure is not Figure.RATE_HISTORY]
    assert all(isinstance(query, InstantQuery) for query in others)
    assert all("[2m]" in query.expr for figure, query in queries.items() if figure is not Figure.CONCURRENCY)


def test_module_lens_queries_are_at_most_four_and_grouped_by_function() -> None:
    queries = module_lens_queries("shop.ledger", "5m")

    assert len(queries) <= 4
    assert all("by (function" in query.expr for query in queries.values())
    assert all('module="shop.ledger"' in query.expr for query in queries.values())


# --- the figures, computed by Prometheus' engine ------------------------------------------------

RECORD = FunctionIdentity("shop.ledger", "Ledger.record")
OLD_STYLE = FunctionIdentity("shop.ledger", "old_fn")
IDLE = FunctionIdentity("shop.ledger", "idle")
MISSING = FunctionIdentity("shop.ledger", "never_deployed")
CRAFTED = (
    FunctionIdentity("shop.ledger", 'x", module=~".*'),
    FunctionIdentity('shop.ledger"} or vector(1) or {a="', "Ledger.record"),
    FunctionIdentity("shop.ledger", "Ledger.record\n"),
)

# One sample a minute for 20 minutes; `0+45x20` grows by 45 a minute, i.e. 0.75 calls per second.
INPUT_SERIES = [
    ('function_calls_total{function="Ledger.record", module="shop.ledger", result="ok", '
     'caller_function="handle", caller_module="shop.api"}', "0+45x20"),
    ('function_calls_total{function="Ledger.record", module="shop.ledger", result="error", '
     'caller_function="handle", caller_module="shop.api", error="ValueError"}', "0+15x20"),
    ('function_calls_total{function="Ledger.record", module="shop.ledger", result="ok", '
     'caller_function="", caller_module=""}', "0+12x20"),
    # Older libraries: another counter name, the `caller` label, the histogram without `_seconds`.
    ('function_calls_count_total{function="Ledger.record", module="shop.ledger", result="ok", '
     'caller="legacy_job"}', "0+6x20"),
    ('function_calls_count_total{function="old_fn", module="shop.ledger", result="ok"}', "0+60x20"),
    ('function_calls_duration_bucket{function="old_fn", module="shop.ledger", le="0.5"}', "0+60x20"),
    ('function_calls_duration_bucket{function="old_fn", module="shop.ledger", le="+Inf"}', "0+60x20"),
    ('function_calls_duration_seconds_bucket{function="Ledger.record", module="shop.ledger", le="0.1"}', "0+39x20"),
    ('function_calls_duration_seconds_bucket{function="Ledger.record", module="shop.ledger", le="0.25"}', "0+78x20"),
    ('function_calls_duration_seconds_bucket{function="Ledger.record", module="shop.ledger", le="+Inf"}', "0+78x20"),
    ('function_calls_concurrent{function="Ledger.record", module="shop.ledger"}', "3x20"),
    ('function_calls_total{function="idle", module="shop.ledger", result="ok"}', "0x20"),
    ('function_calls_total{function="idle", module="shop.ledger", result="error"}', "0x20"),
    ('function_calls_total{function="Ledger.save", module="shop.db", result="ok", '
     'caller_function="Ledger.record", caller_module="shop.ledger"}', "0+30x20"),
    ('function_calls_total{function="Ledger.save", module="shop.db", result="error", '
     'caller_function="Ledger.record", caller_module="shop.ledger"}', "0+6x20"),
]


def rounded(expr: str, to: float = 0.0001) -> str:
    """Prometheus' float arithmetic need not match Python's to the last bit; compare rounded values."""
    return f"round({expr}, {to})"


def is_nan(expr: str) -> str:
    return f"count(({expr}) != ({expr}))"


def evaluate(tmp_path: Path, checks: list[tuple[str, list[tuple[str, float]]]]) -> None:
    """Assert that each expression, evaluated at minute 10, gives exactly the expected samples."""
    assert_promql(tmp_path, INPUT_SERIES, [expect(expr, samples) for expr, samples in checks])


def hover_expr(identity: FunctionIdentity, figure: Figure) -> str:
    return hover_queries(identity, "5m")[figure].expr


@needs_promtool
def test_rate_error_ratio_and_latency_of_a_busy_function(tmp_path: Path) -> None:
    evaluate(
        tmp_path,
        [
            (hover_expr(RECORD, Figure.RATE), [("{}", 1.3)]),
            (rounded(hover_expr(RECORD, Figure.ERROR_RATIO)), [("{}", 0.1923)]),
            # Half the calls under 100 ms, all under 250 ms: linear interpolation inside the bucket.
            (rounded(hover_expr(RECORD, Figure.P95)), [("{}", 0.235)]),
            (rounded(hover_expr(RECORD, Figure.P99)), [("{}", 0.247)]),
            (hover_expr(RECORD, Figure.CONCURRENCY), [("{}", 3)]),
            (hover_expr(RECORD, Figure.ERRORS_BY_TYPE), [('{error="ValueError"}', 0.25)]),
            (hover_expr(RECORD, Figure.RATE_HISTORY), [("{}", 1.3)]),
        ],
    )


@needs_promtool
def test_callers_by_new_and_old_labels_and_callees_with_their_results(tmp_path: Path) -> None:
    evaluate(
        tmp_path,
        [
            (
                hover_expr(RECORD, Figure.CALLERS),
                [
                    ('{caller_function="handle", caller_module="shop.api", result="ok"}', 0.75),
                    ('{caller_function="handle", caller_module="shop.api", result="error"}', 0.25),
                    ('{caller="legacy_job", result="ok"}', 0.1),
                    ('{result="ok"}', 0.2),
                ],
            ),
            (
                hover_expr(RECORD, Figure.CALLEES),
                [
                    ('{function="Ledger.save", module="shop.db", result="ok"}', 0.5),
                    ('{function="Ledger.save", module="shop.db", result="error"}', 0.1),
                ],
            ),
        ],
    )


@needs_promtool
def test_older_metric_names_and_a_missing_error_series(tmp_path: Path) -> None:
    evaluate(
        tmp_path,
        [
            (hover_expr(OLD_STYLE, Figure.RATE), [("{}", 1)]),
            # No error series at all still means "no errors", not "unknown".
            (hover_expr(OLD_STYLE, Figure.ERROR_RATIO), [("{}", 0)]),
            (rounded(hover_expr(OLD_STYLE, Figure.P99)), [("{}", 0.495)]),
        ],
    )


@needs_promtool
def test_what_no_data_looks_like(tmp_path: Path) -> None:
    evaluate(
        tmp_path,
        [
            # Deployed but idle: a zero rate, and 0/0 for the ratio.
            (hover_expr(IDLE, Figure.RATE), [("{}", 0)]),
            (is_nan(hover_expr(IDLE, Figure.ERROR_RATIO)), [("{}", 1)]),
            (hover_expr(IDLE, Figure.P99), []),
            (hover_expr(IDLE, Figure.CONCURRENCY), []),
            # Never seen: empty answers, except the sparkline, which is all zeros rather than holes.
            (hover_expr(MISSING, Figure.RATE), []),
            (hover_expr(MISSING, Figure.ERROR_RATIO), []),
            (hover_expr(MISSING, Figure.CALLERS), []),
            (hover_expr(MISSING, Figure.RATE_HISTORY), [("{}", 0)]),
        ],
    )


@needs_promtool
def test_crafted_names_match_nothing(tmp_path: Path) -> None:
    evaluate(
        tmp_path,
        [(hover_expr(identity, figure), []) for identity in CRAFTED for figure in (Figure.RATE, Figure.CALLERS)]
        + [(query.expr, []) for identity in CRAFTED for query in hover_fetch_queries(identity, "5m").values()
           if isinstance(query, InstantQuery)],
    )


@needs_promtool
def test_module_lens_queries_give_each_function_its_figures(tmp_path: Path) -> None:
    lens = module_lens_queries("shop.ledger", "5m")
    not_nan = "({0}) == ({0})"
    evaluate(
        tmp_path,
        [
            (
                lens[Figure.RATE].expr,
                [('{function="Ledger.record"}', 1.3), ('{function="old_fn"}', 1), ('{function="idle"}', 0)],
            ),
            (
                rounded(not_nan.format(lens[Figure.ERROR_RATIO].expr)),
                [('{function="Ledger.record"}', 0.1923), ('{function="old_fn"}', 0)],
            ),
            (
                rounded(lens[Figure.P99].expr),
                [('{function="Ledger.record"}', 0.247), ('{function="old_fn"}', 0.495)],
            ),
            (rounded(function_lens_exprs(RECORD, "5m")[Figure.P99]), [("{}", 0.247)]),
        ],
    )


# --- what a hover executes, and the figures derived from it -------------------------------------


def samples_of(expected: list[tuple[str, float]]) -> list[Sample]:
    return [Sample({label: value for label, _, value in parse_selector(labels)}, rate) for labels, rate in expected]


# The exact answers of the two merged queries at minute 10, as promtool asserts them below.
EXECUTED_ANSWERS = {
    RECORD: (
        [
            ('{result="ok", caller_function="handle", caller_module="shop.api"}', 0.75),
            ('{result="error", error="ValueError", caller_function="handle", caller_module="shop.api"}', 0.25),
            ('{result="ok"}', 0.2),
            ('{result="ok", caller="legacy_job"}', 0.1),
        ],
        [('{le="0.1"}', 0.65), ('{le="0.25"}', 1.3), ('{le="+Inf"}', 1.3)],
    ),
    OLD_STYLE: ([('{result="ok"}', 1)], [('{le="0.5"}', 1), ('{le="+Inf"}', 1)]),
}


def test_the_hover_executes_five_queries_for_nine_figures() -> None:
    executed = hover_fetch_queries(RECORD, "5m")

    assert set(executed) == set(HoverFetch)
    assert own_calls_query(RECORD, "5m").expr == (
        "sum by (result, error, caller_function, caller_module, caller) "
        '(rate({__name__=~"function_calls(_count)?(_total)?", function="Ledger.record", module="shop.ledger"}[5m]))'
    )
    assert own_buckets_query(RECORD, "5m").expr == (
        "sum by (le) (rate("
        '{__name__=~"function_calls_duration(_seconds)?_bucket", function="Ledger.record", module="shop.ledger"}[5m]))'
    )
    links = hover_queries(RECORD, "5m")
    for figure in (Figure.CONCURRENCY, Figure.CALLEES, Figure.RATE_HISTORY):
        assert executed[FIGURE_SOURCES[figure]] == links[figure]


@needs_promtool
def test_figures_derived_from_the_executed_queries_equal_the_natural_queries_exactly(tmp_path: Path) -> None:
    checks: list[tuple[str, list[tuple[str, float]]]] = []
    for identity, (own_calls, buckets) in EXECUTED_ANSWERS.items():
        checks += [(own_calls_query(identity, "5m").expr, own_calls), (own_buckets_query(identity, "5m").expr, buckets)]
        calls = call_figures(samples_of(own_calls))
        quantile_buckets = buckets_of(samples_of(buckets))
        derived = {
            Figure.RATE: calls.rate,
            Figure.ERROR_RATIO: calls.error_ratio,
            Figure.P95: histogram_quantile(0.95, quantile_buckets),
            Figure.P99: histogram_quantile(0.99, quantile_buckets),
        }
        checks += [(hover_expr(identity, figure), [("{}", value)]) for figure, value in derived.items()]
        by_type = [(f'{{error="{name}"}}', rate) for name, rate in calls.errors_by_type]
        checks.append((hover_expr(identity, Figure.ERRORS_BY_TYPE), by_type))
    evaluate(tmp_path, checks)


@needs_promtool
def test_no_data_answers_of_the_executed_queries(tmp_path: Path) -> None:
    evaluate(
        tmp_path,
        [
            (own_calls_query(IDLE, "5m").expr, [('{result="ok"}', 0), ('{result="error"}', 0)]),
            (own_buckets_query(IDLE, "5m").expr, []),
            (own_calls_query(MISSING, "5m").expr, []),
        ],
    )
    idle = call_figures(samples_of([('{result="ok"}', 0), ('{result="error"}', 0)]))
    # As the natural queries in test_what_no_data_looks_like: rate 0, ratio NaN (no value), p99 empty.
    assert (idle.rate, idle.error_ratio, buckets_of([])) == (0.0, None, [])
    assert call_figures([]) == CallFigures(None, None, (), ())


def test_callers_derived_from_the_calls_answer() -> None:
    calls = call_figures(samples_of(EXECUTED_ANSWERS[RECORD][0]))

    # As the callers query's answer in test_callers_by_new_and_old_labels_and_callees_with_their_results.
    assert calls.callers == (Edge("handle", "shop.api", 1.0, 0.25), Edge("legacy_job", "", 0.1, 0.0))
