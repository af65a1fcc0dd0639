"""A concurrency regulator: at most `limit` blocking operations at once.

distribution wraps its filesystem driver in `base.NewRegulator(driver,
maxthreads)` so a burst of requests cannot exhaust the OS threads that block
in syscalls. Python threads are cheaper, but the same burst can still exhaust
file descriptors or saturate a disk, so drivers hold a `Regulator` around
each blocking call.
"""

from __future__ import annotations

import threading
from types import TracebackType

__all__ = ["Regulator"]


class Regulator:
    """A context manager admitting at most `limit` holders at once."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"regulator limit must be at least 1, not {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def __enter__(self) -> None:
        self._slots.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._slots.release()

    def __repr__(self) -> str:
        return f"Regulator(limit={self.limit})"
