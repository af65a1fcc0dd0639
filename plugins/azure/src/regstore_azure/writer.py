"""The azure writer: a block blob staged block by block, resumable anywhere.

State in the container, for a path P with blob name K (see the README):

- the blocks of the upload, staged with Put Block on K itself (Azure keeps
  a blob's uncommitted blocks with the blob; nothing is visible at K until a
  Put Block List commits them). Every block but the last is exactly the
  upload's block size. A block id is the base64 of `<session>-<nnnnnn>`:
  `session` is 16 hex digits unique to one writer (a new writer or a
  resume), `n` the block's number in the upload, so ids are all one length
  (Azure requires that per blob) and unique to the upload and number.
  Staging an id again replaces its block, so a Put Block retried after a
  lost reply never duplicates bytes;
- a *record* blob at `<root>/~regstore-uploads/<path>`, written by `open`,
  `close()` and a resume in one Put Blob (atomic), conditional on the ETag
  this writer last saw: its body is a JSON header line (the owning session,
  the block size, how many blocks are confirmed and which sessions staged
  them: runs of [session, first number]) followed by the tail that does not
  fill a block. `~` is not a valid path character, so no path maps there,
  and list, walk, stat and get leave such names out. Commit and cancel
  delete it.

A resume reads the record, checks with one Get Block List that blocks
1..n are there (uncommitted, or committed by a commit whose reply was lost)
and each the block size, and claims the record for its own new session
(conditional on the record's ETag): its new blocks get ids of its own, so
two resumers never overwrite each other's blocks, and the one whose claim
was overtaken can no longer close or commit. Blocks a dead writer staged
after its last close are not in the record: the commit does not name them
and Azure discards them.

Azure discards every uncommitted block of a blob when anything commits to
it (a Put Blob from put_content, another upload's Put Block List). An
upload whose blocks went that way fails clearly, at its commit (Azure's
InvalidBlockList) or at its resume (the block list lacks them), and never
publishes short data.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobType, BlockState

from regstore import StorageDriverError
from regstore.parts import PartWriter
from regstore_azure.errors import error_code, is_not_found, is_precondition_failed
from regstore_azure.plugin import MAX_BLOCKS

if TYPE_CHECKING:
    from regstore_azure.driver import AzureDriver

__all__ = ["RECORD_VERSION", "AzureWriter", "Record", "block_id", "new_session"]

RECORD_VERSION = 1
#: Metadata on the record (for list_uploads without reading bodies).
META_OWNER = "regstore_owner"
META_SIZE = "regstore_size"


def new_session() -> str:
    """A writer session's token: 16 hex digits."""
    return uuid.uuid4().hex[:16]


def block_id(session: str, number: int) -> str:
    """The block id of block `number` staged by `session` (fixed length)."""
    return base64.b64encode(f"{session}-{number:06d}".encode()).decode()


@dataclass
class Record:
    """Where a closed upload stands."""

    owner: str
    block_size: int
    blocks: int = 0
    #: [session, first block number] runs covering blocks 1..blocks.
    runs: list[tuple[str, int]] = field(default_factory=list)
    tail: bytes = b""
    etag: str | None = None

    def ids(self) -> list[str]:
        """The block ids of blocks 1..blocks, in order."""
        ids: list[str] = []
        if not self.runs:
            return ids
        bounds = [first for _, first in self.runs[1:]] + [self.blocks + 1]
        for (session, first), end in zip(self.runs, bounds, strict=True):
            ids.extend(block_id(session, n) for n in range(first, end))
        return ids

    @property
    def size(self) -> int:
        return self.blocks * self.block_size + len(self.tail)

    def body(self) -> bytes:
        header = {
            "v": RECORD_VERSION,
            "owner": self.owner,
            "block_size": self.block_size,
            "blocks": self.blocks,
            "runs": [[s, n] for s, n in self.runs],
        }
        return json.dumps(header, separators=(",", ":")).encode() + b"\n" + self.tail

    def metadata(self) -> dict[str, str]:
        return {META_OWNER: self.owner, META_SIZE: str(self.size)}

    @classmethod
    def parse(cls, body: bytes, etag: str | None, path: str) -> Record:
        line, sep, tail = body.partition(b"\n")
        try:
            header = json.loads(line) if sep else None
            if not isinstance(header, dict) or header.get("v") != RECORD_VERSION:
                raise ValueError("unknown record version")
            record = cls(
                owner=str(header["owner"]),
                block_size=int(header["block_size"]),
                blocks=int(header["blocks"]),
                runs=[(str(s), int(n)) for s, n in header["runs"]],
                tail=tail,
                etag=etag,
            )
        except (ValueError, KeyError, TypeError) as err:
            raise StorageDriverError(f"resume {path}: the upload record is unreadable") from err
        if record.blocks and (not record.runs or record.runs[0][1] != 1):
            raise StorageDriverError(f"resume {path}: the upload record is unreadable")
        return record


class AzureWriter(PartWriter[str]):
    """See the module docstring; buffering, parallel sends, kept blocks and
    the tail's bookkeeping are core's `PartWriter`. With `record=None` the
    writer keeps no record (a large put_content: nothing to resume)."""

    max_parts = MAX_BLOCKS
    part_noun = "block"

    def __init__(
        self, driver: AzureDriver, path: str, key: str, record: Record | None, session: str
    ) -> None:
        block_size = record.block_size if record is not None else driver.settings.chunk_size
        resumed = record.ids() if record is not None else []
        super().__init__(
            path,
            part_size=block_size,
            concurrency=driver.settings.upload_concurrency,
            parts=dict(enumerate(resumed, start=1)),
            tail=record.tail if record is not None else b"",
            thread_name=f"regstore-azure-upload-{key[-24:]}",
        )
        self._driver = driver
        self._blob = driver.blob(key)
        self._record_blob = driver.blob(driver.keys.record_key(path)) if record else None
        self._record = record
        self._session = session
        #: Where this writer's own blocks start (those before are resumed).
        self._first_own = len(resumed) + 1

    # -- PartWriter --------------------------------------------------------

    def send_part(self, number: int, body: bytes | bytearray) -> str:
        """One Put Block; staging the same id again replaces the block."""
        ident = block_id(self._session, number) if number >= self._first_own else None
        if ident is None:  # never: resumed blocks are confirmed, not re-sent
            raise StorageDriverError(f"{self.path}: block {number} belongs to an earlier session")
        self._blob.stage_block(ident, body, length=len(body))
        return ident

    def persist(self, parts: list[str], tail: bytes) -> None:
        assert self._record is not None
        runs = list(self._record.runs)
        if len(parts) >= self._first_own and (not runs or runs[-1][0] != self._session):
            runs.append((self._session, self._first_own))
        self.write_record(
            Record(self._session, self.part_size, len(parts), runs, tail, self._record.etag)
        )

    def write_record(self, record: Record) -> None:
        """Put the record, conditional on the ETag this writer last saw
        (None: only if there is none). A 412 whose record still names this
        session was our own write with a lost reply; any other owner took
        the upload over."""
        assert self._record_blob is not None
        for _ in range(3):
            expected = record.etag
            conditions: dict[str, Any] = (
                {"etag": expected, "match_condition": MatchConditions.IfNotModified}
                if expected
                else {}
            )
            try:
                result = self._record_blob.upload_blob(
                    record.body(),
                    blob_type=BlobType.BLOCKBLOB,
                    overwrite=True,
                    metadata=record.metadata(),
                    **conditions,
                )
            except HttpResponseError as err:
                if not is_precondition_failed(err):
                    raise
                owner, etag = self._driver.record_owner(self.path)
                if owner != self._session or etag is None:
                    raise StorageDriverError(
                        f"{self.path}: another writer took this upload over "
                        "(a newer writer, or a second resume); this one may no longer "
                        "close or commit it"
                    ) from err
                record.etag = etag
                continue
            record.etag = str(result["etag"])
            self._record = record
            return
        raise StorageDriverError(f"{self.path}: the upload record kept changing")

    def check_publish(self) -> None:
        """Refuse to publish when another writer took the upload over (the
        record names another session) or it is gone (committed or cancelled
        by another writer, or purged): one HEAD."""
        if self._record is None:
            return
        owner, _ = self._driver.record_owner(self.path)
        if owner != self._session:
            raise StorageDriverError(
                f"commit {self.path}: "
                + (
                    "the upload is gone (committed or cancelled by another writer, or purged)"
                    if owner is None
                    else "another writer took this upload over (a newer writer, or a second resume)"
                )
                + "; it was not published"
            )

    def publish(self, parts: list[str], tail: bytes) -> None:
        if not parts and len(tail) <= self._driver.single_put:
            # Nothing filled a block: one Put Blob publishes the whole object.
            self._blob.upload_blob(tail, blob_type=BlobType.BLOCKBLOB, overwrite=True)
            return
        ids = list(parts)
        if tail:
            ids.append(self.sent_tail())
        try:
            # LATEST: the uncommitted block of an id, else the committed one
            # (a retry after a Put Block List whose reply was lost finds them
            # committed and commits the same list again).
            self._blob.commit_block_list([BlobBlock(i, BlockState.LATEST) for i in ids])
        except HttpResponseError as err:
            if error_code(err) == "InvalidBlockList":
                raise StorageDriverError(
                    f"commit {self.path}: the blocks of this upload are gone from the blob: "
                    "another upload to the same path committed, or a put_content replaced "
                    "it, after they were staged (Azure then discards every uncommitted "
                    "block); nothing of this upload was published"
                ) from err
            raise

    def after_publish(self) -> None:
        # Repeated by a retried commit until it succeeds: a record left
        # behind would let a resume start over on published content.
        self._delete_record()

    def discard(self) -> None:
        # Staged blocks cannot be removed without committing the blob; Azure
        # discards uncommitted blocks after a week, or at the next commit.
        self._delete_record()

    def _delete_record(self) -> None:
        """Delete the record if it is still ours (conditional on our ETag):
        a writer that was taken over leaves the newer one's record alone."""
        if self._record_blob is None or self._record is None:
            return
        try:
            self._record_blob.delete_blob(
                etag=self._record.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as err:
            if is_not_found(err):
                return
            if not is_precondition_failed(err):
                raise
            owner, etag = self._driver.record_owner(self.path)
            if owner == self._session and etag is not None:
                # Our own rewrite whose reply was lost: delete that one.
                self._record.etag = etag
                self._delete_record()
