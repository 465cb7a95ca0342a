"""The per-thread shards: exact sums, bucket placement, layout changes."""

from __future__ import annotations

import threading

from autometrics_lsp.runtime.names import DEFAULT_BUCKETS
from autometrics_lsp.runtime.store import ShardStore, fold_bucket_counts

BOUNDS = (0.1, 1.0, 10.0)


def test_a_call_lands_in_the_first_bucket_whose_bound_is_not_below_it() -> None:
    store = ShardStore(BOUNDS)
    for elapsed in (0.05, 0.1, 0.5, 1.0, 10.0, 11.0):
        store.record_ok(None, elapsed)

    totals = store.totals()

    assert totals.bucket_counts == [2, 2, 1, 1]  # le=0.1, le=1, le=10, +Inf (not cumulative)
    assert totals.seconds == 0.05 + 0.1 + 0.5 + 1.0 + 10.0 + 11.0
    assert totals.ok == {None: 6}


def test_errors_are_counted_by_caller_and_type_and_still_timed() -> None:
    store = ShardStore(BOUNDS)
    caller = object()
    store.record_error(caller, "ValueError", 0.2)
    store.record_error(caller, "ValueError", 0.2)
    store.record_error(None, "KeyError", 0.2)
    store.record_ok(caller, 0.2)

    totals = store.totals()

    assert totals.errors == {(caller, "ValueError"): 2, (None, "KeyError"): 1}
    assert totals.ok == {caller: 1, None: 0}
    assert sum(totals.bucket_counts) == 4


def test_calls_in_progress_sum_over_threads_even_when_a_call_ends_on_another_thread() -> None:
    store = ShardStore(BOUNDS)
    store.enter()
    store.enter()
    finished_elsewhere = threading.Thread(target=store.leave)
    finished_elsewhere.start()
    finished_elsewhere.join()

    assert store.totals().in_flight == 1


def test_shards_of_threads_that_ended_are_still_summed() -> None:
    store = ShardStore(BOUNDS)

    def work() -> None:
        for _ in range(1000):
            store.record_ok(None, 0.01)

    for _ in range(5):  # one after the other, so later threads may reuse an ended thread's ident
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()

    assert store.totals().ok == {None: 5000}


def test_a_layout_change_keeps_every_call() -> None:
    store = ShardStore(BOUNDS)
    store.record_ok(None, 0.05)
    store.record_ok(None, 5.0)

    store.relayout((0.1, 0.5, 1.0, 10.0))
    store.record_ok(None, 0.3)

    totals = store.totals()
    assert totals.bounds == (0.1, 0.5, 1.0, 10.0)
    assert totals.bucket_counts == [1, 1, 0, 1, 0]
    assert totals.ok == {None: 3}


def test_folding_into_a_finer_layout_that_keeps_the_old_bounds_is_exact() -> None:
    assert fold_bucket_counts([3, 2, 1, 4], BOUNDS, (0.05, 0.1, 0.5, 1.0, 10.0)) == [0, 3, 0, 2, 1, 4]


def test_folding_into_a_coarser_layout_never_makes_a_call_look_faster() -> None:
    # 0.1 -> bucket le=0.25 (the first bound >= 0.1); 1.0 -> le=2.5; 10 -> +Inf (no bound >= 10).
    assert fold_bucket_counts([3, 2, 1, 4], BOUNDS, (0.25, 2.5)) == [3, 2, 5]


def test_default_buckets_end_with_infinity_as_the_last_count() -> None:
    store = ShardStore(DEFAULT_BUCKETS)
    store.record_ok(None, 60.0)

    assert store.totals().bucket_counts[-1] == 1
    assert len(store.totals().bucket_counts) == len(DEFAULT_BUCKETS) + 1
