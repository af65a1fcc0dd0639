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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from regstore import StorageDriverError
from regstore.parts import PartWriter
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


class S3Writer(PartWriter[dict[str, str]]):
    """See the module docstring; the buffering, parallel sends, kept parts
    and tail bookkeeping are core's `PartWriter`."""

    max_parts = MAX_PARTS

    def __init__(self, driver: S3Driver, path: str, key: str, state: ResumeState) -> None:
        super().__init__(
            path,
            part_size=state.part_size,
            concurrency=driver.settings.upload_concurrency,
            parts=state.parts,
            tail=state.tail,
            thread_name=f"regstore-s3-upload-{key[-24:]}",
        )
        self._driver = driver
        self._client = driver.client
        self._bucket = driver.settings.bucket
        self._key = key
        self._record_key = driver.record_key(path)
        self._upload_id = state.upload_id
        self._token = state.token
        self._checksum = driver.settings.checksum_algorithm

    # -- PartWriter --------------------------------------------------------

    def prepare(self) -> None:
        """Create the multipart upload before its first part."""
        if self._upload_id is not None:
            return
        extra = {"ChecksumAlgorithm": self._checksum} if self._checksum else {}
        response = self._client.create_multipart_upload(
            Bucket=self._bucket, Key=self._key, **self._driver.settings.put_args, **extra
        )
        self._upload_id = str(response["UploadId"])

    def send_part(self, number: int, body: bytes | bytearray) -> dict[str, str]:
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

    def persist(self, parts: list[dict[str, str]], tail: bytes) -> None:
        """Persist where the upload stands (atomically, one PutObject): the
        tail as the body, upload id, part count and part size as metadata."""
        self._client.put_object(
            Bucket=self._bucket,
            Key=self._record_key,
            Body=tail,
            Metadata={
                META_UPLOAD: self._upload_id or "",
                META_PARTS: str(len(parts)),
                META_PART_SIZE: str(self.part_size),
                META_WRITER: self._token,
            },
        )

    def close_record(self) -> None:
        """Persist the record as it stands now (a fresh `writer(path)` writes
        one at once, so a resume finds it)."""
        self.persist(self.confirmed_parts(), self.tail)

    def publish(self, parts: list[dict[str, str]], tail: bytes) -> None:
        if not parts:
            # Nothing filled a part: one PutObject publishes the whole object.
            self._client.put_object(
                Bucket=self._bucket, Key=self._key, Body=tail, **self._driver.settings.put_args
            )
        else:
            self._commit_multipart(parts, tail)

    def check_publish(self) -> None:
        """Refuse to publish when a newer `writer(path)` took the path over
        (its record carries another token): one HEAD. Best effort: a
        replacement between this check and the publish is not caught."""
        if not self._token:
            return
        meta = self._driver.record_meta(self.path)
        if meta is not None and meta.get(META_WRITER, "") != self._token:
            raise StorageDriverError(
                f"commit {self.path}: a newer writer replaced this upload; it was not published"
            )

    def after_publish(self) -> None:
        # Repeated by a retried commit until it succeeds: a record left
        # behind would let a resume start over on published content.
        if self._upload_id and self.part_count == 0:
            self._driver.abort_upload(self._key, self._upload_id)
        self._driver.delete_record(self.path)

    def discard(self) -> None:
        if self._upload_id:
            self._driver.abort_upload(self._key, self._upload_id)
        self._driver.delete_record(self.path)

    # -- internals --------------------------------------------------------

    def _commit_multipart(self, confirmed: list[dict[str, str]], tail: bytes) -> None:
        """Send the tail as the final part (once per length, see
        `sent_tail`) and complete. Nothing of the writer's state changes
        here: a failure leaves everything a retry needs."""
        assert self._upload_id is not None
        parts: list[dict[str, object]] = [
            {"PartNumber": n, **entry} for n, entry in enumerate(confirmed, start=1)
        ]
        try:
            if tail:
                parts.append({"PartNumber": len(confirmed) + 1, **self.sent_tail()})
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
