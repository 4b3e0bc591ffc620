"""Work one step ahead in a thread of its own, so that waits overlap work.

An import spends about half its time waiting on the database while it writes a batch, and the other half in
Python reading and checking the next one; an export waits on PostgreSQL building a chunk, then parses and writes
it. `read_ahead` runs the producing side in a thread, at most `depth` values ahead of the caller: the thread
works while the caller waits (drivers release the GIL while they wait), and memory stays bounded by `depth`.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")

HAND_OVER_WAIT_S = 600  # a producer whose value is not taken for this long gives up (its consumer is gone)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def read_ahead(produce: Callable[[], Iterator[T]], *, depth: int = 1, name: str = "read-ahead") -> Iterator[T]:
    """The values of `produce()`, in order, made by a thread up to `depth` values ahead of the caller. The
    iterator runs and is closed in that thread (a generator that opens a database connection closes it there).
    An exception raised by it is raised here; when the caller stops early, the thread stops too."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        values = produce()
        try:
            for value in values:
                if not _handed(ready, value, stop):
                    return
            _handed(ready, _DONE, stop)
        except Exception as error:  # raised again in the caller's thread
            _handed(ready, _Failed(error), stop)
        finally:
            close = getattr(values, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=run, name=name, daemon=True)
    producer.start()
    try:
        while (value := _taken(ready, producer)) is not _DONE:
            if isinstance(value, _Failed):
                raise value.error
            yield value
    finally:
        stop.set()
        while producer.is_alive():
            with suppress(queue.Empty):
                ready.get(timeout=0.05)  # room for a producer waiting to hand over a value
        producer.join()


def _handed(ready: queue.Queue, value, stop: threading.Event) -> bool:
    """Put `value` in `ready` once there is room; False when the caller stopped or stopped taking values."""
    deadline = time.monotonic() + HAND_OVER_WAIT_S
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            ready.put(value, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _taken(ready: queue.Queue, producer: threading.Thread):
    """The next value in `ready`, waiting while `producer` lives."""
    while True:
        try:
            return ready.get(timeout=1)
        except queue.Empty:
            if not producer.is_alive():
                with suppress(queue.Empty):
                    return ready.get_nowait()  # handed over just before it ended
                raise RuntimeError(f"The {producer.name} thread ended without handing over its values.") from None
