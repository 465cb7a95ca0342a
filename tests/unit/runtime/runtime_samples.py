"""Reading what a registry exposes, for the runtime's tests: samples filtered by label values."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

TEST_SERVICE = "runtime-tests"


def samples(registry: CollectorRegistry, sample_name: str, **labels: str) -> list[Sample]:
    """Samples named `sample_name` whose labels include `labels` (other labels may be anything)."""
    return [
        sample
        for family in registry.collect()
        for sample in family.samples
        if sample.name == sample_name and all(sample.labels.get(key) == value for key, value in labels.items())
    ]


def total(registry: CollectorRegistry, sample_name: str, **labels: str) -> float:
    return sum(sample.value for sample in samples(registry, sample_name, **labels))


def run_isolated(source: str, env: dict[str, str] | None = None) -> str:
    """Run Python `source` in a fresh interpreter (a runtime of its own) and return what it printed.

    For what a shared in-process runtime cannot show: the state before `init()`, other buckets, `__main__`.
    """
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout
