"""The azure driver: regstore's contract on Azure Blob Storage.

Blob names are distribution's: `rootdirectory` joined with the path, no
leading slash, so regstore and a distribution registry can share a
container. Requests per operation (the tests count them):

- stat of a blob: one Get Blob Properties; of a directory: that plus one
  listing of `name/` asking for one result (never a bare prefix);
- list: a hierarchical listing (delimiter `/`) of `name/`, paginated, plus a
  flat page of `name/` to confirm each child directory holds a visible
  blob (a probe per child only beyond that page);
- walk: one flat paginated listing of `name/` (5,000 names a page), in the
  byte order of names (`Capabilities(walk_order="key")`); a `start_after`
  costs one probe, and the pages before it are read again (Azure's listing
  cannot start after a given name: its marker is opaque);
- delete: flat listing pages of `name/` and one Blob Batch per 256 names, four
  in flight at once (the first batch also names `name` itself); a blob alone costs a listing, Get
  Blob Properties and Delete Blob;
- put_content: one Put Blob up to 64 MiB, else blocks of `chunksize` staged
  in parallel and one Put Block List; move: Get Blob Properties, Copy Blob
  (polled while pending), Delete Blob.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Self

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobPrefix,
    BlobSasPermissions,
    BlobType,
    generate_blob_sas,
)

from regstore import (
    Buffer,
    Capabilities,
    FileInfo,
    FileWriter,
    PathNotFoundError,
    StorageDriver,
    StorageDriverError,
    UploadInfo,
)
from regstore.keys import KeyLayout
from regstore.paths import ROOT
from regstore.walk import walk_listing
from regstore_azure.client import (
    SINGLE_PUT,
    Connection,
    Settings,
    make_connection,
    read_chunk,
)
from regstore_azure.copy import CopyState, wait_for_copy
from regstore_azure.errors import is_not_found, is_precondition_failed
from regstore_azure.plugin import SPEC
from regstore_azure.reader import open_reader
from regstore_azure.writer import META_OWNER, META_SIZE, AzureWriter, Record, new_session

__all__ = ["AzureDriver"]

#: Names per listing page (Azure's maximum).
PAGE = 5000
#: Sub-requests per Blob Batch (Azure's maximum).
BATCH = 256
#: Blob Batch requests of one delete in flight at once.
DELETE_CONCURRENCY = 4
#: Clock skew allowed for a SAS's start time.
SAS_SKEW = dt.timedelta(minutes=5)
#: A user-delegation key lives this long (Azure allows up to 7 days) ...
DELEGATION_KEY_LIFE = dt.timedelta(hours=48)
#: ... and is renewed once less than this (plus the SAS expiry) is left.
DELEGATION_KEY_MARGIN = dt.timedelta(minutes=30)


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class _Batches:
    """Blob Batch deletes sent `DELETE_CONCURRENCY` at a time while the
    listing goes on; leaving the block waits for all and raises the first
    failure."""

    def __init__(self, send: Callable[[Sequence[str]], None]) -> None:
        self._send = send
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []

    def submit(self, names: Sequence[str]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(DELETE_CONCURRENCY, "regstore-azure-delete")
        self._futures.append(self._pool.submit(self._send, list(names)))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is None:
            return
        self._pool.shutdown(wait=True)
        if exc[0] is None:
            for future in self._futures:
                future.result()


class AzureDriver(StorageDriver):
    """See the module docstring."""

    capabilities = SPEC.capabilities or Capabilities()
    #: Content up to this size is published by one Put Blob.
    single_put = SINGLE_PUT

    def __init__(self, connection: Connection, settings: Settings) -> None:
        self._conn = connection
        self._container = connection.container
        self.settings = settings
        self.keys = KeyLayout(settings.root)
        self._delegation_lock = threading.Lock()
        self._delegation_key: Any = None
        if connection.account_key is None and connection.token_credential is None:
            # A SAS from a connection string cannot sign another SAS.
            self.capabilities = Capabilities(redirect=False, persistent=True, walk_order="key")

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Self:
        """The factory's entry: coerced parameters to a ready driver."""
        return cls(make_connection(params), Settings.from_parameters(params))

    def __repr__(self) -> str:
        return (
            f"<AzureDriver account={self._conn.account_name!r} "
            f"container={self.settings.container!r} root={self.settings.root!r}>"
        )

    # -- keys and clients -------------------------------------------------

    def key(self, path: str) -> str:
        """The blob name of `path` (distribution's mapping)."""
        return self.keys.key(path)

    def blob(self, key: str) -> Any:
        """The SDK's BlobClient of a blob name."""
        return self._container.get_blob_client(key)

    # -- reading ------------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        try:
            downloader = self.blob(self.key(path)).download_blob(
                max_concurrency=self.settings.upload_concurrency
            )
            return bytes(downloader.readall())
        except HttpResponseError as err:
            if is_not_found(err):
                raise PathNotFoundError(path) from err
            raise

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return open_reader(
            self.blob(self.key(path)),
            path,
            offset,
            chunk=read_chunk(self.settings.chunk_size),
            ahead=self.settings.upload_concurrency,
        )

    def stat(self, path: str) -> FileInfo:
        if path != ROOT:
            try:
                props = self.blob(self.key(path)).get_blob_properties()
            except HttpResponseError as err:
                if not is_not_found(err):
                    raise
            else:
                return FileInfo(path, int(props.size), _utc(props.last_modified), False)
        for info in self._files(self.keys.dir_prefix(path), page=1):
            return FileInfo(path, 0, info.mod_time, True)
        raise PathNotFoundError(path)

    def list(self, path: str) -> list[str]:
        prefix = self.keys.dir_prefix(path)
        children: set[str] = set()
        subdirs: set[str] = set()
        found = False
        for item in self._container.walk_blobs(
            name_starts_with=prefix or None, delimiter="/", results_per_page=PAGE
        ):
            name = str(item.name)
            if self.keys.hidden(name):
                continue
            if isinstance(item, BlobPrefix):
                subdirs.add(name)
                continue
            found = True
            if name != prefix:  # a directory marker blob ("dir/") is no child
                children.add(self.keys.path_of(name))
        if subdirs:
            # A child directory may hold nothing but hidden names (the records
            # of a store rooted there): such a child is no child.
            subdirs = self._with_files(prefix, subdirs)
            found = found or bool(subdirs)
            children.update(self.keys.path_of(sub.rstrip("/")) for sub in subdirs)
        if not children and not found and path != ROOT:
            raise PathNotFoundError(path)
        return sorted(children)

    def _with_files(self, prefix: str, subdirs: set[str]) -> set[str]:
        """Which of the child prefixes of `prefix` hold a visible blob: one
        flat page of `prefix` confirms the small ones; each child still
        unconfirmed after it costs one probe."""
        confirmed: set[str] = set()
        complete = True
        pages = self._container.list_blobs(
            name_starts_with=prefix or None, results_per_page=PAGE
        ).by_page()
        page = next(pages, None)
        for item in page or ():
            name = str(item.name)
            rest = name[len(prefix) :]
            if "/" in rest and not self.keys.hidden(name) and not name.endswith("/"):
                confirmed.add(prefix + rest.split("/", 1)[0] + "/")
        complete = getattr(pages, "continuation_token", None) is None
        if complete:
            return subdirs & confirmed
        return {sub for sub in subdirs if sub in confirmed or self._has_files(sub)}

    def _files(
        self, prefix: str, *, start_after: str | None = None, page: int = PAGE
    ) -> Iterator[FileInfo]:
        """The blobs below `prefix` in name order (lazy: a page is fetched
        when the consumer gets that far); directory markers and hidden
        names are left out, and so is everything at or before
        `start_after`."""
        for item in self._container.list_blobs(
            name_starts_with=prefix or None, results_per_page=page
        ):
            name = str(item.name)
            if name.startswith(self.keys.hidden_prefix):
                return  # `~` sorts after every valid name: nothing follows
            if start_after is not None and name <= start_after:
                continue
            if self.keys.hidden(name) or name.endswith("/"):
                continue
            yield FileInfo(self.keys.path_of(name), int(item.size), _utc(item.last_modified), False)

    def _has_files(self, prefix: str) -> bool:
        return next(self._files(prefix, page=1), None) is not None

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        return self._walk(path, start_after, prune)

    def _walk(
        self, path: str, start_after: str | None, prune: Callable[[FileInfo], bool] | None
    ) -> Iterator[FileInfo]:
        prefix = self.keys.dir_prefix(path)
        # In name order a directory sits where its contents start (name +
        # "/"), so resuming after one needs to know it was one: one probe.
        position: str | None = None
        if start_after is not None:
            position = self.key(start_after)
            if self._has_files(position + "/"):
                position += "/"
        files = self._files(prefix, start_after=position)
        first = next(files, None)
        if first is None:
            if path != ROOT and (position is None or not self._has_files(prefix)):
                raise PathNotFoundError(path)
            return

        def chained() -> Iterator[FileInfo]:
            yield first
            yield from files

        is_after = None
        if position is not None:
            after = position

            def is_after(info: FileInfo) -> bool:
                own = self.key(info.path) + ("/" if info.is_dir else "")
                return own > after

        yield from walk_listing(path, chained(), is_after=is_after, prune=prune)

    # -- writing ------------------------------------------------------------

    def put_content(self, path: str, data: Buffer) -> None:
        body = data if isinstance(data, bytes) else bytes(data)
        key = self.key(path)
        if len(body) <= self.single_put:
            self.blob(key).upload_blob(body, blob_type=BlobType.BLOCKBLOB, overwrite=True)
            return
        # Larger: blocks staged in parallel, one Put Block List (atomic).
        writer = AzureWriter(self, path, key, None, new_session())
        try:
            writer.write(body)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise

    def writer(self, path: str, append: bool = False) -> FileWriter:
        key = self.key(path)
        session = new_session()
        if append:
            record = self._resume_record(path, key)
            if record is not None:
                # Claim the upload for this session (conditional on the
                # record's ETag): a second resumer's claim makes ours fail.
                claimed = Record(
                    session,
                    record.block_size,
                    record.blocks,
                    record.runs,
                    record.tail,
                    record.etag,
                )
                writer = AzureWriter(self, path, key, claimed, session)
                writer.write_record(claimed)
                return writer
        # A new upload (or a resume on zero-length content): a record at
        # once, unconditionally, so a resume finds it and older writers of
        # the path find themselves replaced.
        fresh = Record(session, self.settings.chunk_size)
        writer = AzureWriter(self, path, key, fresh, session)
        writer.write_record(fresh)
        return writer

    def _resume_record(self, path: str, key: str) -> Record | None:
        """The record of the upload to resume, its blocks checked; None for
        a new upload on zero-length content."""
        record = self.read_record(path)
        if record is not None:
            self._check_blocks(path, key, record)
            return record
        try:
            props = self.blob(key).get_blob_properties()
        except HttpResponseError as err:
            if is_not_found(err):
                raise PathNotFoundError(path, detail=f"no upload to resume at {path}") from err
            raise
        if int(props.size) != 0:
            raise StorageDriverError(
                f"cannot append to {path}: it holds committed content and no upload"
            )
        return None

    def read_record(self, path: str) -> Record | None:
        """The record of a closed upload to `path`, or None."""
        try:
            downloader = self.blob(self.keys.record_key(path)).download_blob(max_concurrency=1)
            body = downloader.readall()
        except HttpResponseError as err:
            if is_not_found(err):
                return None
            raise
        return Record.parse(bytes(body), str(downloader.properties.etag), path)

    def record_owner(self, path: str) -> tuple[str | None, str | None]:
        """The session owning the record of `path` and the record's ETag
        (one Get Blob Properties); (None, None) if there is none."""
        try:
            props = self.blob(self.keys.record_key(path)).get_blob_properties()
        except HttpResponseError as err:
            if is_not_found(err):
                return None, None
            raise
        return (props.metadata or {}).get(META_OWNER), str(props.etag)

    def _check_blocks(self, path: str, key: str, record: Record) -> None:
        """Blocks 1..n of the record must be on the blob, each the block
        size: uncommitted, or committed by a commit whose reply was lost."""
        ids = record.ids()
        if not ids:
            return
        try:
            committed, uncommitted = self.blob(key).get_block_list("all")
        except HttpResponseError as err:
            if not is_not_found(err):
                raise
            committed, uncommitted = [], []
        sizes = {b.id: int(b.size) for b in committed}
        sizes.update({b.id: int(b.size) for b in uncommitted})
        missing = [n for n, ident in enumerate(ids, start=1) if ident not in sizes]
        if missing:
            raise StorageDriverError(
                f"resume {path}: {len(missing)} of the upload's {len(ids)} blocks are gone "
                f"from the blob (first: block {missing[0]}): the path was written "
                "(a put_content or another upload's commit) after they were staged, "
                "and Azure discards a blob's uncommitted blocks then; start the upload over"
            )
        for n, ident in enumerate(ids, start=1):
            if sizes[ident] != record.block_size:
                raise StorageDriverError(
                    f"resume {path}: block {n} has {sizes[ident]} bytes, not the "
                    f"upload's block size {record.block_size}"
                )

    # -- uploads in flight ------------------------------------------------

    def _records(self) -> Iterator[Any]:
        yield from self._container.list_blobs(
            name_starts_with=self.keys.hidden_prefix, include=["metadata"], results_per_page=PAGE
        )

    def list_uploads(self) -> Iterator[UploadInfo]:
        """regstore's closed uploads under the root, from their records (one
        listing with metadata). Azure shows no other client's uploads in
        flight (uncommitted blocks are not listed as uploads)."""
        for item in self._records():
            meta = item.metadata or {}
            size = meta.get(META_SIZE)
            yield UploadInfo(
                self.keys.record_path(str(item.name)),
                int(size) if size and size.isdigit() else None,
                _utc(item.last_modified),
                True,
                meta.get(META_OWNER, ""),
            )

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        """Delete the records of uploads older than `older_than` (they can no
        longer be resumed); their staged blocks are discarded by Azure within
        a week, or at the path's next commit."""
        now = dt.datetime.now(dt.UTC)
        doomed = [
            self.keys.record_key(info.path)
            for info in self.list_uploads()
            if info.path is not None
            and info.purgeable(older_than, now=now, include_foreign=include_foreign)
        ]
        if not dry_run:
            for start in range(0, len(doomed), BATCH):
                self._delete_names(doomed[start : start + BATCH])
        return len(doomed)

    # -- moving and deleting ----------------------------------------------

    def move(self, source: str, dest: str) -> None:
        src = self.blob(self.key(source))
        try:
            props = src.get_blob_properties()
        except HttpResponseError as err:
            if is_not_found(err):
                raise PathNotFoundError(source) from err
            raise
        if source == dest:
            return
        dst = self.blob(self.key(dest))
        result = dst.start_copy_from_url(
            src.url, source_etag=props.etag, source_match_condition=MatchConditions.IfNotModified
        )
        started = CopyState(result.get("copy_id"), result.get("copy_status"))

        def poll() -> CopyState:
            copy = dst.get_blob_properties().copy
            return CopyState(copy.id, copy.status, copy.status_description or "")

        try:
            wait_for_copy(
                started,
                poll,
                dst.abort_copy,
                polls=self.settings.copy_polls,
                delay=self.settings.copy_delay,
                what=f"move {source} to {dest}",
            )
        except StorageDriverError:
            # An aborted or failed copy leaves a destination blob of zero
            # length: remove it (only while it is still our copy's), so a
            # failed move shows no object at the destination.
            with contextlib.suppress(HttpResponseError):
                if dst.get_blob_properties().copy.id == started.copy_id:
                    dst.delete_blob()
            raise
        try:
            # Only the version copied: a source rewritten meanwhile stays.
            src.delete_blob(etag=props.etag, match_condition=MatchConditions.IfNotModified)
        except HttpResponseError as err:
            # Gone already: a retried Delete Blob whose first reply was lost.
            if not (is_not_found(err) or is_precondition_failed(err)):
                raise

    def delete(self, path: str) -> None:
        key = self.key(path)
        prefix = key + "/"
        names: list[str] = []
        found = False
        with _Batches(self._delete_names) as batches:
            for item in self._container.list_blobs(name_starts_with=prefix, results_per_page=PAGE):
                name = str(item.name)
                if not found:
                    if self.keys.hidden(name) or name.endswith("/"):
                        names.append(name)
                        continue
                    found = True
                    names.insert(0, key)  # a blob of the directory's own name goes too
                names.append(name)
                if len(names) >= BATCH:
                    batches.submit(names[:BATCH])
                    names = names[BATCH:]
            if found and names:
                batches.submit(names)
        if found:
            return
        # No visible blob below: a blob, or nothing (hidden names alone are
        # no directory, and stay). Its properties first: a Delete Blob that
        # the SDK retries after a lost reply meets a 404 that is success.
        blob = self.blob(key)
        try:
            blob.get_blob_properties()
        except HttpResponseError as err:
            if is_not_found(err):
                raise PathNotFoundError(path) from err
            raise
        try:
            blob.delete_blob()
        except HttpResponseError as err:
            if not is_not_found(err):
                raise

    def _delete_names(self, names: Sequence[str]) -> None:
        """One Blob Batch deleting `names` (at most 256); a blob already gone
        is fine, any other failure is reported per blob."""
        if not names:
            return
        responses = self._container.delete_blobs(*names, raise_on_any_failure=False)
        failures = []
        for name, response in zip(names, responses, strict=False):
            status = int(getattr(response, "status_code", 0) or 0)
            if status >= 300 and status != 404:
                reason = getattr(response, "reason", "") or ""
                failures.append(f"{name}: {status} {reason}".strip())
        if failures:
            more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
            raise StorageDriverError(
                f"delete failed for {len(failures)} blobs: {'; '.join(failures[:5])}{more}"
            )

    # -- redirects ----------------------------------------------------------

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A read-only SAS URL of the blob (GET and HEAD alike): a service SAS
        with the shared key, a user-delegation SAS with a token credential;
        None when the driver holds neither."""
        del method  # a read SAS serves GET and HEAD
        now = dt.datetime.now(dt.UTC)
        expiry = now + dt.timedelta(seconds=self.settings.redirect_expiry)
        key = self.key(path)
        common: dict[str, Any] = {
            "account_name": self._conn.account_name,
            "container_name": self.settings.container,
            "blob_name": key,
            "permission": BlobSasPermissions(read=True),
            "expiry": expiry,
            "start": now - SAS_SKEW,
        }
        if self._conn.account_key is not None:
            sas = generate_blob_sas(account_key=self._conn.account_key, **common)
        elif self._conn.token_credential is not None:
            sas = generate_blob_sas(user_delegation_key=self.delegation_key(now, expiry), **common)
        else:
            return None
        return f"{self.blob(key).url}?{sas}"

    def delegation_key(self, now: dt.datetime, expiry: dt.datetime) -> Any:
        """The cached user-delegation key, renewed when it would expire
        within `expiry` plus a margin."""
        with self._delegation_lock:
            cached = self._delegation_key
            if cached is not None:
                ends = _utc(
                    dt.datetime.fromisoformat(str(cached.signed_expiry).replace("Z", "+00:00"))
                )
                if ends - DELEGATION_KEY_MARGIN >= expiry:
                    return cached
            life = max(DELEGATION_KEY_LIFE, expiry - now + DELEGATION_KEY_MARGIN)
            life = min(life, dt.timedelta(days=7))
            self._delegation_key = self._conn.service.get_user_delegation_key(
                key_start_time=now - SAS_SKEW, key_expiry_time=now + life
            )
            return self._delegation_key
