"""A download stream: ranged GETs pinned to one version, fetched ahead.

The first GET (a range of `chunk` bytes from the offset) gives the blob's
size and ETag; the following ranges are fetched by a small per-reader pool,
up to `ahead` ranges in flight while the caller reads, each with `If-Match`
on the first ETag, so a blob replaced mid-read fails the read instead of
splicing two versions; a seek stays within that version. A reader holds at
most `chunk x (ahead + 1)` bytes.
Each range is one SDK download, whose own loop fetches again a range whose
body breaks. An offset at or past the end is an empty stream.
"""

from __future__ import annotations

import collections
import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError

from regstore import PathNotFoundError, StorageDriverError
from regstore_azure.errors import is_not_found, is_precondition_failed, status_of

__all__ = ["BlobChangedError", "open_reader"]

_BUFFER = 1024 * 1024


class BlobChangedError(StorageDriverError):
    """A later range found another version of the blob than the first."""

    def __init__(self, path: str) -> None:
        super().__init__(f"read {path}: the blob changed while it was being read")


class _RangeStream(io.RawIOBase):
    def __init__(
        self, blob: Any, path: str, *, first: bytes, start: int, total: int, etag: str,
        chunk: int, ahead: int,
    ) -> None:  # fmt: skip
        super().__init__()
        self._blob = blob
        self._path = path
        self._current = memoryview(first)
        self._pos = start  # of the next byte the caller gets
        self._next = start + len(first)  # the next range to schedule
        self._total = total
        self._etag = etag
        self._chunk = chunk
        self._ahead = ahead
        self._pool: ThreadPoolExecutor | None = None
        self._queue: collections.deque[Future[bytes]] = collections.deque()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move within the version the reader started with: the ranges
        fetched ahead are dropped, the next read fetches from there (same
        ETag pin)."""
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._total + offset
        else:
            raise ValueError(f"whence must be SEEK_SET, SEEK_CUR or SEEK_END, not {whence!r}")
        if target < 0:
            raise ValueError(f"negative position {target}")
        if target != self._pos:
            self._drop_ahead()
            self._current = memoryview(b"")
            self._pos = self._next = target
        return target

    def _drop_ahead(self) -> None:
        for future in self._queue:
            future.cancel()
        self._queue.clear()

    def _fetch(self, offset: int, length: int) -> bytes:
        try:
            data = self._blob.download_blob(
                offset=offset,
                length=length,
                etag=self._etag,
                match_condition=MatchConditions.IfNotModified,
                max_concurrency=1,
            ).readall()
        except HttpResponseError as err:
            if is_precondition_failed(err) or is_not_found(err):
                raise BlobChangedError(self._path) from err
            raise
        if len(data) != length:
            raise BlobChangedError(self._path)
        return bytes(data)

    def _schedule(self) -> None:
        while len(self._queue) < self._ahead and self._next < self._total:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._ahead, "regstore-azure-read")
            length = min(self._chunk, self._total - self._next)
            self._queue.append(self._pool.submit(self._fetch, self._next, length))
            self._next += length

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._current:
            self._schedule()
            if not self._queue:
                return 0
            self._current = memoryview(self._queue.popleft().result())
        n = min(len(view), len(self._current))
        view[:n] = self._current[:n]
        self._current = self._current[n:]
        self._pos += n
        self._schedule()
        return n

    def close(self) -> None:
        self._drop_ahead()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        self._current = memoryview(b"")
        super().close()


def _blob_size(props: Any) -> int:
    """The whole blob's size: a ranged download's `size` is the range's;
    the total is after the "/" of its Content-Range."""
    content_range = str(getattr(props, "content_range", None) or "")
    _, slash, total = content_range.rpartition("/")
    if slash and total.strip().isdigit():
        return int(total)
    return int(props.size)


def open_reader(
    blob: Any, path: str, offset: int, *, chunk: int = 4 << 20, ahead: int = 4
) -> io.BufferedReader:
    """A buffered stream of `blob` from `offset`; `PathNotFoundError` if
    absent."""
    try:
        downloader = blob.download_blob(
            offset=offset or None, length=chunk if offset else None, max_concurrency=1
        )
    except HttpResponseError as err:
        if is_not_found(err):
            raise PathNotFoundError(path) from err
        # 416 past the end; some stores refuse a huge offset's header (400).
        if offset and status_of(err) in (400, 416):
            try:
                props = blob.get_blob_properties()
            except HttpResponseError as head_err:
                if is_not_found(head_err):
                    raise PathNotFoundError(path) from head_err
                raise
            size = int(props.size)
            if size <= offset:  # an empty stream, still seekable within this version
                stream = _RangeStream(
                    blob, path, first=b"", start=offset, total=size, etag=str(props.etag),
                    chunk=chunk, ahead=ahead,
                )  # fmt: skip
                return io.BufferedReader(stream, _BUFFER)
        raise
    total = _blob_size(downloader.properties)
    # Without a range the SDK's first GET is its first chunk (the client's
    # max_single_get_size); the stream then goes on by range.
    first = downloader.readall() if offset else downloader.read(min(chunk, total))
    stream = _RangeStream(
        blob, path, first=bytes(first), start=offset, total=total,
        etag=str(downloader.properties.etag), chunk=chunk, ahead=ahead,
    )  # fmt: skip
    return io.BufferedReader(stream, _BUFFER)
