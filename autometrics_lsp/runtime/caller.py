"""Which instrumented function is running: the source of the `caller_function` / `caller_module` labels.

Every instrumented call sets `CURRENT_FUNCTION` for its own duration, so a callee reads its caller from it. A
ContextVar follows asyncio: a task copies the context of the code that created it, so coroutines run through
`asyncio.gather`, `create_task` or `TaskGroup` see the function that started them as their caller. Threads do
not inherit contexts; two ways carry the caller into a worker thread:

- `carry_caller(fn)`: wraps `fn` so it runs with the caller of the code that wrapped it, e.g.
  `executor.submit(carry_caller(fn), *args)` or `executor.map(carry_caller(fn), items)`. The same wrapped
  callable may run in several threads at once.
- `contextvars.copy_context().run`: carries every context variable, e.g.
  `executor.submit(contextvars.copy_context().run, fn, *args)`. Each copy may be entered by one thread at a
  time, so copy once per submitted call. (`asyncio.to_thread` already does this.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

# Holds the running instrumented function's `FunctionMetrics` (typed loosely: that module imports this one).
CURRENT_FUNCTION: ContextVar[object | None] = ContextVar("autometrics_current_function", default=None)

P = ParamSpec("P")
R = TypeVar("R")


def carry_caller(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap `fn` to run, in whatever thread calls it, as if called by the instrumented function running now."""
    captured = CURRENT_FUNCTION.get()

    @functools.wraps(fn)
    def run_as_captured_caller(*args: P.args, **kwargs: P.kwargs) -> R:
        token = CURRENT_FUNCTION.set(captured)
        try:
            return fn(*args, **kwargs)
        finally:
            CURRENT_FUNCTION.reset(token)

    return run_as_captured_caller
