"""A function's calls per deployed version: rate, error ratio and p99 per `version`/`commit`, newest first.

The calls carry no version; `build_info` does, per scraped target (`instance`, `job`). Joining on those two
labels attributes each target's calls to the version it runs, so a canary or a half-done rollout shows as two
rows. One query first (rates per version and result); the p99 query runs only when more than one version
answered, so a function of a single deployment costs one extra query per hover.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autometrics_lsp.backend import BackendError, InstantQuery, Sample
from autometrics_lsp.figures import Backend, finite, rates_by
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import check_window, function_matchers, selector
from autometrics_lsp.runtime import names

TARGET_LABELS = ("instance", "job")
"""The labels Prometheus (and VictoriaMetrics) put on every scraped series: what names a target."""
VERSION_LABELS = (names.VERSION, names.COMMIT)

_CALLS = "version_calls"
_P99 = "version_p99"


def _build_info() -> str:
    # max by: a target exposing both `build_info` and `build_info_total` must still be one match.
    targets = ", ".join((*TARGET_LABELS, *VERSION_LABELS))
    return f"max by ({targets}) ({selector(names.BUILD_INFO_NAME_PATTERN)})"


def _per_version(rate_expr: str, by: Sequence[str]) -> str:
    joined = f"{rate_expr} * on ({', '.join(TARGET_LABELS)}) group_left ({', '.join(VERSION_LABELS)}) {_build_info()}"
    return f"sum by ({', '.join(by)}) ({joined})"


def version_calls_query(identity: FunctionIdentity, window: str) -> InstantQuery:
    calls = selector(names.CALLS_NAME_PATTERN, *function_matchers(identity))
    return InstantQuery(_per_version(f"rate({calls}[{check_window(window)}])", (*VERSION_LABELS, names.RESULT)))


def version_p99_query(identity: FunctionIdentity, window: str) -> InstantQuery:
    buckets = selector(names.DURATION_BUCKET_NAME_PATTERN, *function_matchers(identity))
    per_bucket = _per_version(f"rate({buckets}[{check_window(window)}])", (*VERSION_LABELS, names.LE))
    return InstantQuery(f"histogram_quantile(0.99, {per_bucket})")


@dataclass(frozen=True)
class VersionFigures:
    version: str
    commit: str
    rate: float
    error_ratio: float | None
    p99: float | None = None

    @property
    def display_name(self) -> str:
        if self.version and self.commit:
            return f"{self.version} ({self.commit[:8]})"
        return self.version or self.commit[:8] or "unknown"


_NUMBER_OR_TEXT = re.compile(r"(\d+)|(\D+)")


def version_sort_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Orders `1.10.0` after `1.9.2`: runs of digits compare as numbers, the rest as text."""
    return tuple(
        (1, int(number), "") if number else (0, 0, text) for number, text in _NUMBER_OR_TEXT.findall(version)
    )


def newest_first(rows: Sequence[VersionFigures]) -> list[VersionFigures]:
    """By version number, newest first; the commit (which has no order) only breaks ties, for a stable table."""
    by_commit = sorted(rows, key=lambda row: row.commit)
    return sorted(by_commit, key=lambda row: version_sort_key(row.version), reverse=True)


def _version_and_commit(labels: Mapping[str, str]) -> tuple[str, str]:
    return labels.get(names.VERSION, ""), labels.get(names.COMMIT, "")


def versions_from_calls(samples: Sequence[Sample]) -> list[VersionFigures]:
    """Rate and error ratio per version from the per-(version, commit, result) rates; versions with calls only."""
    rows = [
        VersionFigures(version, commit, rate, error_rate / rate)
        for (version, commit), (rate, error_rate) in rates_by(samples, _version_and_commit).items()
        if rate > 0
    ]
    return newest_first(rows)


def with_p99(rows: Sequence[VersionFigures], samples: Sequence[Sample]) -> list[VersionFigures]:
    p99s = {
        _version_and_commit(sample.labels): finite(sample.value)
        for sample in samples
    }
    return [
        VersionFigures(row.version, row.commit, row.rate, row.error_ratio, p99s.get((row.version, row.commit)))
        for row in rows
    ]


def _samples(result: object) -> list[Sample]:
    return [item for item in result if isinstance(item, Sample)] if isinstance(result, list) else []


async def collect_versions(backend: Backend, identity: FunctionIdentity, window: str) -> list[VersionFigures]:
    """Per-version figures when the function's calls in the window come from two versions or more, else [].

    A failing backend gives [] too: the hover's main figures already say why.
    """
    try:
        first = await backend.run({_CALLS: version_calls_query(identity, window)})
        rows = versions_from_calls(_samples(first.get(_CALLS)))
        if len(rows) < 2:
            return []
        second = await backend.run({_P99: version_p99_query(identity, window)})
    except BackendError:
        return []
    return with_p99(rows, _samples(second.get(_P99)))
