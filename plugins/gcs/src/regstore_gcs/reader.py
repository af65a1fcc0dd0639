"""A streaming, generation-pinned download that resumes by range.

One GET streams the object from the reader's offset, on the client's own
authorized session, its opening retried by the library's retry policy. A
connection that breaks while the body streams is the caller's problem in
the library too; here the stream keeps its position and asks again from
there with a `Range`, pinned to the generation of the first reply, so it
never returns bytes of two versions (a replaced object fails the read) and
never skips or repeats any. The stream seeks itself (reopening at the new
position, pinned), so core's reader wrapper moves it rather than opening a
new, unpinned one.
"""

from __future__ import annotations

import contextlib
import io
import urllib.parse
from typing import TYPE_CHECKING, Any

import requests

from regstore import PathNotFoundError, StorageDriverError
from regstore_gcs.errors import STREAM_ERRORS, api_error, is_not_found, status_of

if TYPE_CHECKING:
    from regstore_gcs.driver import GCSDriver

__all__ = ["MAX_OBJECT_SIZE", "ObjectChangedError", "open_reader"]

#: GCS's largest object (5 TiB): no range needs to start beyond it.
MAX_OBJECT_SIZE = 5 * 1024**4
#: Resumes of one reader after broken streams, before it gives up.
MAX_RESUMES = 10
_BUFFER = 1024 * 1024


class ObjectChangedError(StorageDriverError):
    """A resumed range found another generation than the read began with."""

    def __init__(self, path: str) -> None:
        super().__init__(f"read {path}: the object changed while it was being read")


class _RangeStream(io.RawIOBase):
    def __init__(self, driver: GCSDriver, key: str, path: str, offset: int) -> None:
        super().__init__()
        self._driver = driver
        self._key = key
        self._path = path
        self._pos = offset
        self._generation: int | None = None
        self._end: int | None = None  # the object's size, once known
        self._response: requests.Response | None = None
        self._eof = False
        self._resumes = 0
        self._open()

    def _url(self) -> str:
        connection = self._driver.client._connection
        bucket = urllib.parse.quote(self._driver.bucket.name, safe="")
        name = urllib.parse.quote(self._key, safe="")
        query = "alt=media" + (f"&generation={self._generation}" if self._generation else "")
        return f"{connection.API_BASE_URL}/download/storage/v1/b/{bucket}/o/{name}?{query}"

    def _open(self) -> None:
        """Start streaming at `_pos` (one GET, retried by the library)."""
        self._eof = False
        if self._end is not None and self._pos >= self._end:
            self._eof = True
            return
        if self._pos > MAX_OBJECT_SIZE:
            # No object is that large; a range there overflows the store's
            # integers. One metadata GET tells absent from past the end.
            self._size()
            self._eof = True
            return
        client = self._driver.client
        session: requests.Session = client._http
        url = self._url()
        headers = {"User-Agent": client._connection.user_agent}
        if self._pos > 0:
            # bytes=0- on an empty object is a 416: no range from 0.
            headers["Range"] = f"bytes={self._pos}-"
        timeout = self._driver.settings.timeout

        def send() -> requests.Response:
            response = session.get(url, headers=headers, stream=True, timeout=timeout)
            if response.status_code in (200, 206):
                return response
            try:
                raise api_error(response)  # reads the (small) error body
            finally:
                response.close()

        retry = self._driver.retry
        try:
            response = retry(send)() if retry is not None else send()
        except Exception as err:
            if status_of(err) == 416:
                self._eof = True  # at or past the end (the object exists)
                return
            if is_not_found(err):
                if self._generation is None:
                    raise PathNotFoundError(self._path) from err
                raise ObjectChangedError(self._path) from err
            raise
        generation = int(response.headers.get("x-goog-generation") or 0) or None
        if self._generation is None:
            self._generation = generation
        elif generation is not None and generation != self._generation:
            response.close()
            raise ObjectChangedError(self._path)  # a store that ignores the pin
        length = response.headers.get("Content-Length")
        if length is not None and "Content-Encoding" not in response.headers:
            self._end = self._pos + int(length)
        self._response = response

    def _size(self) -> int:
        """The size of the version being read (one metadata GET)."""
        if self._end is not None:
            return self._end
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
        self._end = int(blob.size or 0)
        return self._end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
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
        if target != self._pos:
            self._close_response()
            self._pos = target
            self._eof = False  # reopened (pinned) on the next read
        return target

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        while True:
            if self._response is None:
                if self._eof:
                    return 0
                self._open()
                if self._response is None:
                    return 0
            if self._end is not None and self._pos >= self._end:
                self._close_response()
                self._eof = True
                return 0
            try:
                chunk = self._response.raw.read(len(view))
            except STREAM_ERRORS as err:
                self._resume(err)
                continue
            if not chunk:
                if self._end is None:  # no Content-Length: the end is the end
                    self._close_response()
                    self._eof = True
                    return 0
                # The body ended before its Content-Length: a cut response.
                self._resume(None)
                continue
            n = len(chunk)
            view[:n] = chunk
            self._pos += n
            return n

    def _resume(self, err: BaseException | None) -> None:
        self._close_response()
        self._resumes += 1
        if self._resumes > MAX_RESUMES:
            raise StorageDriverError(
                f"read {self._path}: the connection broke {self._resumes} times; giving up"
            ) from err
        self._open()

    def _close_response(self) -> None:
        if self._response is not None:
            with contextlib.suppress(Exception):  # closing a broken stream may fail too
                self._response.close()
            self._response = None

    def close(self) -> None:
        self._close_response()
        super().close()


def open_reader(driver: GCSDriver, key: str, path: str, offset: int) -> io.BufferedReader:
    """A buffered stream of `key` from `offset`; `PathNotFoundError` if absent."""
    return io.BufferedReader(_RangeStream(driver, key, path, offset), _BUFFER)
