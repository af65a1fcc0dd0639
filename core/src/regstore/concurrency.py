"""A concurrency regulator: at most `limit` blocking operations at once.

distribution wraps its filesystem driver in `base.NewRegulator(driver,
maxthreads)` so a burst of requests cannot exhaust the OS threads that block
in syscalls. Python threads are cheaper, but the same burst can still exhaust
file descriptors or saturate a disk, so drivers hold a `Regulator` around
each blocking call.
"""

from __future__ import annotations

import queue
from types import TracebackType

__all__ = ["Regulator"]


class Regulator:
    """A context manager admitting at most `limit` holders at once."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"regulator limit must be at least 1, not {limit}")
        self.limit = limit
        # A queue of tokens rather than threading.BoundedSemaphore: the
        # semaphore is written in Python (a Condition around a counter) and
        # cost about 1 us per acquire/release pair, a sixth of a small
        # filesystem read; SimpleQueue is implemented in C.
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(limit):
            self._slots.put(None)

    def __enter__(self) -> None:
        self._slots.get()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._slots.put(None)

    def __repr__(self) -> str:
        return f"Regulator(limit={self.limit})"
