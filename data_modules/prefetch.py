"""Read ahead in a background thread: the next items (decoded face crops) are prepared while the caller
computes on the current one (decoding and OpenCV release the GIL, as do torch kernels)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int) -> Iterator[T]:
    """The items of `items`, in order, produced up to `depth` ahead in a thread (depth 0: in this thread).
    An exception in the producer is raised here, at the item where it happened."""
    if depth <= 0:
        yield from items
        return
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put((item, None))
        except BaseException as err:  # handed to the consumer, which re-raises it
            slots.put((_DONE, err))
            return
        slots.put((_DONE, None))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, err = slots.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue, then let it end
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
