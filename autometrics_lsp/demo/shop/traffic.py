"""The traffic loop: calls the shop's entry points at a fixed rate, forever, following the plan."""

from __future__ import annotations

import asyncio
import inspect
import logging

from autometrics_lsp.demo.shop.plan import ENTRY_POINT_CYCLE

log = logging.getLogger(__name__)


async def run_traffic(rate: float) -> None:
    """At tick n = 0, 1, 2, ..., n / rate seconds in, call the next entry point of `ENTRY_POINT_CYCLE`.

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
        entry = ENTRY_POINT_CYCLE[tick % len(ENTRY_POINT_CYCLE)]
        try:
            outcome = entry.function(*entry.arguments(tick // len(ENTRY_POINT_CYCLE)))
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
