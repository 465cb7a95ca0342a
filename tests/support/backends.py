"""Backends for tests: real ones closed after each test, and a recording stand-in for the use-case tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from autometrics_lsp.backend import BackendError, PrometheusBackend, Query, QueryResult, Sample
from autometrics_lsp.engine import Engine
from autometrics_lsp.settings import Settings


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., PrometheusBackend]]:
    """Backends built in a test are closed after it, whatever happens."""
    made: list[PrometheusBackend] = []

    def make(settings: Settings, **options: object) -> PrometheusBackend:
        made.append(PrometheusBackend(settings, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for backend in made:
        await backend.aclose()


def only_error(result: object) -> BackendError:
    assert isinstance(result, BackendError), f"expected a BackendError, got {result!r}"
    return result


class RecordingBackend:
    """Answers every query with the same samples, or fails; keeps each round of queries it was asked."""

    def __init__(self, samples: list[Sample], failure: BackendError | None = None) -> None:
        self.samples = samples
        self.failure = failure
        self.rounds: list[Mapping[str, Query]] = []

    async def run(self, queries: Mapping[str, Query]) -> dict[str, QueryResult]:
        self.rounds.append(queries)
        return {key: self.failure or self.samples for key in queries}


class Answers:
    """Answers each query with what `answers` holds under its key; keeps each round of queries it was asked."""

    def __init__(self, answers: Mapping[str, QueryResult]) -> None:
        self.answers = answers
        self.rounds: list[Mapping[str, Query]] = []

    async def run(self, queries: Mapping[str, Query]) -> dict[str, QueryResult]:
        self.rounds.append(queries)
        return {key: self.answers[key] for key in queries}


def answering(engine: Engine, backend: RecordingBackend) -> RecordingBackend:
    engine.backend = backend  # type: ignore[assignment]  # the use cases only call run()
    return backend
