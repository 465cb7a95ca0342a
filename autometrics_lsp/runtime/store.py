"""Lock-free call accounting for one function in one process: per-thread shards, summed at scrape time.

Calling prometheus_client on every call costs more than our whole budget (a labelled `inc()` ~0.7 us, an
`observe()` ~1.5 us), so a call only bumps plain integers in a shard owned by the calling thread. Each shard has
exactly one writer at a time: shards are keyed by thread ident, and an ident is reused only after its thread
has ended, so a new thread simply continues the dead one's shard and nothing recorded is ever dropped. The
scrape reads copies of the shards (copying a list or dict is atomic under the GIL) and sums them.

The bucket layout can change once the runtime is initialised with custom buckets (decoration, and so the
first calls, usually happen before `init()`). Shards keep the layout they were created with; a layout change
retires the current shards, and their counts are folded into the new layout when summed.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from threading import get_ident

Caller = Hashable  # the caller's FunctionMetrics, or None at the top of the stack


class CallerCell:
    """One thread's calls from one caller: ok count, histogram bucket counts (not cumulative, +Inf last), sum."""

    __slots__ = ("bucket_counts", "ok", "seconds")

    def __init__(self, bucket_count: int) -> None:
        self.ok = 0
        self.bucket_counts = [0] * bucket_count
        self.seconds = 0.0


class Shard:
    __slots__ = ("bounds", "cells", "errors", "in_flight")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.cells: dict[Caller, CallerCell] = {}
        self.errors: dict[tuple[Caller, str], int] = {}
        self.in_flight = 0

    def new_cell(self, caller: Caller) -> CallerCell:
        cell = self.cells[caller] = CallerCell(len(self.bounds) + 1)
        return cell


@dataclass
class CallTotals:
    """What one function recorded, summed over threads: the numbers a scrape reports."""

    bounds: tuple[float, ...]
    ok: dict[Caller, int] = field(default_factory=dict)
    errors: dict[tuple[Caller, str], int] = field(default_factory=dict)
    bucket_counts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    in_flight: int = 0

    def __post_init__(self) -> None:
        if not self.bucket_counts:
            self.bucket_counts = [0] * (len(self.bounds) + 1)


def fold_bucket_counts(
    counts: Sequence[int], old_bounds: Sequence[float], new_bounds: Sequence[float]
) -> list[int]:
    """Re-express bucket counts in another layout: each old bucket moves whole to the new bucket holding its bound.

    Exact when the old bounds are among the new ones; otherwise a call can only appear slower, never faster.
    """
    folded = [0] * (len(new_bounds) + 1)
    for index, count in enumerate(counts):
        target = len(new_bounds) if index == len(old_bounds) else bisect_left(new_bounds, old_bounds[index])
        folded[target] += count
    return folded


class ShardStore:
    """The calls of one function in this process (the single-process mode)."""

    __slots__ = ("_bounds", "_lock", "_retired", "shards")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        # Written only under _lock (creating or retiring shards); read without it on every call.
        self.shards: dict[int, Shard] = {}
        self._retired: list[Shard] = []
        self._bounds = bounds
        self._lock = threading.Lock()

    def shard(self) -> Shard:
        return self.shards.get(get_ident()) or self.new_shard()

    def new_shard(self) -> Shard:
        """The calling thread's first shard (or first since a layout change)."""
        with self._lock:
            shard = self.shards[get_ident()] = Shard(self._bounds)
            return shard

    def record_ok(self, caller: Caller, elapsed: float) -> None:
        # wrappers.py inlines this body in its hot paths: keep them alike.
        shard = self.shards.get(get_ident()) or self.new_shard()
        cell = shard.cells.get(caller) or shard.new_cell(caller)
        cell.ok += 1
        bounds = shard.bounds
        cell.bucket_counts[0 if elapsed <= bounds[0] else bisect_left(bounds, elapsed)] += 1
        cell.seconds += elapsed

    def record_error(self, caller: Caller, error_type: str, elapsed: float) -> None:
        shard = self.shards.get(get_ident()) or self.new_shard()
        key = (caller, error_type)
        shard.errors[key] = shard.errors.get(key, 0) + 1
        cell = shard.cells.get(caller) or shard.new_cell(caller)
        cell.bucket_counts[bisect_left(shard.bounds, elapsed)] += 1
        cell.seconds += elapsed

    def enter(self) -> None:
        self.shard().in_flight += 1

    def leave(self) -> None:
        self.shard().in_flight -= 1

    def relayout(self, bounds: tuple[float, ...]) -> None:
        with self._lock:
            if bounds == self._bounds:
                return
            self._bounds = bounds
            self._retired.extend(self.shards.values())
            self.shards.clear()

    def totals(self) -> CallTotals:
        with self._lock:
            bounds = self._bounds
            shards = [*self.shards.values(), *self._retired]
        return sum_shards(shards, bounds)


def sum_shards(shards: Iterable[Shard], bounds: tuple[float, ...]) -> CallTotals:
    totals = CallTotals(bounds)
    for shard in shards:
        for caller, cell in shard.cells.copy().items():
            totals.ok[caller] = totals.ok.get(caller, 0) + cell.ok
            counts = cell.bucket_counts.copy()
            if shard.bounds != bounds:
                counts = fold_bucket_counts(counts, shard.bounds, bounds)
            totals.bucket_counts = [a + b for a, b in zip(totals.bucket_counts, counts)]
            totals.seconds += cell.seconds
        for key, count in shard.errors.copy().items():
            totals.errors[key] = totals.errors.get(key, 0) + count
        totals.in_flight += shard.in_flight
    return totals
