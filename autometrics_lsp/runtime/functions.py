"""One instrumented function: its label values and where its calls are recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from autometrics_lsp.runtime.objectives import Objective


class CallStore(Protocol):
    """Where one function's calls go: `ShardStore` in one process, `MultiprocessStore` across workers.

    `caller` is the caller's `FunctionMetrics`, or None at the top of the stack; `error_type` is the exception's
    class name, or "" when `record_error_if` judged a returned value.
    """

    def record_ok(self, caller: object, elapsed: float) -> None: ...

    def record_error(self, caller: object, error_type: str, elapsed: float) -> None: ...

    def enter(self) -> None: ...

    def leave(self) -> None: ...


@dataclass(eq=False, slots=True)
class FunctionMetrics:
    """Compared by identity: it is the caller key of the calls it makes."""

    function: str
    module: str
    objective: Objective | None
    track_concurrency: bool
    record_error_type: bool | None  # None: as `init(record_error_type=...)` says
    store: CallStore
