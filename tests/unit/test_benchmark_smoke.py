"""The decorator overhead benchmark's own code: it measures our runtime and reads its figures right.

Speed is not judged here (that is the benchmark's job, run by scripts/bench.sh); these only check that the
script still works against the runtime and that its table and verdict say what the figures say.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The benchmark runs as a script from its own folder, importing its helpers as top-level modules.
    monkeypatch.syspath_prepend(str(BENCHMARKS_DIR))
    return importlib.import_module("decorator_overhead")


def test_measuring_our_runtime_gives_a_figure_per_repeat(bench: ModuleType) -> None:
    samples = bench.measure_our_runtime(iterations=50, repeats=3)

    assert set(samples) == {bench.OURS_SYNC, bench.OURS_ASYNC, bench.OURS_NESTED}
    for figures in samples.values():
        assert len(figures) == 3
        assert all(math.isfinite(ns) and ns > 0 for figure in figures for ns in figure)


def test_rounds_interleave_variants_then_verify_every_call(bench: ModuleType) -> None:
    per_call = importlib.import_module("_call_timing").PerCall
    timed: list[tuple[str, int]] = []
    verified: list[int] = []

    def timer(key: str) -> Callable[[int], dict[str, object]]:
        def time_repeat(iterations: int) -> dict[str, object]:
            timed.append((key, iterations))
            return {key: per_call(float(iterations), 1.0)}

        return time_repeat

    samples = bench.measure(
        [bench.VariantGroup([timer("a"), timer("b")], verified.append)], iterations=100, repeats=2
    )

    assert timed == [("a", 10), ("b", 10), ("a", 100), ("b", 100), ("a", 100), ("b", 100)]
    assert samples == {"a": [per_call(100.0, 1.0)] * 2, "b": [per_call(100.0, 1.0)] * 2}
    assert verified == [210]


def test_medians_are_taken_per_clock(bench: ModuleType) -> None:
    per_call = importlib.import_module("_call_timing").PerCall
    samples = {bench.PLAIN_SYNC: [per_call(30.0, 20.0), per_call(10.0, 25.0), per_call(90.0, 21.0)]}

    assert bench.medians_of(samples, "wall_ns") == {bench.PLAIN_SYNC: 30.0}
    assert bench.medians_of(samples, "cpu_ns") == {bench.PLAIN_SYNC: 21.0}


def test_summary_measures_each_variant_against_its_own_baseline(bench: ModuleType) -> None:
    medians = {
        bench.PLAIN_SYNC: 20.0,
        bench.OURS_SYNC: 220.0,
        bench.OLD_PLAIN_SYNC: 30.0,
        bench.OLD_SYNC: 2030.0,
        bench.PLAIN_ASYNC: 60.0,
        bench.OURS_ASYNC: 360.0,
    }

    rows = {row.description: row for row in bench.summarize(medians)}

    old = rows["(c) autometrics 1.0.0 (PyPI), tracker=prometheus"]
    assert old.added_ns == 2000.0
    assert old.ratio_vs_ours == 10.0
    ours_async = rows["(e) ours, async, awaited"]
    assert ours_async.added_ns == 300.0
    assert ours_async.ratio_vs_ours == 1.5
    assert rows["(a) plain call"].added_ns is None
    assert len(rows) == len(medians)


def test_table_is_markdown_with_one_line_per_row(bench: ModuleType) -> None:
    rows = bench.summarize({bench.PLAIN_SYNC: 20.4, bench.OURS_SYNC: 250.6})

    lines = bench.format_table(rows).splitlines()

    assert lines[2] == "| (a) plain call | 20 |  |  |"
    assert lines[3] == "| (d) ours, sync | 251 | 230 | 1.0x |"
    assert len(lines) == 4


@pytest.mark.parametrize(
    ("ours_added", "old_added", "outcome"),
    [
        (300.0, 3000.0, "PASS"),
        (300.0, 2000.0, "MISS"),  # under 1 us, but less than 8x better
        (1200.0, 20000.0, "MISS"),  # far ahead, but over 1 us
    ],
)
def test_verdict_needs_both_targets(
    bench: ModuleType, ours_added: float, old_added: float, outcome: str
) -> None:
    assert bench.verdict(ours_added, old_added).startswith(f"Verdict: {outcome}:")
