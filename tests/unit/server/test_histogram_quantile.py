"""`histogram_quantile` computed locally must be PromQL's, to the last bit.

Each bucket shape below becomes a set of gauge series (`le` label, the counts as values) that Prometheus' own
engine evaluates through `promtool test rules`, whose sample comparison is exact: the expected value of every
shape and quantile is what the local function returns. Hypothesis then checks the invariants of the pure function.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autometrics_lsp.backend import Sample
from autometrics_lsp.figures import Bucket, buckets_of, histogram_quantile, parse_le
from tests.support.promtool import assert_promql, expect, needs_promtool

INF = math.inf
# (le label, count): the labels as clients write them, so parsing is proven along with the arithmetic.
SHAPES: dict[str, list[tuple[str, float]]] = {
    "default buckets": [
        ("0.005", 1), ("0.01", 3), ("0.025", 8), ("0.05", 20), ("0.075", 31), ("0.1", 40), ("0.25", 70),
        ("0.5", 90), ("0.75", 95), ("1", 97), ("2.5", 99), ("5", 99.5), ("7.5", 99.8), ("10", 100), ("+Inf", 100),
    ],
    "rank in the +Inf bucket": [("0.1", 10), ("0.5", 50), ("+Inf", 100)],
    "everything in the first bucket": [("0.25", 7), ("1", 7), ("+Inf", 7)],
    "unsorted, with equal bounds written apart": [("+Inf", 12), ("1.0", 6), ("0.5", 3), ("1", 4), ("2.5e-1", 1)],
    "not monotonic": [("0.1", 8), ("0.2", 5), ("0.4", 9), ("0.8", 7), ("+Inf", 10)],
    "lowest bound not positive": [("-1", 5), ("0", 6), ("1", 10), ("+Inf", 10)],
    "lowest bound zero": [("0", 2), ("1", 4), ("+Inf", 4)],
    "no observations": [("0.1", 0), ("1", 0), ("+Inf", 0)],
    "no +Inf bucket": [("0.1", 1), ("1", 2)],
    "only the +Inf bucket": [("+Inf", 5)],
    "unreadable le labels are skipped": [("0.1", 1), ("fast", 50), ("1__0", 50), ("_1", 50), (" 1", 50), ("1", 2), ("+Inf", 2)],
    "Go's spellings of numbers": [("5E-1", 1), ("0x1p-1", 1), ("+.75", 2), ("1_0", 3), ("0x_1p1_0", 3), ("inf", 4)],
    "fractional rates": [("0.1", 0.0333), ("0.25", 1 / 3), ("1", 0.7), ("+Inf", 0.7000001)],
}
QUANTILES = (0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0, -0.5, 1.5)
RANDOM_SHAPES = 60


def random_shape(rng: random.Random) -> list[tuple[str, float]]:
    """Bounds from the default buckets (some written twice), counts rising with gaps, dips and repeats."""
    bounds = sorted(rng.sample([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0], rng.randint(1, 8)))
    count = 0.0
    shape = []
    for bound in bounds:
        count += rng.choice([0.0, 0.0, rng.random(), rng.randint(1, 50), -rng.random()])
        shape.append((repr(bound), round(count, 6)))
        if rng.random() < 0.1:
            shape.append((f"{bound:e}", round(rng.random(), 6)))
    if rng.random() < 0.9:
        shape.append(("+Inf", round(count + rng.choice([0.0, rng.random() * 10]), 6)))
    rng.shuffle(shape)
    return shape


def local_quantile(quantile: float, shape: list[tuple[str, float]]) -> float:
    return histogram_quantile(quantile, buckets_of([Sample({"le": le}, count) for le, count in shape]))


def promql_checks(name: str, shape: list[tuple[str, float]]) -> list[dict[str, object]]:
    """One promtool expectation per quantile: the local result, or its NaN/Inf-ness, which JSON cannot spell."""
    checks: list[dict[str, object]] = []
    for quantile in QUANTILES:
        expr = f'histogram_quantile({quantile}, buckets{{shape="{name}"}})'
        expected = local_quantile(quantile, shape)
        if math.isnan(expected):
            expr, expected = f"count(({expr}) != ({expr}))", 1.0
        elif math.isinf(expected):
            expr, expected = f"count(({expr}) == {expected})", 1.0
        labels = "{}" if expr.startswith("count(") else f'{{shape="{name}"}}'
        checks.append(expect(expr, [(labels, expected)], eval_time="1m"))
    return checks


@needs_promtool
def test_prometheus_computes_the_same_quantiles_bit_for_bit(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    shapes = {**SHAPES, **{f"random {n}": random_shape(rng) for n in range(RANDOM_SHAPES)}}
    # Counts go out as repr, which Go's ParseFloat reads back to the very same float64.
    series = [
        (f'buckets{{shape="{name}", le="{le}"}}', f"{float(count)!r}x2")
        for name, shape in shapes.items()
        for le, count in shape
    ]
    assert_promql(tmp_path, series, [check for name, shape in shapes.items() for check in promql_checks(name, shape)])


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("0.25", 0.25), ("+Inf", INF), ("Infinity", INF), ("-inf", -INF), ("1e+00", 1.0), (".5", 0.5),
        ("0X1P-2", 0.25), ("1_000", 1000.0), ("1_0.2_5e0_1", 102.5), ("0x_1p1_0", 1024.0),
    ],
)
def test_le_is_read_as_go_reads_it(text: str, bound: float) -> None:
    assert parse_le(text) == bound


@pytest.mark.parametrize("text", ["", "fast", " 1", "1 ", "1__0", "_1", "1_", "1_.5", "0x10", "1e400", "NaN", "+nan", "1.0.0", "Inf+"])
def test_what_go_cannot_read_is_no_bucket(text: str) -> None:
    assert parse_le(text) is None


# --- invariants ---------------------------------------------------------------------------------

finite_bounds = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=12, unique=True
)
# No subnormal counts: a rank that underflows to 0 makes a different (still PromQL-exact) case.
counts = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e9))


@st.composite
def histograms(draw: st.DrawFn) -> list[Bucket]:
    """Cumulative buckets with a +Inf bucket, in any order: what a consistent histogram gives."""
    bounds = sorted(draw(finite_bounds))
    increments = draw(st.lists(counts, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    cumulative = [sum(increments[: index + 1]) for index in range(len(increments))]
    buckets = list(zip([*bounds, INF], cumulative))
    return draw(st.permutations(buckets))


quantiles = st.floats(min_value=0, max_value=1)
# Above 0: the 0-quantile of a histogram whose lowest bucket is empty is NaN (0/0 inside that bucket).
positive_quantiles = st.floats(min_value=0.001, max_value=1)


@given(histograms(), positive_quantiles)
def test_the_quantile_lies_between_zero_or_the_lowest_bound_and_the_highest_finite_bound(
    buckets: list[Bucket], quantile: float
) -> None:
    result = histogram_quantile(quantile, buckets)

    bounds = sorted(bound for bound, _ in buckets if bound != INF)
    if max(count for _, count in buckets) == 0:
        assert math.isnan(result)
        return
    # Interpolating up to a bucket's end may round past it by an ulp.
    assert min(0.0, bounds[0]) <= result <= max(bounds[-1], 0.0) or math.isclose(result, bounds[-1])


@given(histograms(), positive_quantiles, positive_quantiles)
def test_a_higher_quantile_is_never_lower(buckets: list[Bucket], low: float, high: float) -> None:
    low, high = sorted((low, high))
    assume(max(count for _, count in buckets) > 0)
    lower, higher = histogram_quantile(low, buckets), histogram_quantile(high, buckets)

    assert lower <= higher + 1e-9 * max(1.0, abs(higher))  # interpolation may round either way at a bound


@given(histograms(), quantiles, st.randoms())
def test_bucket_order_does_not_matter(buckets: list[Bucket], quantile: float, rng: random.Random) -> None:
    shuffled = list(buckets)
    rng.shuffle(shuffled)

    assert repr(histogram_quantile(quantile, shuffled)) == repr(histogram_quantile(quantile, buckets))


@given(histograms(), quantiles, st.sampled_from([2.0, 1024.0]))
def test_scaling_every_count_by_a_power_of_two_changes_nothing(
    buckets: list[Bucket], quantile: float, factor: float
) -> None:
    scaled = [(bound, count * factor) for bound, count in buckets]

    assert repr(histogram_quantile(quantile, scaled)) == repr(histogram_quantile(quantile, buckets))


@given(histograms(), quantiles)
def test_a_dip_in_the_counts_is_read_as_the_running_maximum(buckets: list[Bucket], quantile: float) -> None:
    ordered = sorted(buckets)
    assume(len(ordered) >= 3)
    dipped = [*ordered[:-2], (ordered[-2][0], 0.0), ordered[-1]]  # the count before +Inf drops to zero
    envelope = [*ordered[:-2], (ordered[-2][0], ordered[-3][1]), ordered[-1]]

    assert repr(histogram_quantile(quantile, dipped)) == repr(histogram_quantile(quantile, envelope))


@given(st.lists(st.tuples(st.floats(allow_nan=False), counts), max_size=8), quantiles)
def test_without_a_plus_inf_bucket_there_is_no_quantile(buckets: list[Bucket], quantile: float) -> None:
    assume(all(bound != INF for bound, _ in buckets))

    assert math.isnan(histogram_quantile(quantile, buckets))


@given(histograms(), st.floats(allow_nan=True))
def test_quantiles_outside_zero_to_one_are_infinite_or_nan(buckets: list[Bucket], quantile: float) -> None:
    assume(not 0 <= quantile <= 1)

    result = histogram_quantile(quantile, buckets)

    if math.isnan(quantile):
        assert math.isnan(result)
    else:
        assert result == (INF if quantile > 1 else -INF)
