"""What `@autometrics` gives back: the same function to its callers, and which methods of a class it wraps."""

from __future__ import annotations

import asyncio
import functools
import inspect
import subprocess
import sys
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.runtime.runtime_samples import total

from autometrics_lsp.runtime import autometrics, skip_autometrics
from autometrics_lsp.runtime.decorator import instrumented_metrics
from autometrics_lsp.runtime.labels import module_label
from autometrics_lsp.runtime.names import CALLS_TOTAL, FUNCTION

MODULE = __name__


def calls_of(registry: CollectorRegistry, qualname: str) -> float:
    return total(registry, CALLS_TOTAL, **{FUNCTION: qualname})


def test_the_wrapper_looks_like_the_function() -> None:
    def add(a: int, b: int = 2, *, scale: float = 1.0) -> float:
        """Adds, then scales."""
        return (a + b) * scale

    wrapped = autometrics(add)

    assert wrapped.__name__ == "add"
    assert wrapped.__qualname__ == add.__qualname__
    assert wrapped.__doc__ == "Adds, then scales."
    assert wrapped.__wrapped__ is add
    assert wrapped.__module__ == MODULE
    assert inspect.signature(wrapped) == inspect.signature(add)
    assert wrapped(1, scale=3) == 9


def test_each_kind_of_function_keeps_its_kind(registry: CollectorRegistry) -> None:
    def plain() -> int:
        return 1

    async def coroutine() -> int:
        return 1

    def generator() -> Iterator[int]:
        yield 1

    async def async_generator() -> AsyncIterator[int]:
        yield 1

    assert not inspect.iscoroutinefunction(autometrics(plain))
    assert inspect.iscoroutinefunction(autometrics(coroutine))
    assert inspect.isgeneratorfunction(autometrics(generator))
    assert inspect.isasyncgenfunction(autometrics(async_generator))


def test_the_very_same_exception_propagates_with_its_traceback() -> None:
    raised: list[BaseException] = []

    def fail() -> None:
        error = ValueError("boom")
        raised.append(error)
        raise error

    with pytest.raises(ValueError) as caught:
        autometrics(fail)()

    assert caught.value is raised[0]
    frames = [frame.name for frame in caught.traceback]
    assert frames[-1] == "fail", "the traceback still ends where the error was raised"


async def test_the_very_same_exception_propagates_from_a_coroutine() -> None:
    error = KeyError("missing")

    @autometrics
    async def fail() -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        await fail()
    assert caught.value is error


def test_decorating_twice_wraps_once(registry: CollectorRegistry) -> None:
    @autometrics
    def once() -> None:
        pass

    assert autometrics(once) is once
    once()
    assert calls_of(registry, once.__qualname__) == 1


def test_a_nested_function_decorated_on_every_outer_call_keeps_one_set_of_series(registry: CollectorRegistry) -> None:
    def outer() -> int:
        @autometrics
        def inner() -> int:
            return 1

        return inner()

    for _ in range(3):
        outer()

    assert calls_of(registry, f"{outer.__qualname__}.<locals>.inner") == 3


class Ledger:
    @autometrics
    def record(self, amount: int) -> int:
        return amount

    @autometrics
    @classmethod
    def opened_below(cls) -> str:
        return cls.__name__

    @classmethod
    @autometrics
    def opened_above(cls) -> str:
        return cls.__name__

    @autometrics
    @staticmethod
    def static_below(x: int) -> int:
        return x

    @staticmethod
    @autometrics
    def static_above(x: int) -> int:
        return x


def test_methods_classmethods_and_staticmethods_in_either_order(registry: CollectorRegistry) -> None:
    ledger = Ledger()

    assert ledger.record(5) == 5
    assert Ledger.opened_below() == "Ledger" and ledger.opened_above() == "Ledger"
    assert Ledger.static_below(1) == 1 and ledger.static_above(2) == 2

    for method in ("record", "opened_below", "opened_above", "static_below", "static_above"):
        assert calls_of(registry, f"Ledger.{method}") == 1, method


def helper_defined_elsewhere(self: object) -> str:
    return "helper"


@autometrics(exclude=("ping",))
class Service:
    """Exercises every clause of the class rule."""

    attribute = 3
    assigned = helper_defined_elsewhere
    shortcut = lambda self: "lambda"

    def __init__(self) -> None:
        self.value = 1

    def __call__(self) -> str:
        return "called"

    def __repr__(self) -> str:
        return "Service()"

    def handle(self) -> str:
        return "handled"

    async def handle_async(self) -> str:
        return "async"

    def _private(self) -> str:
        return "private"

    def __mangled(self) -> str:
        return "mangled"

    def use_mangled(self) -> str:
        return self.__mangled()

    def ping(self) -> str:
        return "pong"

    @skip_autometrics
    def health(self) -> str:
        return "ok"

    @staticmethod
    @skip_autometrics
    def skipped_static() -> str:
        return "static"

    @skip_autometrics
    @classmethod
    def skipped_class(cls) -> str:
        return "class"

    @staticmethod
    def build() -> str:
        return "built"

    @classmethod
    def create(cls) -> Service:
        return cls()

    @autometrics(track_concurrency=True)
    def own_options(self) -> str:
        return "own"

    @property
    def size(self) -> int:
        return 1

    @functools.cached_property
    def cached(self) -> int:
        return 2

    class Inner:
        def method(self) -> str:
            return "inner"


class Child(Service):
    def handle(self) -> str:
        return "child"

    def added(self) -> str:
        return "added"


INSTRUMENTED = {"__call__", "handle", "handle_async", "_private", "_Service__mangled", "use_mangled", "build",
                "create", "own_options"}
NOT_INSTRUMENTED = {"__init__", "__repr__", "ping", "health", "skipped_static", "skipped_class", "assigned",
                    "shortcut"}


def raw_function(cls: type, attribute: str) -> object:
    member = vars(cls)[attribute]
    return member.__func__ if isinstance(member, (staticmethod, classmethod)) else member


@pytest.mark.parametrize("attribute", sorted(INSTRUMENTED))
def test_the_class_rule_instruments(attribute: str) -> None:
    assert instrumented_metrics(raw_function(Service, attribute)) is not None


@pytest.mark.parametrize("attribute", sorted(NOT_INSTRUMENTED))
def test_the_class_rule_leaves_out(attribute: str) -> None:
    assert instrumented_metrics(raw_function(Service, attribute)) is None


def test_the_class_rule_leaves_descriptors_nested_classes_and_subclasses_alone() -> None:
    assert isinstance(vars(Service)["size"], property)
    assert isinstance(vars(Service)["cached"], functools.cached_property)
    assert instrumented_metrics(Service.Inner.method) is None
    assert instrumented_metrics(Child.handle) is None and instrumented_metrics(Child.added) is None


def test_a_method_decorated_on_its_own_keeps_its_own_options() -> None:
    metrics = instrumented_metrics(raw_function(Service, "own_options"))

    assert metrics is not None and metrics.track_concurrency


def test_instrumented_methods_still_work_and_are_counted(registry: CollectorRegistry) -> None:
    service = Service.create()

    assert service() == "called"
    assert service.use_mangled() == "mangled"
    assert asyncio.run(service.handle_async()) == "async"
    assert Service.build() == "built"
    assert (service.health(), service.ping(), repr(service), service.size) == ("ok", "pong", "Service()", 1)

    assert calls_of(registry, "Service.__call__") == 1
    assert calls_of(registry, "Service.__mangled") == 1
    assert calls_of(registry, "Service.handle_async") == 1
    assert calls_of(registry, "Service.create") == 1
    assert calls_of(registry, "Service.health") == 0


def test_a_bare_class_decorator_instruments_its_methods(registry: CollectorRegistry) -> None:
    @autometrics
    class Counter:
        def tick(self) -> int:
            return 1

    Counter().tick()

    assert calls_of(registry, f"{Counter.__qualname__}.tick") == 1


def test_the_module_label_of_main_is_what_was_run() -> None:
    script = types.ModuleType("__main__")
    script.__file__ = "/srv/app/serve.py"
    script.__spec__ = None
    as_module = types.ModuleType("__main__")
    as_module.__spec__ = types.SimpleNamespace(name="shop.cli")  # type: ignore[assignment]
    interactive = types.ModuleType("__main__")
    interactive.__spec__ = None

    assert module_label("__main__", script) == "serve"
    assert module_label("__main__", as_module) == "shop.cli"
    assert module_label("__main__", interactive) == "__main__"
    assert module_label("shop.api", script) == "shop.api"


def test_a_script_run_as_main_is_labelled_by_its_stem(tmp_path: Path) -> None:
    script = tmp_path / "checkout_job.py"
    script.write_text(
        "from autometrics_lsp.runtime import autometrics\n"
        "from autometrics_lsp.runtime.decorator import instrumented_metrics\n"
        "@autometrics\n"
        "def run():\n"
        "    pass\n"
        "metrics = instrumented_metrics(run)\n"
        "print(metrics.module, metrics.function)\n"
    )
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)

    assert completed.stdout.split() == ["checkout_job", "run"]
