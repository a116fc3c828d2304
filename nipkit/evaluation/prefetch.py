"""Work on the next item in a background thread while the caller uses this one.

The real-channel evaluation uses it to run the codecs of the next validation batch
(Pillow releases the GIL while it codes) while TensorFlow runs the FAN on this one.

Example:
    >>> list(prefetched(lambda a, b: a + b, [(1, 2), (3, 4)], ahead=1))
    [3, 7]
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")


def prefetched(work: Callable[..., T], items: Iterable[tuple], ahead: int = 1) -> Iterator[T]:
    """`work(*item)` of each item, in order, with up to `ahead` items computed ahead.

    Args:
        work: the function to run on each item's arguments.
        items: argument tuples, consumed lazily (never more than `ahead` + 1 at a time).
        ahead: how many items run ahead in one background thread; 0 runs every item in
            the caller's thread when it is asked for.

    An exception raised by `work` is raised when its item's result is asked for.
    """
    if ahead < 0:
        raise ValueError(f"prefetched: ahead must be >= 0; got {ahead}")
    if ahead == 0:
        yield from (work(*item) for item in items)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nipkit-prefetch") as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, *item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
