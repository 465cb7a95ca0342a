"""Which function a metric series belongs to: the label values the runtime writes for it."""

from __future__ import annotations

from dataclasses import dataclass

from autometrics_lsp.runtime.objectives import Objective


@dataclass(frozen=True)
class FunctionIdentity:
    """One instrumented function as the runtime labels it.

    `function` is the `__qualname__` (`Ledger.record`, `outer.<locals>.inner`), `module` the module's `__name__`.
    `objective` and `track_concurrency` are what the decorator says, when the source says it statically.
    """

    module: str
    function: str
    objective: Objective | None = None
    track_concurrency: bool = False

    @property
    def display_name(self) -> str:
        return f"{self.module}.{self.function}"
