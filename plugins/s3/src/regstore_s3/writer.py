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

Failures change nothing a retry needs (core lets a caller retry a failed
`commit()` or `close()`, and `close()` or `cancel()` after a failed
`write()`):

- a part whose background upload fails keeps its buffer (it takes the place
  of the buffer the writer would otherwise fill next, so memory stays
  bounded); the next `write()` reports the failure and refuses further
  data, and `close()`/`commit()` send the kept parts again under their own
  numbers before anything else, so a record never names a part that is not
  there;
- the buffer holding the tail is freed only when commit, close or cancel
  succeeds; the final short part of a commit is a copy sent under the next
  part number, which a retry simply sends again (S3 replaces a part of the
  same number);
- a commit whose Complete went through but whose reply was lost finds the
  upload gone on retry, and accepts that only if the object at the key is
  the one its parts make (size and multipart ETag).
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from regstore import Buffer, FileWriter, StorageDriverError
from regstore_s3.errors import is_no_such_upload, is_not_found

if TYPE_CHECKING:
    from regstore_s3.driver import S3Driver

__all__ = [
    "MAX_PARTS",
    "META_WRITER",
    "ResumeState",
    "S3Writer",
    "completed_part",
    "multipart_etag",
]

#: S3's limit on the parts of one upload.
MAX_PARTS = 10_000
META_UPLOAD = "regstore-upload-id"
META_PARTS = "regstore-parts"
META_PART_SIZE = "regstore-part-size"
#: Which writer owns the upload: a new `writer(path)` picks a fresh token,
#: a resume keeps the record's. A writer whose token is no longer the
#: record's was replaced by a newer writer and must not publish.
META_WRITER = "regstore-writer"


@dataclass
class ResumeState:
    """Where an upload stands, as the last `close()` left it."""

    upload_id: str | None
    part_size: int
    #: Parts 1..n as CompleteMultipartUpload lists them: ETag, and the
    #: part's checksum when the upload has a checksum algorithm.
    parts: dict[int, dict[str, str]] = field(default_factory=dict)
    tail: bytes = b""
    #: The owning writer's token (see META_WRITER); "" for none recorded.
    token: str = ""


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
        self._token = state.token
        self._part_size = state.part_size
        #: Parts the store confirmed, by number, as Complete lists them.
        self._parts: dict[int, dict[str, str]] = dict(state.parts)
        #: Parts whose upload failed, kept to be sent again by close/commit.
        self._kept: dict[int, bytearray] = {}
        #: The number the part being filled will get; parts below it are
        #: confirmed, in flight or kept.
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
        #: The first background failure no write() has reported yet.
        self._failure: tuple[int, BaseException] | None = None
        #: A write() raised: the writer takes no more data (core's policy).
        self._write_failed = False
        #: Commit made the object visible; only the cleanup may still fail.
        self._published = False
        #: The final short part a commit sent: (number, length, entry). A
        #: retried commit reuses it rather than sending it again: the upload
        #: may be complete already (its reply lost), and then a new
        #: UploadPart fails where Complete's NoSuchUpload is recognised.
        self._tail_sent: tuple[int, int, dict[str, str]] | None = None
        self._finished_size: int | None = None

    # -- FileWriter -------------------------------------------------------

    @property
    def size(self) -> int:
        if self._finished_size is not None:
            return self._finished_size
        return (self._next_part - 1) * self._part_size + self._filled

    def write(self, data: Buffer) -> int:
        if self._write_failed or self._published or self._finished_size is not None:
            raise StorageDriverError(
                f"write {self._path}: the writer takes no more data after a failed write, "
                f"a commit or a close; close() keeps the {self.size} bytes accepted"
            )
        view = memoryview(data).cast("B")
        total = len(view)
        limit = self.max_parts * self._part_size
        if self.size + total > limit:
            raise StorageDriverError(
                f"write {self._path}: the upload would exceed {self.max_parts} parts of "
                f"chunksize={self._part_size} bytes ({limit} bytes); raise chunksize"
            )
        try:
            self._raise_failure()
            taken = 0
            while taken < total:
                if self._filled == self._part_size:
                    # A full buffer left by a failed send: send it first.
                    self._send_full_part()
                room = self._part_size - self._filled
                n = min(room, total - taken)
                self._buffer[self._filled : self._filled + n] = view[taken : taken + n]
                self._filled += n
                taken += n
                if self._filled == self._part_size:
                    self._send_full_part()
        except BaseException:
            # `size` counts exactly the bytes taken before the failure, and
            # close() persists exactly those.
            self._write_failed = True
            raise
        return total

    def close(self) -> None:
        self._settle_parts()
        if self._filled == self._part_size:
            # A full part left over by a failed write: a part, not a tail.
            self._send_part_now()
        self.close_record()
        self._finish()

    def close_record(self) -> None:
        """Persist where the upload stands (atomically, one PutObject): the
        tail as the body, upload id, part count and part size as metadata.
        Called only when parts 1..n are all confirmed."""
        count = self._next_part - 1
        missing = [n for n in range(1, count + 1) if n not in self._parts]
        if missing:  # a bug, not a store failure: never record absent parts
            raise StorageDriverError(f"close {self._path}: parts {missing[:5]} are not confirmed")
        self._client.put_object(
            Bucket=self._bucket,
            Key=self._record_key,
            Body=bytes(memoryview(self._buffer)[: self._filled]),
            Metadata={
                META_UPLOAD: self._upload_id or "",
                META_PARTS: str(count),
                META_PART_SIZE: str(self._part_size),
                META_WRITER: self._token,
            },
        )

    def commit(self) -> None:
        if not self._published:
            self._check_not_replaced()
            self._settle_parts()
            if self._next_part == 1:
                self._commit_single()
            else:
                self._commit_multipart()
            self._published = True
        # Cleanup, repeated by a retried commit until it succeeds: a record
        # left behind would let a resume start over on published content.
        if self._upload_id and self._next_part == 1:
            self._driver.abort_upload(self._key, self._upload_id)
        self._driver.delete_record(self._path)
        self._finish()

    def cancel(self) -> None:
        self._wait_pending()
        if self._upload_id:
            self._driver.abort_upload(self._key, self._upload_id)
        self._driver.delete_record(self._path)
        self._finish()

    # -- internals --------------------------------------------------------

    def _check_not_replaced(self) -> None:
        """Refuse to publish when a newer `writer(path)` took the path over
        (its record carries another token): one HEAD. Best effort: a
        replacement between this check and the publish is not caught."""
        if not self._token:
            return
        meta = self._driver.record_meta(self._path)
        if meta is not None and meta.get(META_WRITER, "") != self._token:
            raise StorageDriverError(
                f"commit {self._path}: a newer writer replaced this upload; it was not published"
            )

    def _commit_single(self) -> None:
        """Nothing filled a part: one PutObject publishes the whole object."""
        body = bytes(memoryview(self._buffer)[: self._filled])
        self._client.put_object(
            Bucket=self._bucket, Key=self._key, Body=body, **self._driver.settings.put_args
        )

    def _commit_multipart(self) -> None:
        """Send the tail as the final part (a copy, under the next number, so
        a retry sends it again) and complete. Nothing of the writer's state
        changes here: a failure leaves everything a retry needs."""
        assert self._upload_id is not None
        parts = [{"PartNumber": n, **self._parts[n]} for n in range(1, self._next_part)]
        try:
            if self._filled:
                parts.append({"PartNumber": self._next_part, **self._send_tail()})
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )
        except ClientError as err:
            # The upload is gone: a Complete whose reply was lost (by an
            # earlier commit, or by botocore's own retry) did go through, or
            # someone aborted it. Only the former is success.
            if not (is_no_such_upload(err) and self._is_completed(parts)):
                raise

    def _send_tail(self) -> dict[str, str]:
        """The final short part, sent once per (number, length): the buffer
        only grows, so the same number and length mean the same bytes."""
        number, length = self._next_part, self._filled
        if self._tail_sent is not None and self._tail_sent[:2] == (number, length):
            return self._tail_sent[2]
        entry = self._send_part(number, bytes(memoryview(self._buffer)[:length]))
        self._tail_sent = (number, length, entry)
        return entry

    def _is_completed(self, parts: list[dict[str, object]]) -> bool:
        """Whether the object at the key is the one these parts make: our
        size and a multipart ETag of as many parts (S3's ETag of a multipart
        object is the MD5 of the parts' MD5s, "-", their count; where every
        part ETag is a plain MD5 it is checked exactly)."""
        size = self.size
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._key)
        except ClientError as err:
            if is_not_found(err):
                return False
            raise
        if int(head["ContentLength"]) != size:
            return False
        etag = str(head.get("ETag", "")).strip('"')
        expected = multipart_etag([str(p["ETag"]) for p in parts])
        if expected is not None:
            return etag == expected
        return etag.endswith(f"-{len(parts)}")

    def _send_full_part(self) -> None:
        """Hand the full buffer to the pool. A failure before the hand-over
        (creating the upload, or an earlier part's failure) leaves the
        buffer full and counted, for close() to persist."""
        if self._upload_id is None:
            self._create_upload()
        # Wait for a slot before allocating the next buffer: at most
        # `concurrency` parts in flight plus the one being filled.
        self._slots.acquire()
        try:
            self._raise_failure()
        except BaseException:
            self._slots.release()
            raise
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self._concurrency, thread_name_prefix=f"regstore-s3-upload-{self._key[-24:]}"
            )
        part, number = self._buffer, self._next_part
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._pool.submit(self._upload_in_slot, number, part))
        self._next_part += 1
        self._buffer = bytearray(self._part_size)
        self._filled = 0

    def _create_upload(self) -> None:
        extra = {"ChecksumAlgorithm": self._checksum} if self._checksum else {}
        response = self._client.create_multipart_upload(
            Bucket=self._bucket, Key=self._key, **self._driver.settings.put_args, **extra
        )
        self._upload_id = str(response["UploadId"])

    def _upload_in_slot(self, number: int, body: bytearray) -> None:
        """A background part upload: on failure the part's buffer is kept
        (its slot's memory moves to the kept part) for close/commit to send
        again, and the next write() reports the failure."""
        try:
            entry = self._send_part(number, body)
        except BaseException as err:  # noqa: BLE001  (kept and reported by write/close)
            with self._lock:
                self._kept[number] = body
                if self._failure is None:
                    self._failure = (number, err)
        else:
            with self._lock:
                self._parts[number] = entry
        finally:
            self._slots.release()

    def _send_part(self, number: int, body: bytes | bytearray) -> dict[str, str]:
        """One UploadPart; returns the part as Complete lists it."""
        extra = {"ChecksumAlgorithm": self._checksum} if self._checksum else {}
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            **extra,
        )
        return completed_part(response)

    def _send_part_now(self) -> None:
        """Send the full buffer as the next part, in this thread."""
        if self._upload_id is None:
            self._create_upload()
        entry = self._send_part(self._next_part, self._buffer)
        with self._lock:
            self._parts[self._next_part] = entry
        self._next_part += 1
        self._filled = 0

    def _raise_failure(self) -> None:
        with self._lock:
            failure = self._failure
        if failure is not None:
            number, err = failure
            raise StorageDriverError(
                f"write {self._path}: uploading part {number} failed: "
                f"{type(err).__name__}: {err}; close() keeps the bytes accepted, cancel() "
                "discards them"
            ) from err

    def _wait_pending(self) -> None:
        for future in self._pending:
            future.exception()
        self._pending = []

    def _settle_parts(self) -> None:
        """Wait for the parts in flight, then send the kept ones again under
        their own numbers; raises (keeping what is still unsent) if that
        fails. Afterwards parts 1..n are all confirmed."""
        self._wait_pending()
        with self._lock:
            kept = sorted(self._kept.items())
        for number, body in kept:
            entry = self._send_part(number, body)
            with self._lock:
                self._parts[number] = entry
                del self._kept[number]
        with self._lock:
            if not self._kept:
                self._failure = None

    def _finish(self) -> None:
        """Free the buffer and the pool; `size` keeps its last value. Only
        after a success: a failed operation keeps everything for a retry."""
        if self._finished_size is None:
            self._finished_size = self.size
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._buffer = bytearray()
        self._filled = 0
        self._kept.clear()


def multipart_etag(part_etags: list[str]) -> str | None:
    """The ETag S3 gives the object these parts complete to (unquoted), or
    None when a part's ETag is no plain MD5 (SSE-KMS, or a store of its
    own ETag scheme)."""
    digests = []
    for etag in part_etags:
        value = etag.strip('"')
        if len(value) != 32:
            return None
        try:
            digests.append(bytes.fromhex(value))
        except ValueError:
            return None
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"
