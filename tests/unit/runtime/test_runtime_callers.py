"""caller_function / caller_module: the nearest instrumented function up the stack, across tasks and threads."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry
from tests.unit.runtime.runtime_samples import samples

from autometrics_lsp.runtime import autometrics, carry_caller, names


def callers_of(registry: CollectorRegistry, function: str) -> dict[tuple[str, str], float]:
    """Calls of `function` by (caller_function, caller_module), leaving out zero series."""
    counted: dict[tuple[str, str], float] = {}
    for sample in samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: function}):
        if sample.value:
            key = (sample.labels[names.CALLER_FUNCTION], sample.labels[names.CALLER_MODULE])
            counted[key] = counted.get(key, 0) + sample.value
    return counted


TOP = ("", "")


def test_the_nearest_instrumented_function_is_the_caller(registry: CollectorRegistry) -> None:
    @autometrics
    def leaf() -> None:
        pass

    def not_instrumented() -> None:
        leaf()

    @autometrics
    def handler() -> None:
        leaf()
        not_instrumented()

    handler()
    leaf()

    assert callers_of(registry, leaf.__qualname__) == {(handler.__qualname__, __name__): 2, TOP: 1}
    assert callers_of(registry, handler.__qualname__) == {TOP: 1}


def test_the_caller_is_restored_after_a_callee_raises(registry: CollectorRegistry) -> None:
    @autometrics
    def failing() -> None:
        raise RuntimeError

    @autometrics
    def after() -> None:
        pass

    @autometrics
    def handler() -> None:
        try:
            failing()
        except RuntimeError:
            pass
        after()

    handler()
    after()

    assert callers_of(registry, after.__qualname__) == {(handler.__qualname__, __name__): 1, TOP: 1}


async def test_tasks_of_asyncio_gather_see_the_function_that_started_them(registry: CollectorRegistry) -> None:
    @autometrics
    async def fetch(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    @autometrics
    async def fan_out() -> list[float]:
        return await asyncio.gather(fetch(0.01), fetch(0), fetch(0.005))

    @autometrics
    async def other() -> float:
        return await fetch(0)

    results = await asyncio.gather(fan_out(), other())

    assert results == [[0.01, 0, 0.005], 0]
    assert callers_of(registry, fetch.__qualname__) == {
        (fan_out.__qualname__, __name__): 3,
        (other.__qualname__, __name__): 1,
    }
    assert callers_of(registry, fan_out.__qualname__) == {TOP: 1}


async def test_a_task_created_inside_keeps_its_creator_as_caller(registry: CollectorRegistry) -> None:
    @autometrics
    async def background() -> None:
        await asyncio.sleep(0)

    @autometrics
    async def spawn() -> asyncio.Task[None]:
        return asyncio.create_task(background())

    await (await spawn())

    assert callers_of(registry, background.__qualname__) == {(spawn.__qualname__, __name__): 1}


def test_a_plain_worker_thread_starts_at_the_top(registry: CollectorRegistry) -> None:
    @autometrics
    def job() -> None:
        pass

    @autometrics
    def submit() -> None:
        thread = threading.Thread(target=job)
        thread.start()
        thread.join()

    submit()

    assert callers_of(registry, job.__qualname__) == {TOP: 1}


def test_carry_caller_takes_the_caller_into_a_thread_pool(registry: CollectorRegistry) -> None:
    @autometrics
    def job(n: int) -> int:
        return n * n

    @autometrics
    def submit(pool: ThreadPoolExecutor) -> list[int]:
        single = pool.submit(carry_caller(job), 3).result()
        return [single, *pool.map(carry_caller(job), range(8))]

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert submit(pool) == [9, *(n * n for n in range(8))]
        pool.submit(job, 1).result()

    assert callers_of(registry, job.__qualname__) == {(submit.__qualname__, __name__): 9, TOP: 1}


def test_carry_caller_keeps_the_wrapped_function_s_identity() -> None:
    def job() -> None:
        """Does the job."""

    carried = carry_caller(job)

    assert (carried.__name__, carried.__doc__, carried.__wrapped__) == ("job", "Does the job.", job)


def test_copy_context_run_also_carries_the_caller(registry: CollectorRegistry) -> None:
    @autometrics
    def job() -> None:
        pass

    @autometrics
    def submit(pool: ThreadPoolExecutor) -> None:
        pool.submit(contextvars.copy_context().run, job).result()

    with ThreadPoolExecutor(max_workers=1) as pool:
        submit(pool)

    assert callers_of(registry, job.__qualname__) == {(submit.__qualname__, __name__): 1}


async def test_asyncio_to_thread_carries_the_caller_by_itself(registry: CollectorRegistry) -> None:
    @autometrics
    def blocking() -> None:
        pass

    @autometrics
    async def handler() -> None:
        await asyncio.to_thread(blocking)

    await handler()

    assert callers_of(registry, blocking.__qualname__) == {(handler.__qualname__, __name__): 1}
