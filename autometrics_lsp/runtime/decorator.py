"""`@autometrics` and `@skip_autometrics`.

`@autometrics` goes on a function, coroutine function, generator function, async generator function, method,
classmethod or staticmethod (above or below `@classmethod` / `@staticmethod`), bare or with options:
`@autometrics(objective=..., track_concurrency=..., record_error_if=..., record_success_if=...,
record_error_type=...)`. The wrapper keeps the function's name, qualname, docstring, signature and
`__wrapped__`, and is still a coroutine / generator / async generator function where the function was one.
Decorating an instrumented function again returns it unchanged: each call is counted once.

The `function` label is the `__qualname__`, the `module` label the `__module__` (for `__main__`, see
`labels.module_label`).

On a class, `@autometrics` (or `@autometrics(..., exclude=("name", ...))`) instruments the methods of the
class body by this rule, which the language server reproduces statically:

    Every attribute of the class's own `__dict__` (inherited methods are left alone) that is a function, or a
    staticmethod or classmethod of a function, whose `__qualname__` is `<class __qualname__>.<its __name__>`
    (so it was written as `def` / `async def` directly in this class body: no lambdas, no functions assigned
    from elsewhere, no nested classes), except:
      - names that start and end with `__` (dunder methods), other than `__call__`;
      - names listed in `exclude` (the attribute name, or the name written after `def`);
      - functions marked `@skip_autometrics`;
      - functions already instrumented (for example by their own `@autometrics(...)`, whose options win).
    Properties, `functools.cached_property` / `lru_cache` / `cache` and other non-function descriptors are
    not functions, so they are left alone.

The class-level options apply to each method instrumented this way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from types import FunctionType
from typing import Any, TypeVar, overload

from autometrics_lsp.runtime.core import RUNTIME
from autometrics_lsp.runtime.functions import FunctionMetrics
from autometrics_lsp.runtime.labels import module_label
from autometrics_lsp.runtime.objectives import Objective
from autometrics_lsp.runtime.options import (
    DecoratorOptions,
    ExceptionPredicate,
    ValuePredicate,
    check_objective,
    validated_options,
)
from autometrics_lsp.runtime.wrappers import (
    instrument_async_generator_function,
    instrument_coroutine_function,
    instrument_function,
    instrument_generator_function,
)

T = TypeVar("T")

INSTRUMENTED_ATTRIBUTE = "__autometrics__"  # on a wrapper: its FunctionMetrics
SKIP_ATTRIBUTE = "__autometrics_skip__"


@overload
def autometrics(target: T, /) -> T: ...


@overload
def autometrics(
    *,
    objective: Objective | None = None,
    track_concurrency: bool = False,
    record_error_if: ValuePredicate | None = None,
    record_success_if: ExceptionPredicate | None = None,
    record_error_type: bool | None = None,
    exclude: tuple[str, ...] | frozenset[str] = (),
) -> Callable[[T], T]: ...


def autometrics(
    target: Any = None,
    /,
    *,
    objective: Objective | None = None,
    track_concurrency: bool = False,
    record_error_if: ValuePredicate | None = None,
    record_success_if: ExceptionPredicate | None = None,
    record_error_type: bool | None = None,
    exclude: tuple[str, ...] | frozenset[str] = (),
) -> Any:
    """Record calls, errors, latency (and optionally calls in progress) of a function or a class's methods.

    `objective`: an `Objective` whose latency threshold must be a bucket bound. `record_error_if(value)`: a
    returned value that counts as an error. `record_success_if(exception)`: a raised exception that counts as
    ok. `record_error_type`: add the exception's class name as the `error` label on failures (None: as
    `init()` says); class names keep the number of series bounded, messages never become labels.
    `exclude`: on a class, method names to leave out.
    """
    options = validated_options(
        objective=objective,
        track_concurrency=track_concurrency,
        record_error_if=record_error_if,
        record_success_if=record_success_if,
        record_error_type=record_error_type,
        exclude=exclude,
    )
    if options.objective is not None:
        check_objective(options.objective, RUNTIME.buckets, stacklevel=2)

    def decorate(decorated: T) -> T:
        instrumented: T = _instrument(decorated, options)
        return instrumented

    return decorate if target is None else decorate(target)


def skip_autometrics(target: T) -> T:
    """Leave a method out when its class is decorated with `@autometrics`."""
    function = target.__func__ if isinstance(target, (staticmethod, classmethod)) else target
    if not callable(function):
        raise TypeError(f"@skip_autometrics goes on a method, got {target!r}")
    setattr(function, SKIP_ATTRIBUTE, True)
    return target


def instrumented_metrics(function: object) -> FunctionMetrics | None:
    """The FunctionMetrics behind an instrumented function, or None."""
    return getattr(function, INSTRUMENTED_ATTRIBUTE, None)


def _instrument(target: Any, options: DecoratorOptions) -> Any:
    if isinstance(target, type):
        return _instrument_class(target, options)
    if options.exclude:
        raise TypeError("exclude=... applies to classes; leave a function out by not decorating it")
    if isinstance(target, (staticmethod, classmethod)):
        return type(target)(_instrument(target.__func__, options))
    if not callable(target):
        raise TypeError(f"@autometrics goes on a function, method or class, got {target!r}")
    if instrumented_metrics(target) is not None:
        return target

    metrics = RUNTIME.function_metrics(
        function=getattr(target, "__qualname__", None) or type(target).__qualname__,
        module=module_label(getattr(target, "__module__", None) or type(target).__module__),
        objective=options.objective,
        track_concurrency=options.track_concurrency,
        record_error_type=options.record_error_type,
    )
    wrapper: Callable[..., Any]
    if inspect.isasyncgenfunction(target):
        wrapper = instrument_async_generator_function(target, metrics, options)
    elif inspect.iscoroutinefunction(target):
        wrapper = instrument_coroutine_function(target, metrics, options)
    elif inspect.isgeneratorfunction(target):
        wrapper = instrument_generator_function(target, metrics, options)
    else:
        wrapper = instrument_function(target, metrics, options)
    setattr(wrapper, INSTRUMENTED_ATTRIBUTE, metrics)
    return wrapper


def _instrument_class(cls: type, options: DecoratorOptions) -> type:
    method_options = replace(options, exclude=frozenset())
    for attribute, member in list(vars(cls).items()):
        function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
        if _is_instrumentable_method(cls, attribute, function, options.exclude):
            setattr(cls, attribute, _instrument(member, method_options))
    return cls


def _is_instrumentable_method(cls: type, attribute: str, function: object, exclude: frozenset[str]) -> bool:
    if not isinstance(function, FunctionType):
        return False
    defined_in_body = function.__name__ != "<lambda>" and function.__qualname__ == f"{cls.__qualname__}.{function.__name__}"
    is_dunder = attribute.startswith("__") and attribute.endswith("__") and attribute != "__call__"
    return (
        defined_in_body
        and not is_dunder
        and attribute not in exclude
        and function.__name__ not in exclude
        and not getattr(function, SKIP_ATTRIBUTE, False)
        and instrumented_metrics(function) is None
    )
