"""A ranged, resuming, seekable GetObject stream.

botocore retries a request until it has a response; a connection that breaks
while the body streams is the caller's problem. The reader keeps its
position and, on such a break, asks again from there with a `Range` and an
`If-Match` on the first response's ETag, so it never returns bytes of two
different versions of the object and never skips or repeats any.

A seek is the same move on purpose: it drops the body and the next read
asks for a range from the new position, with the same `If-Match`. Nothing is
downloaded that is not read (beyond the buffer), and the object read after a
seek is the version read before it.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from botocore.exceptions import ClientError

from regstore import PathNotFoundError, StorageDriverError
from regstore_s3.errors import STREAM_ERRORS, error_code, is_not_found

__all__ = ["ObjectChangedError", "open_reader"]

#: Resumes of one reader after broken streams, before it gives up.
MAX_RESUMES = 10
_BUFFER = 1024 * 1024


class ObjectChangedError(StorageDriverError):
    """A resumed range found another version of the object than the one
    the read began with: going on would mix two versions."""

    def __init__(self, path: str) -> None:
        super().__init__(f"read {path}: the object changed while it was being read")


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


class _RangeStream(io.RawIOBase):
    def __init__(self, client: Any, bucket: str, key: str, path: str, offset: int) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._path = path
        self._pos = offset
        self._etag: str | None = None
        self._end: int | None = None  # where the current body ends
        self._size: int | None = None  # the object's size, once known
        self._body: Any = None
        self._resumes = 0
        #: A seek moved the position: the next read opens a new range.
        self._moved = False
        self._open()

    def _open(self) -> None:
        if self._size is not None and self._pos >= self._size:
            self._body, self._end = None, self._pos  # at or past the end: nothing to ask
            return
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key}
        if self._pos > 0:
            # bytes=0- on an empty object is a 416 on AWS: no range from 0.
            args["Range"] = f"bytes={self._pos}-"
        if self._etag is not None:
            args["IfMatch"] = self._etag
        try:
            response = self._client.get_object(**args)
        except ClientError as err:
            if is_not_found(err):
                raise PathNotFoundError(self._path) from err
            if self._etag is not None and (
                error_code(err) in ("PreconditionFailed", "412") or _status(err) == 412
            ):
                raise ObjectChangedError(self._path) from err
            if self._pos > 0 and self._past_the_end(err):
                # At or past the end: an empty stream (the object exists,
                # or S3 would have said NoSuchKey).
                self._end = self._pos
                self._body = None
                return
            raise
        etag = response.get("ETag")
        if self._etag is not None and etag != self._etag:
            # A store that ignores If-Match: the check is ours, too.
            response["Body"].close()
            raise ObjectChangedError(self._path)
        self._etag = etag
        self._body = response["Body"]
        self._end = self._pos + int(response.get("ContentLength", 0))
        self._size = self._end  # every range runs to the end of the object

    def _past_the_end(self, err: ClientError) -> bool:
        """Whether a ranged GET failed because the offset is at or past the
        end. S3 says InvalidRange (416); some stores answer a start beyond
        any size they can store with 400 InvalidArgument instead: for those
        a HEAD tells."""
        if error_code(err) == "InvalidRange" or _status(err) == 416:
            return True
        if error_code(err) != "InvalidArgument" and _status(err) != 400:
            return False
        return self._head_size() <= self._pos

    def _head_size(self) -> int:
        """The object's size by HEAD, pinned to the version being read."""
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key}
        if self._etag is not None:
            args["IfMatch"] = self._etag
        try:
            head = self._client.head_object(**args)
        except ClientError as head_err:
            if is_not_found(head_err):
                raise PathNotFoundError(self._path) from head_err
            if self._etag is not None and _status(head_err) == 412:
                raise ObjectChangedError(self._path) from head_err
            raise
        if self._etag is not None and head.get("ETag") != self._etag:
            raise ObjectChangedError(self._path)
        self._size = int(head["ContentLength"])
        return self._size

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
            target = (self._size if self._size is not None else self._head_size()) + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._close_body()
            self._pos = target
            self._moved = True
        return target

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        self._after_seek()
        while True:
            if self._body is None or self._end is None or self._pos >= self._end:
                return 0
            try:
                chunk = self._body.read(len(view))
            except STREAM_ERRORS as err:
                self._resume(err)
                continue
            if not chunk:
                # The body ended before its Content-Length: a cut response.
                self._resume(None)
                continue
            n = len(chunk)
            view[:n] = chunk
            self._pos += n
            return n

    def _after_seek(self) -> None:
        """Open the range a seek asked for, on the read that needs it."""
        if self._moved:
            self._moved = False
            self._resumes = 0
            self._open()

    def readall(self) -> bytes:
        self._after_seek()
        parts: list[bytes] = []
        remaining = None if self._end is None else self._end - self._pos
        if remaining is not None and remaining > 0:
            buffer = bytearray(remaining)
            view = memoryview(buffer)
            filled = 0
            while filled < remaining:
                n = self.readinto(view[filled:])
                if n == 0:
                    break
                filled += n
            parts.append(bytes(view[:filled]) if filled < remaining else bytes(buffer))
        return b"".join(parts)

    def _resume(self, err: BaseException | None) -> None:
        self._close_body()
        self._resumes += 1
        if self._resumes > MAX_RESUMES:
            raise StorageDriverError(
                f"read {self._path}: the connection broke {self._resumes} times; giving up"
            ) from err
        self._open()

    def _close_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):  # closing a broken stream may fail too
                self._body.close()
            self._body = None

    def close(self) -> None:
        self._close_body()
        super().close()


def open_reader(client: Any, bucket: str, key: str, path: str, offset: int) -> io.BufferedReader:
    """A buffered stream of `key` from `offset`; `PathNotFoundError` if absent."""
    return io.BufferedReader(_RangeStream(client, bucket, key, path, offset), _BUFFER)
