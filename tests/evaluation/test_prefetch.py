"""`prefetched`: work on the next item in a background thread, results in order."""
from __future__ import annotations

import threading

import pytest

from nipkit.evaluation.prefetch import prefetched


def test_results_come_in_order_from_a_background_thread():
    threads = []

    def work(index, value):
        threads.append(threading.current_thread().name)
        return index * value

    assert list(prefetched(work, enumerate([5, 6, 7, 8]), ahead=1)) == [0, 6, 14, 24]
    assert all(name.startswith("nipkit-prefetch") for name in threads)


def test_no_more_than_ahead_items_are_taken_before_the_first_result():
    taken = []

    def items():
        for i in range(10):
            taken.append(i)
            yield (i,)

    results = prefetched(lambda i: i, items(), ahead=2)
    assert next(results) == 0 and taken == [0, 1, 2]
    assert list(results) == list(range(1, 10))


def test_ahead_zero_runs_in_the_callers_thread():
    names = list(prefetched(lambda: threading.current_thread().name, [(), ()], ahead=0))
    assert names == [threading.current_thread().name] * 2


def test_an_error_in_the_work_reaches_the_caller_at_its_item():
    def work(i):
        if i == 2:
            raise ValueError("item 2 is bad")
        return i

    results = prefetched(work, [(i,) for i in range(4)], ahead=1)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="item 2 is bad"):
        next(results)


def test_negative_ahead_is_refused():
    with pytest.raises(ValueError, match="ahead must be >= 0"):
        list(prefetched(lambda: 0, [()], ahead=-1))
