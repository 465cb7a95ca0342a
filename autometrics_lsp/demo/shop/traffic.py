"""The traffic loop: calls the shop's entry points at a fixed rate, forever, following the plan."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence

from autometrics_lsp.demo.shop.plan import ENTRY_POINT_CYCLE, EntryPoint

log = logging.getLogger(__name__)


async def run_traffic(rate: float, cycle: Sequence[EntryPoint] = ENTRY_POINT_CYCLE) -> None:
    """Call `cycle[tick % len(cycle)]` at tick n = 0, 1, 2, ..., tick n starting n / rate seconds in.

    Ticks follow the clock rather than the end of the previous call, so the rate holds however long a call
    takes, and async calls overlap as concurrent requests to a real service would.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    in_flight: set[asyncio.Future[object]] = set()
    tick = 0
    while True:
        delay = started + tick / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        entry = cycle[tick % len(cycle)]
        try:
            outcome = entry.function(*entry.arguments(tick // len(cycle)))
        except Exception:
            log.exception("%s failed unexpectedly", entry.function.__qualname__)
        else:
            if inspect.isawaitable(outcome):
                call = asyncio.ensure_future(outcome)
                in_flight.add(call)  # the loop keeps only weak references to tasks
                call.add_done_callback(in_flight.discard)
                call.add_done_callback(_log_unexpected_failure)
        tick += 1


def _log_unexpected_failure(call: asyncio.Future[object]) -> None:
    if not call.cancelled() and call.exception() is not None:
        log.error("an entry point failed unexpectedly", exc_info=call.exception())
