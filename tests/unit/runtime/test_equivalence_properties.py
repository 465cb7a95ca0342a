"""Properties (hypothesis): a decorated function behaves exactly like the plain one, and its totals are exact.

Behaviour: the same return values (the same objects), the same exceptions (the same objects), the same generator
and async-generator protocol under any sequence of next/send/throw/close, the same outcome when a task is
cancelled. Totals: every call counted exactly once under threads, asyncio tasks, and several processes writing
in multiprocess mode.

Each function under test is defined inside its test, so its series are its own; hypothesis runs many examples
against one definition and the counts are compared as differences.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from autometrics_lsp.runtime import autometrics, names
from tests.unit.runtime.runtime_samples import run_isolated, total

FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=60)


class CustomError(Exception):
    pass


class CustomBaseError(BaseException):
    pass


def counts(registry: CollectorRegistry, function: Callable[..., Any]) -> tuple[float, float]:
    name = function.__qualname__
    return (
        total(registry, names.CALLS_TOTAL, **{names.FUNCTION: name, names.RESULT: names.RESULT_OK}),
        total(registry, names.CALLS_TOTAL, **{names.FUNCTION: name, names.RESULT: names.RESULT_ERROR}),
    )


exceptions = st.one_of(
    st.builds(ValueError, st.text(max_size=5)),
    st.builds(KeyError, st.integers()),
    st.builds(CustomError, st.text(max_size=5)),
    st.builds(CustomBaseError),
    st.builds(KeyboardInterrupt),
)
values = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3), st.just(object()))
# One call: return this value, or raise this exception.
outcomes = st.one_of(st.tuples(st.just("return"), values), st.tuples(st.just("raise"), exceptions))


def observed(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "returned", call()
    except BaseException as raised:  # noqa: BLE001 - KeyboardInterrupt and friends are part of the property
        return "raised", raised


@FIXTURE_OK
@given(plan=st.lists(outcomes, min_size=1, max_size=8))
def test_a_decorated_function_returns_and_raises_the_very_same_objects(
    registry: CollectorRegistry, plan: list[tuple[str, Any]]
) -> None:
    def act(kind: str, payload: Any) -> Any:
        if kind == "raise":
            raise payload
        return payload

    decorated = autometrics(act)
    before = counts(registry, decorated)
    for kind, payload in plan:
        plain_kind, plain_value = observed(lambda: act(kind, payload))
        kind_seen, value_seen = observed(lambda: decorated(kind, payload))
        assert (kind_seen, value_seen) == (plain_kind, plain_value)
        assert value_seen is payload
    errors = sum(kind == "raise" and isinstance(payload, Exception) for kind, payload in plan)
    after = counts(registry, decorated)
    assert (after[0] - before[0], after[1] - before[1]) == (len(plan) - errors, errors)


@FIXTURE_OK
@given(plan=st.lists(outcomes, min_size=1, max_size=8))
def test_a_decorated_coroutine_function_returns_and_raises_the_very_same_objects(
    registry: CollectorRegistry, plan: list[tuple[str, Any]]
) -> None:
    async def act(kind: str, payload: Any) -> Any:
        await asyncio.sleep(0)
        if kind == "raise":
            raise payload
        return payload

    decorated = autometrics(act)
    for kind, payload in plan:
        assert observed(lambda: asyncio.run(decorated(kind, payload))) == observed(
            lambda: asyncio.run(act(kind, payload))
        )


# --- generators: any sequence of next / send / throw / close -------------------------------------

operations = st.lists(
    st.one_of(
        st.just(("next", None)),
        st.tuples(st.just("send"), st.integers(-5, 5)),
        st.tuples(st.just("throw"), st.sampled_from((ValueError, KeyError, CustomError))),
        st.just(("close", None)),
    ),
    max_size=12,
)


def transcript_step(outcome: tuple[str, Any], thrown: BaseException | None) -> tuple[str, Any]:
    """An outcome made comparable across two runs: the thrown object itself is named, not compared by value."""
    kind, value = outcome
    if kind == "raised":
        if value is thrown:
            return "raised the thrown object", None
        if isinstance(value, (StopIteration, StopAsyncIteration)):
            return "stopped", getattr(value, "value", None)
        return "raised", (type(value), value.args)
    return kind, value


def counter_generator(limit: int, swallow: bool, result: Any) -> Generator[int, int | None, Any]:
    """Yields running totals of what it is sent; swallows thrown ValueErrors when asked; returns `result`."""
    running = 0
    for _ in range(limit):
        try:
            received = yield running
        except ValueError:
            if not swallow:
                raise
            running -= 100
            continue
        running += received or 0
    return result


def drive(generator: Generator[Any, Any, Any], plan: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    steps = []
    for operation, argument in plan:
        thrown = None
        if operation == "next":
            outcome = observed(lambda: next(generator))
        elif operation == "send":
            outcome = observed(lambda: generator.send(argument))
        elif operation == "throw":
            thrown = argument("thrown")
            outcome = observed(lambda: generator.throw(thrown))
        else:
            outcome = observed(generator.close)
        steps.append(transcript_step(outcome, thrown))
    return steps


@FIXTURE_OK
@given(limit=st.integers(0, 4), swallow=st.booleans(), result=values, plan=operations)
def test_a_decorated_generator_follows_the_same_protocol(
    registry: CollectorRegistry, limit: int, swallow: bool, result: Any, plan: list[tuple[str, Any]]
) -> None:
    decorated = autometrics(counter_generator)
    assert drive(decorated(limit, swallow, result), plan) == drive(counter_generator(limit, swallow, result), plan)


async def counter_async_generator(limit: int, swallow: bool) -> AsyncGenerator[int, int | None]:
    running = 0
    for _ in range(limit):
        await asyncio.sleep(0)
        try:
            received = yield running
        except ValueError:
            if not swallow:
                raise
            running -= 100
            continue
        running += received or 0


async def drive_async(generator: AsyncGenerator[Any, Any], plan: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    steps = []
    for operation, argument in plan:
        thrown = None
        try:
            if operation == "next":
                outcome: tuple[str, Any] = ("returned", await generator.__anext__())
            elif operation == "send":
                outcome = ("returned", await generator.asend(argument))
            elif operation == "throw":
                thrown = argument("thrown")
                outcome = ("returned", await generator.athrow(thrown))
            else:
                outcome = ("returned", await generator.aclose())
        except BaseException as raised:  # noqa: BLE001 - the protocol's exceptions are what is compared
            outcome = ("raised", raised)
        steps.append(transcript_step(outcome, thrown))
    return steps


@FIXTURE_OK
@given(limit=st.integers(0, 4), swallow=st.booleans(), plan=operations)
def test_a_decorated_async_generator_follows_the_same_protocol(
    registry: CollectorRegistry, limit: int, swallow: bool, plan: list[tuple[str, Any]]
) -> None:
    decorated = autometrics(counter_async_generator)

    async def both() -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        return (
            await drive_async(decorated(limit, swallow), plan),
            await drive_async(counter_async_generator(limit, swallow), plan),
        )

    seen, expected = asyncio.run(both())
    assert seen == expected


# --- cancellation ----------------------------------------------------------------------------------


@FIXTURE_OK
@given(suppress=st.booleans(), message=st.one_of(st.none(), st.text(max_size=5)), steps_before=st.integers(0, 3))
def test_a_cancelled_decorated_coroutine_ends_as_the_plain_one_does(
    registry: CollectorRegistry, suppress: bool, message: str | None, steps_before: int
) -> None:
    async def wait_forever(cleaned_up: list[str]) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if suppress:
                return "stopped politely"
            raise
        finally:
            cleaned_up.append("cleanup")
        return "never"

    decorated = autometrics(wait_forever)

    async def cancel(function: Callable[[list[str]], Any]) -> tuple[Any, ...]:
        cleaned_up: list[str] = []
        task = asyncio.ensure_future(function(cleaned_up))
        for _ in range(steps_before + 1):
            await asyncio.sleep(0)
        task.cancel(message)
        try:
            outcome = ("returned", await task)
        except asyncio.CancelledError as cancelled:
            outcome = ("cancelled", cancelled.args)
        return outcome, task.cancelled(), cleaned_up

    before = counts(registry, decorated)
    assert asyncio.run(cancel(decorated)) == asyncio.run(cancel(wait_forever))
    after = counts(registry, decorated)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 0)  # interrupted, not failed


# --- exact totals under concurrency ----------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=10)
@given(threads=st.integers(1, 8), calls=st.integers(1, 300), fail_every=st.integers(2, 7))
def test_totals_are_exact_under_threads(registry: CollectorRegistry, threads: int, calls: int, fail_every: int) -> None:
    @autometrics
    def work(index: int) -> int:
        if index % fail_every == 0:
            raise CustomError(index)
        return index

    before = counts(registry, work)
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        for index in range(calls):
            try:
                work(index)
            except CustomError:
                pass

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    errors = threads * len(range(0, calls, fail_every))
    after = counts(registry, work)
    assert (after[0] - before[0], after[1] - before[1]) == (threads * calls - errors, errors)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=10)
@given(tasks=st.integers(1, 50), calls=st.integers(1, 40), fail_every=st.integers(2, 7))
def test_totals_are_exact_under_asyncio_tasks(
    registry: CollectorRegistry, tasks: int, calls: int, fail_every: int
) -> None:
    @autometrics
    async def work(index: int) -> int:
        await asyncio.sleep(0)
        if index % fail_every == 0:
            raise CustomError(index)
        return index

    async def worker() -> None:
        for index in range(calls):
            try:
                await work(index)
            except CustomError:
                pass

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(tasks)))

    before = counts(registry, work)
    asyncio.run(main())
    errors = tasks * len(range(0, calls, fail_every))
    after = counts(registry, work)
    assert (after[0] - before[0], after[1] - before[1]) == (tasks * calls - errors, errors)


SEVERAL_PROCESSES = """
    import json, os, threading
    from prometheus_client import CollectorRegistry
    from autometrics_lsp.runtime import autometrics, init

    PROCESSES, THREADS, CALLS, FAIL_EVERY = {processes}, {threads}, {calls}, {fail_every}

    @autometrics
    def work(index):
        if index % FAIL_EVERY == 0:
            raise ValueError(index)
        return index

    def calls_in_threads():
        def worker():
            for index in range(CALLS):
                try:
                    work(index)
                except ValueError:
                    pass
        pool = [threading.Thread(target=worker) for _ in range(THREADS)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

    registry = CollectorRegistry()
    init(registry=registry, service_name="several-processes")
    children = []
    for _ in range(PROCESSES):
        child = os.fork()
        if child == 0:
            calls_in_threads()
            os._exit(0)
        children.append(child)
    for child in children:
        _, status = os.waitpid(child, 0)
        assert status == 0, status
    totals = {{"ok": 0, "error": 0}}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "function_calls_total" and sample.labels.get("function") == "work":
                totals[sample.labels["result"]] += sample.value
    print(json.dumps(totals))
"""


@settings(deadline=None, max_examples=3)
@given(processes=st.integers(2, 4), threads=st.integers(1, 3), calls=st.integers(1, 200), fail_every=st.integers(2, 5))
def test_totals_are_exact_over_several_processes_in_multiprocess_mode(
    tmp_path_factory: pytest.TempPathFactory, processes: int, threads: int, calls: int, fail_every: int
) -> None:
    directory: Path = tmp_path_factory.mktemp("multiproc")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AUTOMETRICS_", "OTEL_"))}
    printed = run_isolated(
        SEVERAL_PROCESSES.format(processes=processes, threads=threads, calls=calls, fail_every=fail_every),
        env={**environment, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    assert list(directory.glob("*.db")), "the processes should have written multiprocess files"
    errors = processes * threads * len(range(0, calls, fail_every))
    assert json.loads(printed) == {"ok": processes * threads * calls - errors, "error": errors}
