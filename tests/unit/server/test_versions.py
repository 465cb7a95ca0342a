"""Per-version figures: the build_info join, newest-first order, and when the second query runs."""

from __future__ import annotations


import pytest

from autometrics_lsp.backend import BackendError, BackendErrorKind, Sample
from autometrics_lsp.figures import FunctionFigures
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.rendering import render_hover
from autometrics_lsp.versions import (
    VersionFigures,
    collect_versions,
    newest_first,
    version_calls_query,
    version_p99_query,
    versions_from_calls,
)
from tests.support.backends import Answers

IDENTITY = FunctionIdentity("shop.api", "checkout")


def sample(value: float, **labels: str) -> Sample:
    return Sample(labels, value)


def row(version: str, commit: str = "") -> VersionFigures:
    return VersionFigures(version, commit, 1.0, 0.0)


def test_calls_are_joined_to_build_info_on_the_scraped_target():
    assert version_calls_query(IDENTITY, "5m").expr == (
        "sum by (version, commit, result) ("
        'rate({__name__=~"function_calls(_count)?(_total)?", function="checkout", module="shop.api"}[5m])'
        " * on (instance, job) group_left (version, commit) "
        'max by (instance, job, version, commit) ({__name__=~"build_info(_total)?"}))'
    )
    p99 = version_p99_query(IDENTITY, "5m").expr
    assert p99.startswith("histogram_quantile(0.99, sum by (version, commit, le) (rate(")


def test_newest_version_first_by_number_not_text():
    ordered = newest_first([row("1.9.2"), row("1.10.0"), row("1.10.0-rc1"), row("0.9")])
    assert [r.version for r in ordered] == ["1.10.0-rc1", "1.10.0", "1.9.2", "0.9"]


def test_rate_and_error_ratio_per_version_only_with_calls():
    rows = versions_from_calls(
        [
            sample(3.0, version="2.0.0", commit="abc", result="ok"),
            sample(1.0, version="2.0.0", commit="abc", result="error"),
            sample(2.0, version="1.0.0", commit="def", result="ok"),
            sample(0.0, version="0.5.0", commit="old", result="ok"),
            sample(float("nan"), version="0.4.0", commit="older", result="ok"),
        ]
    )
    assert rows == [VersionFigures("2.0.0", "abc", 4.0, 0.25), VersionFigures("1.0.0", "def", 2.0, 0.0)]


async def test_one_version_costs_one_query_and_shows_nothing():
    backend = Answers({"version_calls": [sample(1.0, version="1.0.0", commit="", result="ok")]})
    assert await collect_versions(backend, IDENTITY, "5m") == []
    assert len(backend.rounds) == 1


async def test_two_versions_get_their_p99():
    backend = Answers(
        {
            "version_calls": [
                sample(1.0, version="1.0.0", commit="", result="ok"),
                sample(2.0, version="1.1.0", commit="", result="ok"),
            ],
            "version_p99": [sample(0.2, version="1.1.0", commit=""), sample(0.05, version="1.0.0", commit="")],
        }
    )
    rows = await collect_versions(backend, IDENTITY, "5m")
    assert [(r.version, r.p99) for r in rows] == [("1.1.0", 0.2), ("1.0.0", 0.05)]
    assert len(backend.rounds) == 2


async def test_a_failing_backend_shows_no_version_table():
    refused = BackendError(BackendErrorKind.UNREACHABLE, "http://127.0.0.1:1", "refused the connection")
    assert await collect_versions(Answers({"version_calls": refused}), IDENTITY, "5m") == []


@pytest.mark.parametrize(
    ("version", "commit", "shown"),
    [
        ("1.0.0", "0123456789abcdef", "1.0.0 (01234567)"),
        ("1.0.0", "", "1.0.0"),
        ("", "0123456789", "01234567"),
        ("", "", "unknown"),
    ],
)
def test_version_names(version, commit, shown):
    assert VersionFigures(version, commit, 1.0, None).display_name == shown


def test_hover_lists_versions_newest_first_after_the_main_table():
    versions = [VersionFigures("1.1.0", "", 2.0, 0.5, 0.2), VersionFigures("1.0.0", "", 1.0, 0.0, 0.05)]
    markdown = render_hover(IDENTITY, FunctionFigures(rate=3.0), lambda expr: "", versions=versions)
    assert "| version | calls | errors | p99 |" in markdown
    assert markdown.index("| `1.1.0` | 2/s | 50% | 200 ms |") < markdown.index("| `1.0.0` | 1/s | 0% | 50 ms |")
    assert markdown.index("| calls |") < markdown.index("| version |")
