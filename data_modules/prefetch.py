"""Read ahead in background threads: the next items (decoded face crops) are prepared while the caller
computes on the current one. Decoding, OpenCV and torch kernels release the GIL, so threads overlap."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_ahead(fn: Callable[[T], R], items: Iterable[T], depth: int, threads: int = 1) -> Iterator[R]:
    """fn(item) for each item, in order, computed up to `depth` items ahead by `threads` background threads
    (depth 0: inline). An exception raised by fn is raised here, at its item."""
    if depth <= 0:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="read-ahead") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # an early stop: drop what was not started yet
                future.cancel()
