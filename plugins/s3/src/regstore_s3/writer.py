"""The s3 writer: one multipart upload with equal parts, resumable anywhere.

State in the bucket, for an object key K (see the README):

- the multipart upload of K, whose parts 1..n are each exactly `part_size`
  bytes (stores such as R2 reject unequal non-final parts);
- a *record* object at `<root>/~regstore-uploads/<path>`, written by
  `close()` with PutObject (atomic): its body is the tail that does not fill
  a part yet, its metadata the upload id, n and the part size. `~` is not a
  valid path character, so no path maps into that prefix, and list, walk,
  stat and get filter it out. Commit and cancel delete it.

Resume reads the record and lists the upload's parts (paginated), so `size`
is exactly n x part_size + len(tail) as of the last `close()`: parts a dead
writer uploaded after that close are numbered above n and get overwritten.
Parts upload in parallel on a per-writer pool while the caller keeps
writing; a semaphore keeps at most `concurrency` parts in flight, so the
writer holds at most part_size x (concurrency + 1) bytes.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from regstore import Buffer, FileWriter, StorageDriverError
from regstore_s3.errors import is_no_such_upload, is_not_found

if TYPE_CHECKING:
    from regstore_s3.driver import S3Driver

__all__ = ["MAX_PARTS", "ResumeState", "S3Writer", "completed_part"]

#: S3's limit on the parts of one upload.
MAX_PARTS = 10_000
META_UPLOAD = "regstore-upload-id"
META_PARTS = "regstore-parts"
META_PART_SIZE = "regstore-part-size"


@dataclass
class ResumeState:
    """Where an upload stands, as the last `close()` left it."""

    upload_id: str | None
    part_size: int
    #: Parts 1..n as CompleteMultipartUpload lists them: ETag, and the
    #: part's checksum when the upload has a checksum algorithm.
    parts: dict[int, dict[str, str]] = field(default_factory=dict)
    tail: bytes = b""


def completed_part(part: dict[str, object]) -> dict[str, str]:
    """A part as CompleteMultipartUpload lists it, from an UploadPart
    response or a ListParts entry: its ETag and any checksum it carries."""
    entry = {"ETag": str(part["ETag"])}
    for name, value in part.items():
        if name.startswith("Checksum") and name != "ChecksumType" and value:
            entry[name] = str(value)
    return entry


class S3Writer(FileWriter):
    """See the module docstring."""

    max_parts = MAX_PARTS

    def __init__(self, driver: S3Driver, path: str, key: str, state: ResumeState) -> None:
        self._driver = driver
        self._client = driver.client
        self._bucket = driver.settings.bucket
        self._path = path
        self._key = key
        self._record_key = driver.record_key(path)
        self._upload_id = state.upload_id
        self._part_size = state.part_size
        self._parts: dict[int, dict[str, str]] = dict(state.parts)
        self._next_part = len(state.parts) + 1
        self._checksum = driver.settings.checksum_algorithm
        self._buffer = bytearray(state.part_size)
        self._buffer[: len(state.tail)] = state.tail
        self._filled = len(state.tail)
        self._concurrency = driver.settings.upload_concurrency
        self._slots = threading.BoundedSemaphore(self._concurrency)
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._failure: BaseException | None = None
        self._released: int | None = None

    # -- FileWriter -------------------------------------------------------

    @property
    def size(self) -> int:
        if self._released is not None:
            return self._released
        return (self._next_part - 1) * self._part_size + self._filled

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        limit = self.max_parts * self._part_size
        if self.size + total > limit:
            raise StorageDriverError(
                f"write {self._path}: the upload would exceed {self.max_parts} parts of "
                f"chunksize={self._part_size} bytes ({limit} bytes); raise chunksize"
            )
        self._raise_failure()
        taken = 0
        while taken < total:
            room = self._part_size - self._filled
            n = min(room, total - taken)
            self._buffer[self._filled : self._filled + n] = view[taken : taken + n]
            self._filled += n
            taken += n
            if self._filled == self._part_size:
                self._send_full_part()
        return total

    def close(self) -> None:
        try:
            self._drain()
            self.close_record()
        finally:
            self._release()

    def close_record(self) -> None:
        """Persist where the upload stands (atomically, one PutObject): the
        tail as the body, upload id, part count and part size as metadata."""
        self._client.put_object(
            Bucket=self._bucket,
            Key=self._record_key,
            Body=bytes(memoryview(self._buffer)[: self._filled]),
            Metadata={
                META_UPLOAD: self._upload_id or "",
                META_PARTS: str(self._next_part - 1),
                META_PART_SIZE: str(self._part_size),
            },
        )

    def commit(self) -> None:
        self._released = self.size  # the object's size, whatever parts follow
        try:
            self._drain()
            if self._next_part == 1:
                self._commit_single()
            else:
                self._commit_multipart()
            self._driver.delete_record(self._path)
        finally:
            self._release()

    def cancel(self) -> None:
        try:
            for future in self._pending:
                future.exception()  # wait; the failure no longer matters
            if self._upload_id:
                self._driver.abort_upload(self._key, self._upload_id)
            self._driver.delete_record(self._path)
        finally:
            self._release()

    # -- internals --------------------------------------------------------

    def _commit_single(self) -> None:
        """Nothing filled a part: one PutObject publishes the whole object."""
        body = bytes(memoryview(self._buffer)[: self._filled])
        self._client.put_object(
            Bucket=self._bucket, Key=self._key, Body=body, **self._driver.settings.put_args
        )
        if self._upload_id:
            self._driver.abort_upload(self._key, self._upload_id)

    def _commit_multipart(self) -> None:
        assert self._upload_id is not None
        if self._filled:
            del self._buffer[self._filled :]  # shrink in place: the final, short part
            self._upload_part(self._next_part, self._buffer)
            self._next_part += 1
        parts = [{"PartNumber": n, **self._parts[n]} for n in range(1, self._next_part)]
        try:
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )
        except ClientError as err:
            # A retried Complete whose first attempt succeeded finds the
            # upload gone; the object then has exactly our size.
            if not (is_no_such_upload(err) and self._committed_size() == self.size):
                raise

    def _committed_size(self) -> int | None:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._key)
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
        return int(head["ContentLength"])

    def _send_full_part(self) -> None:
        if self._upload_id is None:
            extra = {"ChecksumAlgorithm": self._checksum} if self._checksum else {}
            response = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, **self._driver.settings.put_args, **extra
            )
            self._upload_id = str(response["UploadId"])
        part, number = self._buffer, self._next_part
        # Wait for a slot before allocating the next buffer: at most
        # `concurrency` parts in flight plus the one being filled.
        self._slots.acquire()
        self._raise_failure(release=True)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self._concurrency, thread_name_prefix=f"regstore-s3-upload-{self._key[-24:]}"
            )
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        self._pending.append(self._pool.submit(self._upload_in_slot, number, part))
        self._next_part += 1
        self._buffer = bytearray(self._part_size)
        self._filled = 0

    def _upload_in_slot(self, number: int, body: bytearray) -> None:
        try:
            self._upload_part(number, body)
        except BaseException as err:
            with self._lock:
                if self._failure is None:
                    self._failure = err
            raise
        finally:
            self._slots.release()

    def _upload_part(self, number: int, body: bytearray) -> None:
        extra = {"ChecksumAlgorithm": self._checksum} if self._checksum else {}
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            **extra,
        )
        with self._lock:
            self._parts[number] = completed_part(response)

    def _raise_failure(self, *, release: bool = False) -> None:
        with self._lock:
            failure = self._failure
        if failure is not None:
            if release:
                self._slots.release()
            raise StorageDriverError(
                f"write {self._path}: uploading a part failed: {type(failure).__name__}: {failure}"
            ) from failure

    def _drain(self) -> None:
        """Wait for every part in flight; raise the first failure."""
        for future in self._pending:
            future.exception()
        self._pending = []
        self._raise_failure()

    def _release(self) -> None:
        """Free the buffer and the pool; `size` keeps its last value."""
        if self._released is None:
            self._released = self.size
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._buffer = bytearray()
        self._filled = 0
