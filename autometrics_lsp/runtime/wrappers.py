"""The wrappers around instrumented functions: the per-call hot path.

A call costs one ContextVar set/reset (so callees see this function as their caller), two `perf_counter()`
readings and a few integer updates in the calling thread's shard (see store.py). Everything that can fail
while recording is caught: a metrics problem is logged once and never reaches the caller. The wrapped
function's own exception propagates untouched (same object, same traceback).

Outcomes: a call that raises an `Exception` is an error, unless `record_success_if(exception)` is true; a
call that returns is ok, unless `record_error_if(value)` is true. A call stopped by a `BaseException` that is
not an `Exception` (task cancellation, KeyboardInterrupt, SystemExit, GeneratorExit) counts as ok: it was
interrupted, it did not fail.

Generators and async generators are one call from their first resumption until they finish: timed over that
whole span (including time the consumer spends between items), an error when the body raises, ok when it
returns or when the consumer closes it early; `record_error_if` sees the `return` value. While the body
runs, it is the caller of what it calls; between items, the consumer's own caller is back in place.
"""

from __future__ import annotations

import functools
import logging
from bisect import bisect_left
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from contextvars import Token
from threading import get_ident
from time import perf_counter
from typing import Any

from autometrics_lsp.runtime.caller import CURRENT_FUNCTION
from autometrics_lsp.runtime.functions import CallStore, FunctionMetrics
from autometrics_lsp.runtime.options import DecoratorOptions
from autometrics_lsp.runtime.store import ShardStore

_log = logging.getLogger(__name__)
_failure_logged = False


def _recording_failed() -> None:
    global _failure_logged
    if not _failure_logged:
        _failure_logged = True
        _log.exception("autometrics: recording a call failed; further failures are not logged")


def _record_return(
    store: CallStore, options: DecoratorOptions, caller: object, value: object, elapsed: float
) -> None:
    try:
        if options.record_error_if is not None and options.record_error_if(value):
            store.record_error(caller, "", elapsed)
        else:
            store.record_ok(caller, elapsed)
    except Exception:
        _recording_failed()


def _record_raise(
    store: CallStore, options: DecoratorOptions, caller: object, failure: BaseException, elapsed: float
) -> None:
    try:
        if isinstance(failure, Exception) and not (
            options.record_success_if is not None and options.record_success_if(failure)
        ):
            store.record_error(caller, type(failure).__name__, elapsed)
        else:
            store.record_ok(caller, elapsed)
    except Exception:
        _recording_failed()


def _enter(store: CallStore) -> None:
    try:
        store.enter()
    except Exception:
        _recording_failed()


def _leave(store: CallStore) -> None:
    try:
        store.leave()
    except Exception:
        _recording_failed()


def _restore_caller(token: Token[object | None]) -> None:
    # Only a coroutine driven from two contexts by hand could make this fail; never let that reach the caller.
    try:
        CURRENT_FUNCTION.reset(token)
    except (ValueError, RuntimeError):
        _recording_failed()


def instrument_function(
    fn: Callable[..., Any], metrics: FunctionMetrics, options: DecoratorOptions
) -> Callable[..., Any]:
    store = metrics.store
    if isinstance(store, ShardStore) and not metrics.track_concurrency and options.record_error_if is None:
        return _instrument_plain_function(fn, metrics, options, store)
    current_caller = CURRENT_FUNCTION.get
    become_caller = CURRENT_FUNCTION.set
    restore_caller = CURRENT_FUNCTION.reset

    @functools.wraps(fn)
    def instrumented(*args: Any, **kwargs: Any) -> Any:
        caller = current_caller()
        token = become_caller(metrics)
        if metrics.track_concurrency:
            _enter(store)
        start = perf_counter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as failure:
            elapsed = perf_counter() - start
            restore_caller(token)
            if metrics.track_concurrency:
                _leave(store)
            _record_raise(store, options, caller, failure, elapsed)
            raise
        elapsed = perf_counter() - start
        restore_caller(token)
        if metrics.track_concurrency:
            _leave(store)
        _record_return(store, options, caller, result, elapsed)
        return result

    return instrumented


def _instrument_plain_function(
    fn: Callable[..., Any], metrics: FunctionMetrics, options: DecoratorOptions, store: ShardStore
) -> Callable[..., Any]:
    """The common case (one process, no concurrency gauge, no `record_error_if`), with `store.record_ok` inlined:
    the method call alone would cost a tenth of the per-call budget."""
    shards = store.shards
    new_shard = store.new_shard
    current_caller = CURRENT_FUNCTION.get
    become_caller = CURRENT_FUNCTION.set
    restore_caller = CURRENT_FUNCTION.reset

    @functools.wraps(fn)
    def instrumented(*args: Any, **kwargs: Any) -> Any:
        caller = current_caller()
        token = become_caller(metrics)
        start = perf_counter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as failure:
            elapsed = perf_counter() - start
            restore_caller(token)
            _record_raise(store, options, caller, failure, elapsed)
            raise
        elapsed = perf_counter() - start
        restore_caller(token)
        try:
            shard = shards.get(get_ident()) or new_shard()
            cell = shard.cells.get(caller) or shard.new_cell(caller)
            cell.ok += 1
            bounds = shard.bounds
            cell.bucket_counts[0 if elapsed <= bounds[0] else bisect_left(bounds, elapsed)] += 1
            cell.seconds += elapsed
        except Exception:
            _recording_failed()
        return result

    return instrumented


def instrument_coroutine_function(
    fn: Callable[..., Coroutine[Any, Any, Any]], metrics: FunctionMetrics, options: DecoratorOptions
) -> Callable[..., Coroutine[Any, Any, Any]]:
    store = metrics.store
    if isinstance(store, ShardStore) and not metrics.track_concurrency and options.record_error_if is None:
        return _instrument_plain_coroutine_function(fn, metrics, options, store)
    current_caller = CURRENT_FUNCTION.get
    become_caller = CURRENT_FUNCTION.set

    @functools.wraps(fn)
    async def instrumented(*args: Any, **kwargs: Any) -> Any:
        caller = current_caller()
        token = become_caller(metrics)
        if metrics.track_concurrency:
            _enter(store)
        start = perf_counter()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as failure:
            elapsed = perf_counter() - start
            _restore_caller(token)
            if metrics.track_concurrency:
                _leave(store)
            _record_raise(store, options, caller, failure, elapsed)
            raise
        elapsed = perf_counter() - start
        _restore_caller(token)
        if metrics.track_concurrency:
            _leave(store)
        _record_return(store, options, caller, result, elapsed)
        return result

    return instrumented


def _instrument_plain_coroutine_function(
    fn: Callable[..., Coroutine[Any, Any, Any]], metrics: FunctionMetrics, options: DecoratorOptions, store: ShardStore
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """As `_instrument_plain_function`, for coroutine functions."""
    shards = store.shards
    new_shard = store.new_shard
    current_caller = CURRENT_FUNCTION.get
    become_caller = CURRENT_FUNCTION.set
    restore_caller = CURRENT_FUNCTION.reset

    @functools.wraps(fn)
    async def instrumented(*args: Any, **kwargs: Any) -> Any:
        caller = current_caller()
        token = become_caller(metrics)
        start = perf_counter()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as failure:
            elapsed = perf_counter() - start
            try:
                restore_caller(token)
            except (ValueError, RuntimeError):  # as in _restore_caller, inlined: a call costs ~75 ns here
                _recording_failed()
            _record_raise(store, options, caller, failure, elapsed)
            raise
        elapsed = perf_counter() - start
        try:
            restore_caller(token)
        except (ValueError, RuntimeError):
            _recording_failed()
        try:
            shard = shards.get(get_ident()) or new_shard()
            cell = shard.cells.get(caller) or shard.new_cell(caller)
            cell.ok += 1
            bounds = shard.bounds
            cell.bucket_counts[0 if elapsed <= bounds[0] else bisect_left(bounds, elapsed)] += 1
            cell.seconds += elapsed
        except Exception:
            _recording_failed()
        return result

    return instrumented


def instrument_generator_function(
    fn: Callable[..., Generator[Any, Any, Any]], metrics: FunctionMetrics, options: DecoratorOptions
) -> Callable[..., Generator[Any, Any, Any]]:
    store = metrics.store

    @functools.wraps(fn)
    def instrumented(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        caller = CURRENT_FUNCTION.get()
        if metrics.track_concurrency:
            _enter(store)
        start = perf_counter()
        try:
            generator = fn(*args, **kwargs)  # runs none of the body yet
            resume: Callable[[Any], Any] = generator.send
            resume_with: Any = None
            while True:
                token = CURRENT_FUNCTION.set(metrics)
                try:
                    item = resume(resume_with)
                finally:
                    _restore_caller(token)
                try:
                    resume_with = yield item
                except GeneratorExit:
                    token = CURRENT_FUNCTION.set(metrics)
                    try:
                        generator.close()
                    finally:
                        _restore_caller(token)
                    raise
                except BaseException as thrown:
                    resume, resume_with = generator.throw, thrown
                else:
                    resume = generator.send
        except StopIteration as finished:
            _finish(store, metrics, options, caller, start, value=finished.value)
            return finished.value
        except BaseException as failure:
            _finish(store, metrics, options, caller, start, failure=failure)
            raise

    return instrumented


def instrument_async_generator_function(
    fn: Callable[..., AsyncGenerator[Any, Any]], metrics: FunctionMetrics, options: DecoratorOptions
) -> Callable[..., AsyncGenerator[Any, Any]]:
    store = metrics.store

    @functools.wraps(fn)
    async def instrumented(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        caller = CURRENT_FUNCTION.get()
        if metrics.track_concurrency:
            _enter(store)
        start = perf_counter()
        try:
            generator = fn(*args, **kwargs)  # runs none of the body yet
            resume: Callable[[Any], Any] = generator.asend
            resume_with: Any = None
            while True:
                token = CURRENT_FUNCTION.set(metrics)
                try:
                    item = await resume(resume_with)
                finally:
                    _restore_caller(token)
                try:
                    resume_with = yield item
                except GeneratorExit:
                    token = CURRENT_FUNCTION.set(metrics)
                    try:
                        await generator.aclose()
                    finally:
                        _restore_caller(token)
                    raise
                except BaseException as thrown:
                    resume, resume_with = generator.athrow, thrown
                else:
                    resume = generator.asend
        except StopAsyncIteration:
            _finish(store, metrics, options, caller, start, value=None)
        except BaseException as failure:
            _finish(store, metrics, options, caller, start, failure=failure)
            raise

    return instrumented


def _finish(
    store: CallStore,
    metrics: FunctionMetrics,
    options: DecoratorOptions,
    caller: object,
    start: float,
    *,
    value: object = None,
    failure: BaseException | None = None,
) -> None:
    elapsed = perf_counter() - start
    if metrics.track_concurrency:
        _leave(store)
    if failure is None:
        _record_return(store, options, caller, value, elapsed)
    else:
        _record_raise(store, options, caller, failure, elapsed)
