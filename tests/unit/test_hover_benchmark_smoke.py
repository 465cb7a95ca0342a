"""The hover benchmark's own pure parts: the workload rewrite, the hover sites, the exporter's series.

The benchmark itself (servers, Prometheus, timings) runs from scripts/bench.sh, not here.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"

SOURCE = '''#!/usr/bin/env python
"""A module docstring."""
from __future__ import annotations

import functools


def plain(x):
    def inner():  # nested: the runtime would label it, but only top-level code is decorated
        return x
    return inner


@functools.lru_cache(maxsize=None)
async def cached(x):
    return x


class Ledger:
    @classmethod
    def create(cls):
        return cls()

    @property
    def total(self):
        return 0

    class Entry:
        def amount(self):
            return 1


@autometrics
def already():
    pass
'''


@pytest.fixture
def hover(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The benchmark runs as a script from its own folder and imports its helpers as the package `hover`.
    monkeypatch.syspath_prepend(str(BENCHMARKS_DIR))
    return importlib.import_module("hover")


def _decorators_by_qualname(source: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for statement in body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + statement.name] = [ast.unparse(decorator) for decorator in statement.decorator_list]
            elif isinstance(statement, ast.ClassDef):
                visit(statement.body, f"{prefix}{statement.name}.")

    visit(ast.parse(source).body, "")
    return found


def test_rewrite_decorates_every_top_level_function_and_method_innermost(hover: ModuleType) -> None:
    rewrite = importlib.import_module("hover.rewrite")

    result = rewrite.decorate_module(SOURCE)

    assert result.decorated == ("plain", "cached", "Ledger.create", "Ledger.total", "Ledger.Entry.amount")
    assert _decorators_by_qualname(result.source) == {
        "plain": ["autometrics"],
        "cached": ["functools.lru_cache(maxsize=None)", "autometrics"],
        "Ledger.create": ["classmethod", "autometrics"],
        "Ledger.total": ["property", "autometrics"],
        "Ledger.Entry.amount": ["autometrics"],
        "already": ["autometrics"],
    }
    lines = result.source.splitlines()
    assert lines[0] == "#!/usr/bin/env python"
    import_line = lines.index("from autometrics_lsp.runtime import autometrics")
    assert import_line == lines.index("from __future__ import annotations") + 1
    # Only lines were added: every original line is still there, in order.
    added = iter(lines)
    assert all(original in added for original in SOURCE.splitlines())


def test_rewrite_is_idempotent_and_leaves_undecoratable_modules_alone(hover: ModuleType) -> None:
    rewrite = importlib.import_module("hover.rewrite")
    once = rewrite.decorate_module(SOURCE).source

    assert rewrite.decorate_module(once) == rewrite.Rewrite(once, ())
    assert rewrite.decorate_module("x = 1\n") == rewrite.Rewrite("x = 1\n", ())
    with pytest.raises(rewrite.RewriteError):
        rewrite.decorate_module("def broken(:\n")


def test_rewrite_of_a_module_without_docstring_keeps_crlf_and_adds_a_final_newline(hover: ModuleType) -> None:
    rewrite = importlib.import_module("hover.rewrite")

    result = rewrite.decorate_module("# -*- coding: utf-8 -*-\r\n@dec\r\ndef f():\r\n    pass")

    assert result.source == (
        "# -*- coding: utf-8 -*-\r\nfrom autometrics_lsp.runtime import autometrics\r\n"
        "@dec\r\n@autometrics\r\ndef f():\r\n    pass\r\n"
    )


def test_sites_are_lsp_positions_on_the_names(hover: ModuleType) -> None:
    sites = importlib.import_module("hover.sites")
    source = (
        "import pkg.tools as tools\n"
        "class Shelf:\n"
        "    def put(self):\n"
        "        label = '\N{MUSICAL SYMBOL G CLEF}é'; self.put(); other.put()\n"
        "def helper(): return tools.helper() + helper() + unknown()\n"
    )

    definitions = sites.definition_sites(source)
    calls = sites.call_sites(source, callee_names={"helper"}, method_names={"put"})

    assert [(site.qualname, site.line, site.character) for site in definitions] == [
        ("Shelf.put", 2, 9),
        ("helper", 4, 7),
    ]
    # The clef is two UTF-16 code units but four UTF-8 bytes: `put` starts at column 28 (byte 31), and the
    # cursor rests mid-name. `other.put()` (not self) and `unknown()` (not known) are no sites.
    assert [(site.name, site.line, site.character) for site in calls] == [
        ("put", 3, 29),
        ("helper", 4, 30),
        ("helper", 4, 41),
    ]


def test_exporter_series_form_a_consistent_histogram_and_split_calls_by_caller(hover: ModuleType) -> None:
    exporter = importlib.import_module("hover.exporter")
    names = importlib.import_module("autometrics_lsp.runtime.names")
    function, caller = ("pkg.mod", 'Q."x"'), ("pkg.other", "f")
    profile = exporter.TrafficProfile(
        calls_per_second=10.0, error_ratio=0.25, median_latency_seconds=0.05, latency_spread=0.5,
        caller=caller, error_type="ValueError",
    )

    text = exporter.exposition(exporter.function_series(function, profile), elapsed_seconds=2.0).decode()

    samples = [line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#")]
    values = {series: float(value) for series, value in samples}
    calls = {key: value for key, value in values.items() if key.startswith(names.CALLS_TOTAL + "{")}
    assert sum(calls.values()) == pytest.approx(20.0)
    assert sum(value for key, value in calls.items() if 'result="error"' in key) == pytest.approx(5.0)
    assert sum(value for key, value in calls.items() if 'caller_function="f"' in key) == pytest.approx(12.0)
    assert all('function="Q.\\"x\\""' in key for key in calls)
    buckets = [value for key, value in values.items() if "_bucket{" in key]
    assert buckets == sorted(buckets) and buckets[-1] == pytest.approx(20.0)
    assert 0.0 < buckets[names.DEFAULT_BUCKETS.index(0.05)] / 20.0 == pytest.approx(0.5)


def test_percentiles_interpolate_between_ranks(hover: ModuleType) -> None:
    stats = importlib.import_module("hover.stats")

    summary = stats.summarize([0.4, 0.1, 0.3, 0.2])

    assert (summary.count, summary.p50, summary.mean) == (4, pytest.approx(0.25), pytest.approx(0.25))
    assert summary.p95 == pytest.approx(0.385)
    assert stats.percentile([7.0], 0.99) == 7.0
