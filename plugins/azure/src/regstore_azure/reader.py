"""A download stream on the SDK's own downloader.

`BlobClient.download_blob` returns a `StorageStreamDownloader` that fetches
the blob in ranged GETs of `GET_CHUNK` bytes (one at a time here, so a
reader holds one chunk), pins every later range to the first response's
ETag (If-Match: a blob replaced mid-read fails the read instead of
splicing two versions) and retries a range whose body breaks. This module
adapts it to a file object and handles offsets at or past the end.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import HttpResponseError

from regstore import PathNotFoundError
from regstore_azure.errors import is_not_found, status_of

__all__ = ["open_reader"]

_BUFFER = 1024 * 1024


class _ChunkStream(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._pending = memoryview(b"")
        self._chunks = iter(())
        super().close()


def open_reader(blob: Any, path: str, offset: int) -> io.BufferedReader:
    """A buffered stream of `blob` from `offset`; `PathNotFoundError` if
    absent. An offset at or past the end is an empty stream."""
    try:
        downloader = (
            blob.download_blob(offset=offset, max_concurrency=1)
            if offset
            else (blob.download_blob(max_concurrency=1))
        )
    except HttpResponseError as err:
        if is_not_found(err):
            raise PathNotFoundError(path) from err
        # 416 past the end; some stores refuse a huge offset's header (400).
        if offset and status_of(err) in (400, 416):
            try:
                size = int(blob.get_blob_properties().size)
            except HttpResponseError as head_err:
                if is_not_found(head_err):
                    raise PathNotFoundError(path) from head_err
                raise
            if size <= offset:
                return io.BufferedReader(_ChunkStream(iter(())), _BUFFER)
        raise
    return io.BufferedReader(_ChunkStream(downloader.chunks()), _BUFFER)
