"""The gcs writer: part objects composed at commit, resumable anywhere.

State in the bucket, for a path P with object name K (see the README):

- *part objects*, each exactly `part_size` bytes but the last, under
  `<root>/~regstore-uploads/<P>~<token>/`, named `<session>.<n:06d>`. `~` is
  no path character, so no path maps there (and no record name ends in
  one). The token names the upload (a new `writer(P)` picks a fresh one, a
  resume keeps it); the session names one writer instance, so two writers
  never write the same part object and one never composes another's bytes;
- a *record* at `<root>/~regstore-uploads/<P>`, written by `close()` in one
  request (atomic): a JSON line (token, part size, parts 1..n as name and
  generation) and then the tail that does not fill a part. Commit and
  cancel delete it.

Resume reads the record (one request), so `size` is exactly n x part_size +
len(tail) as of the last `close()`; the parts it names are pinned by
generation, and parts a dead writer sent after that close carry another
session's name and are never composed. Commit composes parts 1..n and the
tail (sent as part n+1) into K, 32 sources per call in a tree whose inner
composites are part objects too; only the last compose touches K, so K
keeps its old content until then and changes at once.

Every request is safe to repeat (the library's retry policy retries it):
a part is written with if_generation_match=0 and a 412 on a retry is
accepted when the object there holds our bytes (size and crc32c); the
record with if_generation_match on the generation this writer last saw; the
final compose with if_generation_match on the generation of K it observed,
and a 412 is accepted when K carries this writer's commit id.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from regstore import StorageDriverError
from regstore.parts import PartWriter
from regstore_gcs.client import crc32c_of
from regstore_gcs.errors import is_not_found, is_precondition_failed

if TYPE_CHECKING:
    from regstore_gcs.driver import GCSDriver

__all__ = [
    "COMPOSE_LIMIT",
    "MAX_PARTS",
    "META_COMMIT",
    "META_SIZE",
    "META_TOKEN",
    "GCSWriter",
    "PartRef",
    "ResumeState",
    "parse_record",
    "record_body",
]

#: Sources of one compose request (GCS's limit, fake-gcs-server's too).
COMPOSE_LIMIT = 32
#: Parts of one upload: 10,000 (as S3) keeps the record's JSON line under a
#: megabyte and the compose tree at three levels (10,000 / 32 / 32 < 32);
#: at the default 16 MiB chunksize that is 156 GiB per object.
MAX_PARTS = 10_000
#: Record metadata (also in the JSON line): read by list_uploads from the
#: listing and by commit's check with one metadata request.
META_TOKEN = "regstore-token"  # noqa: S105  (a metadata key, not a password)
META_SIZE = "regstore-size"
#: On a committed object: the commit that composed it (a retried compose
#: that finds K changed accepts it when this is its own).
META_COMMIT = "regstore-commit"
#: Attempts of the final compose when K changes between observing its
#: generation and composing onto it (a concurrent writer; last one wins).
COMPOSE_ATTEMPTS = 5

#: A part object: its name and generation.
PartRef = tuple[str, int]


@dataclass
class ResumeState:
    """Where an upload stands, as the last `close()` left it."""

    token: str
    part_size: int
    parts: dict[int, PartRef] = field(default_factory=dict)
    tail: bytes = b""
    #: The record's generation this state was read from (None: none yet).
    record_generation: int | None = None


def record_body(token: str, part_size: int, parts: list[PartRef], tail: bytes) -> bytes:
    """A record: one JSON line, then the tail."""
    header = {
        "v": 1,
        "token": token,
        "part_size": part_size,
        "parts": [[name, generation] for name, generation in parts],
        "tail": len(tail),
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + tail


def parse_record(path: str, body: bytes) -> ResumeState:
    """A record's state; a malformed one is an error naming the path."""
    line, sep, tail = body.partition(b"\n")
    try:
        header: Any = json.loads(line) if sep else None
        token, part_size = str(header["token"]), int(header["part_size"])
        parts = {
            n: (str(name), int(generation))
            for n, (name, generation) in enumerate(header["parts"], start=1)
        }
        length = int(header["tail"])
    except (ValueError, TypeError, KeyError) as err:
        raise StorageDriverError(f"resume {path}: the upload record is malformed") from err
    if length != len(tail) or len(tail) > part_size or part_size < 1:
        raise StorageDriverError(f"resume {path}: the upload record is cut short")
    return ResumeState(token, part_size, parts, tail)


class GCSWriter(PartWriter[PartRef]):
    """See the module docstring; buffering, parallel sends, kept parts and
    the tail's bookkeeping are core's `PartWriter`."""

    max_parts = MAX_PARTS

    def __init__(self, driver: GCSDriver, path: str, state: ResumeState) -> None:
        super().__init__(
            path,
            part_size=state.part_size,
            concurrency=driver.settings.upload_concurrency,
            parts=state.parts,
            tail=state.tail,
            thread_name="regstore-gcs-upload",
        )
        self._driver = driver
        self._key = driver.keys.key(path)
        self._record_key = driver.keys.record_key(path)
        self._token = state.token
        self._record_generation = state.record_generation
        #: This writer instance's own part names (see the module docstring).
        self._session = secrets.token_hex(4)
        self._commit_id = f"{self._token}.{self._session}"
        self._dir = driver.upload_dir(path, self._token)

    @property
    def token(self) -> str:
        return self._token

    # -- PartWriter ----------------------------------------------------------

    def send_part(self, number: int, body: bytes | bytearray) -> PartRef:
        """One request: the part object, new (if_generation_match=0)."""
        # The buffer itself (no copy): the writer never changes a part's
        # buffer once handed over, and keeps it until the send succeeds.
        return self._put_object(f"{self._dir}{self._session}.{number:06d}", body)

    def persist(self, parts: list[PartRef], tail: bytes) -> None:
        """The record, in one request, replacing only the generation this
        writer last saw (a 412 with our own record there is a lost reply)."""
        body = record_body(self._token, self.part_size, parts, tail)
        blob = self._driver.bucket.blob(self._record_key)
        blob.metadata = {
            META_TOKEN: self._token,
            META_SIZE: str(len(parts) * self.part_size + len(tail)),
        }
        try:
            self._driver.upload(blob, body, if_generation_match=self._record_generation)
        except Exception as err:
            if not is_precondition_failed(err):
                raise
            current = self._driver.read_record_raw(self.path)
            if current is None or current[0] != body:
                raise StorageDriverError(
                    f"close {self.path}: another writer changed this upload since it was "
                    "opened; nothing was recorded"
                ) from err
            self._record_generation = current[1]
            return
        self._record_generation = int(blob.generation)

    def close_record(self) -> None:
        """A fresh `writer(path)` records its empty upload at once, so a
        resume finds it and an older writer of the path sees it replaced."""
        self._record_generation = None
        self.persist([], b"")

    def check_publish(self) -> None:
        """Refuse to publish when a newer `writer(path)` took the path over
        (the record carries another token): one metadata request. Best
        effort: a replacement between this check and the compose is not
        caught (the new writer's own parts are never mixed in)."""
        token = self._driver.record_token(self.path)
        if token is not None and token != self._token:
            raise StorageDriverError(
                f"commit {self.path}: a newer writer replaced this upload; it was not published"
            )

    def publish(self, parts: list[PartRef], tail: bytes) -> None:
        if not parts:
            # Nothing filled a part: one upload publishes the whole object
            # (the same bytes again on a retry).
            self._driver.upload(self._driver.bucket.blob(self._key), tail)
            return
        sources = list(parts)
        if tail:
            sources.append(self.sent_tail())
        level = 0
        while len(sources) > COMPOSE_LIMIT:
            level += 1
            groups = [sources[i : i + COMPOSE_LIMIT] for i in range(0, len(sources), COMPOSE_LIMIT)]
            names = [f"{self._dir}{self._session}.c{level}.{i:06d}" for i in range(len(groups))]
            sources = self._driver.compose_many(list(zip(names, groups, strict=True)))
        self._compose_final(sources)

    def after_publish(self) -> None:
        # Repeated by a retried commit until it succeeds: a record left
        # behind would let a resume start over on published content.
        self._cleanup()

    def discard(self) -> None:
        self._cleanup()

    # -- internals ---------------------------------------------------------

    def _cleanup(self) -> None:
        """Remove this upload's part objects and its record (if still ours)."""
        self._driver.delete_prefix(self._dir)
        self._driver.delete_record(self.path, self._token)

    def _put_object(self, name: str, data: bytes | bytearray) -> PartRef:
        """A new object of `data` at `name`; returns its generation."""
        bucket = self._driver.bucket
        blob = bucket.blob(name)
        try:
            self._driver.upload(blob, data, if_generation_match=0)
        except Exception as err:
            if not is_precondition_failed(err):
                raise
            # A retry after a lost reply, or a retried commit that sends the
            # tail again: keep ours, replace anything else.
            existing = self._driver.get_blob(name)
            if (
                existing is not None
                and existing.size == len(data)
                and existing.crc32c == crc32c_of(data)
            ):
                return name, int(existing.generation)
            generation = int(existing.generation) if existing is not None else 0
            self._driver.upload(blob, data, if_generation_match=generation)
        return name, int(blob.generation)

    def _compose_final(self, sources: list[PartRef]) -> None:
        """The one compose that touches the path, guarded by the generation
        observed just before (so a retry never undoes a newer object)."""
        for _ in range(COMPOSE_ATTEMPTS):
            current = self._driver.get_blob(self._key)
            if current is not None and (current.metadata or {}).get(META_COMMIT) == self._commit_id:
                return  # an earlier attempt went through; its reply was lost
            generation = int(current.generation) if current is not None else 0
            try:
                self._driver.compose(
                    self._key, sources, if_generation_match=generation, commit=self._commit_id
                )
            except Exception as err:
                if is_precondition_failed(err):
                    continue  # K changed meanwhile (or our own attempt landed)
                if is_not_found(err):
                    raise StorageDriverError(
                        f"commit {self.path}: a part of the upload is gone (another writer "
                        "committed or cancelled it); nothing was published"
                    ) from err
                raise
            return
        raise StorageDriverError(
            f"commit {self.path}: the object kept changing under concurrent writers; "
            "nothing was published"
        )
