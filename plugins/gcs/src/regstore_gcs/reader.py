"""A windowed, generation-pinned download stream.

The object is read in windows of ranged requests, each retried by the
library; the first response's generation pins every later window and
every seek, so a reader never returns bytes of two versions (a replaced
object fails the read instead). The stream seeks itself, so core's reader
wrapper moves it rather than opening a new, unpinned one. The next window
is fetched while the caller consumes the current one.
"""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as api_exceptions

from regstore import PathNotFoundError, StorageDriverError
from regstore_gcs.errors import is_not_found

if TYPE_CHECKING:
    from regstore_gcs.driver import GCSDriver

__all__ = ["WINDOW", "ObjectChangedError", "open_reader"]

#: Bytes per ranged request. Two windows per reader are in memory at most.
WINDOW = 8 * 1024 * 1024
#: GCS's largest object (5 TiB).
MAX_OBJECT_SIZE = 5 * 1024**4


class ObjectChangedError(StorageDriverError):
    """A later window found another generation than the read began with."""

    def __init__(self, path: str) -> None:
        super().__init__(f"read {path}: the object changed while it was being read")


class _WindowStream(io.RawIOBase):
    def __init__(self, driver: GCSDriver, key: str, path: str, offset: int) -> None:
        super().__init__()
        self._driver = driver
        self._key = key
        self._path = path
        self._pos = offset
        self._generation: int | None = None
        self._window = b""
        self._window_pos = 0
        self._eof = False
        self._pool: ThreadPoolExecutor | None = None
        self._next: Future[bytes | None] | None = None
        #: A seek left the windows: the next read fetches at `_pos`.
        self._refetch = False
        first = self._fetch(offset)
        if first is None:
            self._eof = True
        else:
            self._window = first
            self._after(offset + len(first), len(first))

    def _fetch(self, start: int) -> bytes | None:
        """Bytes from `start`, one window; None at or past the end."""
        if start > MAX_OBJECT_SIZE:
            # No object is that large; a range there overflows the store's
            # integers. One metadata GET tells absent from past the end.
            if self._driver.get_blob(self._key) is None:
                raise PathNotFoundError(self._path)
            return None
        try:
            blob, data = self._driver.download(
                self._key, self._generation, start=start, end=start + WINDOW - 1, checksum=None
            )
        except api_exceptions.RequestRangeNotSatisfiable:
            return None  # the object exists: a missing one is a 404
        except Exception as err:
            if is_not_found(err):
                if self._generation is None:
                    raise PathNotFoundError(self._path) from err
                raise ObjectChangedError(self._path) from err
            raise
        generation = int(blob.generation) if blob.generation else None
        if self._generation is None:
            self._generation = generation
        elif generation is not None and generation != self._generation:
            raise ObjectChangedError(self._path)
        return data

    def _after(self, start: int, got: int) -> None:
        """Prefetch the window at `start` unless the last one was short."""
        if got < WINDOW:
            self._next = None
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="regstore-gcs-read")
        self._next = self._pool.submit(self._fetch, start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move within the version the reader started with: a position in
        the current window costs nothing, any other one ranged request (of
        the pinned generation) on the next read."""
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size() + offset
        else:
            raise ValueError(f"seek: whence must be SEEK_SET, SEEK_CUR or SEEK_END, not {whence!r}")
        if target < 0:
            raise ValueError(f"seek {self._path}: negative position {target}")
        if target == self._pos:
            return target
        window_start = self._pos - self._window_pos
        if self._window and window_start <= target < window_start + len(self._window):
            self._window_pos = target - window_start
        else:
            self._drop_window()
            self._refetch = True
        self._pos = target
        return target

    def _size(self) -> int:
        """The size of the version being read (one metadata GET)."""
        blob = self._driver.bucket.get_blob(
            self._key,
            generation=self._generation,
            retry=self._driver.retry,
            timeout=self._driver.settings.timeout,
        )
        if blob is None:
            if self._generation is None:
                raise PathNotFoundError(self._path)
            raise ObjectChangedError(self._path)
        if self._generation is None:
            self._generation = int(blob.generation)
        return int(blob.size or 0)

    def _drop_window(self) -> None:
        if self._next is not None:
            self._next.cancel()  # or let it finish unread
            self._next = None
        self._window, self._window_pos = b"", 0
        self._eof = False

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            left = len(self._window) - self._window_pos
            if left > 0:
                n = min(left, len(view))
                start = self._window_pos
                view[:n] = memoryview(self._window)[start : start + n]
                self._window_pos += n
                self._pos += n
                return n
            if self._refetch:
                self._refetch = False
                data = self._fetch(self._pos)
            elif self._eof or self._next is None:
                self._eof = True
                return 0
            else:
                future, self._next = self._next, None
                data = future.result()
            if data is None:
                self._window, self._window_pos = b"", 0
                self._eof = True
                return 0
            self._window, self._window_pos = data, 0
            self._after(self._pos + len(data), len(data))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._window = b""
        super().close()


def open_reader(driver: GCSDriver, key: str, path: str, offset: int) -> io.BufferedReader:
    """A buffered stream of `key` from `offset`; `PathNotFoundError` if absent."""
    return io.BufferedReader(_WindowStream(driver, key, path, offset), 1024 * 1024)
