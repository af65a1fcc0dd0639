"""The gcs driver: regstore's contract on Google Cloud Storage.

Object names are distribution's: `rootdirectory` joined with the path, no
leading slash, so regstore and a distribution registry can share a bucket.
Requests per operation (the tests count them):

- stat of an object: one metadata GET; of a directory: that GET (a 404)
  plus one listing of `name/` with at most one result (never a bare
  prefix: `/a` is no directory because `/ab` exists); any other error than
  a 404 is an error, not a directory;
- put_content: one multipart upload with the body's crc32c;
- list: a delimiter listing of `name/`, paginated (1,000 a page);
- walk: one flat listing of `name/`, paginated, in the byte order of names
  (`Capabilities(walk_order="key")`); a `start_after` costs one probe;
- delete: flat listing pages of `name/` and one DELETE per object, up to
  `maxconcurrency` in parallel, each guarded by the listed generation;
- move: a metadata GET, rewrite calls until done (one for most objects),
  then a DELETE of the source's generation.
"""

from __future__ import annotations

import builtins
import datetime as dt
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, BinaryIO, Self

from google.api_core import exceptions as api_exceptions
from google.auth.transport.requests import Request
from google.cloud import storage  # type: ignore[import-untyped]

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
from regstore.keys import HIDDEN_DIR, KeyLayout
from regstore.paths import ROOT
from regstore.walk import walk_keys
from regstore_gcs.client import Connection, Settings, make_connection, upload_bytes
from regstore_gcs.errors import (
    invalid_response,
    is_not_found,
    is_precondition_failed,
    status_of,
)
from regstore_gcs.plugin import SPEC
from regstore_gcs.reader import open_reader
from regstore_gcs.writer import (
    META_COMMIT,
    META_SIZE,
    META_TOKEN,
    GCSWriter,
    PartRef,
    ResumeState,
    parse_record,
)

__all__ = ["HIDDEN_DIR", "GCSDriver"]  # HIDDEN_DIR: core's, re-exported

#: Objects per listing page (GCS's maximum).
PAGE = 1000
#: Fresh starts of a download whose retry found the object replaced.
DOWNLOAD_RESTARTS = 3
#: Only the fields the driver reads, for smaller listing replies.
_LIST_FIELDS = "items(name,size,updated,generation,metadata),prefixes,nextPageToken"
#: Beyond every name that starts with a given prefix (valid names are ASCII).
_PAST = "\U0010fffd"


def _utc(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    return value.astimezone(dt.UTC)


class GCSDriver(StorageDriver):
    """See the module docstring."""

    capabilities = SPEC.capabilities or Capabilities()

    def __init__(self, connection: Connection, settings: Settings) -> None:
        self.connection = connection
        self.client: storage.Client = connection.client
        self.bucket: storage.Bucket = connection.bucket
        self.retry = connection.retry
        self.settings = settings
        #: The name of each path, and the names no path maps to (core's).
        self.keys = KeyLayout(settings.root)
        if connection.signer is None and connection.iam_signer is None:
            # No key to sign with (anonymous, or user credentials).
            self.capabilities = replace(self.capabilities, redirect=False)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Self:
        """The factory's entry: coerced parameters to a ready driver."""
        return cls(make_connection(params), Settings.from_parameters(params))

    def __repr__(self) -> str:
        return f"<GCSDriver bucket={self.settings.bucket!r} root={self.settings.root!r}>"

    # -- names --------------------------------------------------------------

    def key(self, path: str) -> str:
        """The object name of `path` (distribution's mapping)."""
        return self.keys.key(path)

    def upload_dir(self, path: str, token: str) -> str:
        """The prefix of the part objects of the upload `token` to `path`:
        `<root>/~regstore-uploads/<path>~<token>/`."""
        return f"{self._parts_prefix(path)}{token}/"

    def _parts_prefix(self, path: str) -> str:
        """The prefix of every upload's parts of `path` (`~` ends it: no
        other path's parts or record share it)."""
        return self.keys.record_key(path) + "~"

    # -- requests the writer shares -----------------------------------------

    def upload(
        self, blob: storage.Blob, data: Buffer, *, if_generation_match: int | None = None
    ) -> None:
        """One single-request upload with crc32c, retried by the library
        (the same bytes again, or guarded by the generation)."""
        upload_bytes(
            blob,
            data,
            client=self.client,
            retry=self.retry,
            if_generation_match=if_generation_match,
            timeout=self.settings.timeout,
        )

    def get_blob(self, name: str) -> storage.Blob | None:
        """An object's metadata (one GET), None if absent."""
        blob: storage.Blob | None = self.bucket.get_blob(
            name, retry=self.retry, timeout=self.settings.timeout
        )
        return blob

    def compose(
        self,
        name: str,
        sources: Sequence[PartRef],
        *,
        if_generation_match: int | None = None,
        commit: str | None = None,
    ) -> PartRef:
        """One compose of up to 32 sources, each pinned by generation."""
        blob = self.bucket.blob(name)
        blob.content_type = "application/octet-stream"
        if commit is not None:
            blob.metadata = {META_COMMIT: commit}
        parts = [self.bucket.blob(n, generation=g) for n, g in sources]
        # Safe to repeat: the sources are pinned, and the destination is
        # either one of our own part names or guarded by its generation.
        blob.compose(
            parts,
            if_generation_match=if_generation_match,
            retry=self.retry,
            timeout=self.settings.timeout,
        )
        return name, int(blob.generation)

    def compose_many(
        self, jobs: builtins.list[tuple[str, builtins.list[PartRef]]]
    ) -> builtins.list[PartRef]:
        """Composes in parallel (up to maxconcurrency), results in order."""
        futures = [self._submit(self.compose, name, group) for name, group in jobs]
        return [future.result() for future in futures]

    def download(
        self, name: str, generation: int | None = None, **kwargs: Any
    ) -> tuple[storage.Blob, bytes]:
        """One download (`download_as_bytes` arguments): the blob (with the
        reply's generation) and the bytes, made to fail as a caller can tell.

        Two things the library leaves to its caller. It reads the body of an
        error reply after its retry loop, so a connection cut there raises a
        stream error in place of the status: the status is taken from the
        reply. And a download whose body was cut is retried pinned to the
        first reply's generation: an object replaced meanwhile then answers
        404 though a newer version is there; nothing was handed out yet, so
        the download starts over (a bounded number of times)."""
        for attempt in range(DOWNLOAD_RESTARTS + 1):
            blob = self.bucket.blob(name, generation=generation)
            try:
                data = blob.download_as_bytes(
                    retry=self.retry, timeout=self.settings.timeout, **kwargs
                )
            except Exception as err:
                invalid = invalid_response(err)
                api = isinstance(err, api_exceptions.GoogleAPICallError)
                status = status_of(err) if api or invalid is None else status_of(invalid)
                pinned_retry = invalid is not None and "generation=" in str(
                    getattr(invalid.response, "url", "")
                )
                if (
                    status == 404
                    and generation is None
                    and pinned_retry
                    and attempt < DOWNLOAD_RESTARTS
                ):
                    continue  # replaced while being read: start over
                if api or invalid is None:
                    raise
                raise api_exceptions.from_http_status(  # type: ignore[no-untyped-call]
                    status, f"download of {name} failed with HTTP {status}"
                ) from err
            return blob, bytes(data)
        raise AssertionError("unreachable")  # the loop returns or raises

    def read_record_raw(self, path: str) -> tuple[bytes, int] | None:
        """The record's bytes and generation (one GET), None if absent."""
        try:
            blob, body = self.download(self.keys.record_key(path))
        except Exception as err:
            if is_not_found(err):
                return None
            raise
        return body, int(blob.generation)

    def record_token(self, path: str) -> str | None:
        """The token of the record of `path` (one metadata GET), None if absent."""
        blob = self.get_blob(self.keys.record_key(path))
        if blob is None:
            return None
        return str((blob.metadata or {}).get(META_TOKEN, ""))

    def delete_record(self, path: str, token: str | None) -> None:
        """Remove the record of `path` if it is `token`'s (any with None)."""
        blob = self.get_blob(self.keys.record_key(path))
        if blob is None:
            return
        if token is not None and (blob.metadata or {}).get(META_TOKEN) != token:
            return  # a newer writer's
        self._delete_objects([(blob.name, int(blob.generation))])

    def delete_prefix(self, prefix: str) -> None:
        """Every object under `prefix`, a listing page at a time."""
        for page in self._pages(prefix):
            items = [(b.name, int(b.generation)) for b in page[0]]
            self._delete_objects(items)

    # -- reading -------------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        try:
            # One GET; the library checks the whole body's crc32c.
            _, data = self.download(self.key(path))
        except Exception as err:
            if is_not_found(err):
                raise PathNotFoundError(path) from err
            raise
        return data

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return open_reader(self, self.key(path), path, offset)

    def stat(self, path: str) -> FileInfo:
        if path != ROOT:
            blob = self.get_blob(self.key(path))  # only a 404 is None
            if blob is not None:
                return FileInfo(path, int(blob.size or 0), _utc(blob.updated), False)
        for info in self._files(self.keys.dir_prefix(path), page_size=1):
            return FileInfo(path, 0, info.mod_time, True)
        raise PathNotFoundError(path)

    def list(self, path: str) -> builtins.list[str]:
        prefix = self.keys.dir_prefix(path)
        children: set[str] = set()
        subdirs: set[str] = set()
        found = False
        for items, prefixes in self._pages(prefix, delimiter="/"):
            for blob in items:
                name = blob.name
                if self.keys.hidden(name):
                    continue
                found = True
                if name != prefix:  # a directory marker object ("dir/") is no child
                    children.add(self.keys.path_of(name))
            for sub in prefixes:
                if not self.keys.hidden(sub):
                    subdirs.add(sub)
        if subdirs:
            # A child directory may hold nothing but hidden objects (the
            # records of a store rooted there): such a child is no child.
            subdirs = self._with_files(prefix, subdirs)
            found = found or bool(subdirs)
            children.update(self.keys.path_of(sub.rstrip("/")) for sub in subdirs)
        if not children and not found and path != ROOT:
            raise PathNotFoundError(path)
        return sorted(children)

    def _with_files(self, prefix: str, subdirs: set[str]) -> set[str]:
        """Which child prefixes of `prefix` hold a visible object: a flat
        listing that jumps past a confirmed child's remaining objects, so a
        directory of small subdirectories costs a few pages."""
        confirmed: set[str] = set()
        start: str | None = None
        while len(confirmed) < len(subdirs):
            items, _, more = self._list_once(prefix, start_offset=start, page_size=PAGE)
            for blob in items:
                rest = blob.name[len(prefix) :]
                if "/" not in rest or self.keys.hidden(blob.name) or blob.name.endswith("/"):
                    continue
                confirmed.add(prefix + rest.split("/", 1)[0] + "/")
            if not more or not items:
                break
            last = items[-1].name
            child = prefix + last[len(prefix) :].split("/", 1)[0] + "/"
            if last.startswith(child) and child in confirmed:
                start = child + _PAST
            elif self.keys.hidden(last):
                start = self.keys.past_hidden(last)
            else:
                start = last + "\x00"
        return subdirs & confirmed

    def _list_once(
        self,
        prefix: str,
        *,
        start_offset: str | None = None,
        page_size: int = PAGE,
        delimiter: str | None = None,
    ) -> tuple[builtins.list[storage.Blob], tuple[str, ...], bool]:
        """One listing request: objects, prefixes, whether more follow."""
        iterator = self.client.list_blobs(
            self.bucket,
            prefix=prefix,
            delimiter=delimiter,
            start_offset=start_offset,
            page_size=page_size,
            max_results=page_size,
            fields=_LIST_FIELDS,
            retry=self.retry,
            timeout=self.settings.timeout,
        )
        page = next(iterator.pages)
        items = list(page)
        prefixes = tuple(getattr(page, "prefixes", ()))
        more = bool(iterator.next_page_token)
        return items, prefixes, more

    def _pages(
        self,
        prefix: str,
        *,
        delimiter: str | None = None,
        start_offset: str | None = None,
        page_size: int = PAGE,
    ) -> Iterator[tuple[builtins.list[storage.Blob], tuple[str, ...]]]:
        """Every page of a listing (lazily: one request per page)."""
        iterator = self.client.list_blobs(
            self.bucket,
            prefix=prefix,
            delimiter=delimiter,
            start_offset=start_offset,
            page_size=page_size,
            fields=_LIST_FIELDS,
            retry=self.retry,
            timeout=self.settings.timeout,
        )
        for page in iterator.pages:
            yield list(page), tuple(getattr(page, "prefixes", ()))

    def _files(
        self, prefix: str, *, start_after: str | None = None, page_size: int = PAGE
    ) -> Iterator[FileInfo]:
        """The objects below `prefix` in name order, from a flat listing
        (lazy); directory markers and hidden objects are left out."""
        start = start_after if start_after is not None and start_after > prefix else None
        while True:
            restart: str | None = None
            for items, _ in self._pages(prefix, start_offset=start, page_size=page_size):
                skip_from: str | None = None
                for blob in items:
                    name = blob.name
                    if start is not None and name == start_after:
                        continue  # start_offset is inclusive
                    if name.startswith(self.keys.hidden_prefix):
                        return  # `~` sorts after every valid name: nothing follows
                    if self.keys.hidden(name):
                        skip_from = name
                        continue
                    skip_from = None
                    if name.endswith("/"):
                        continue
                    yield FileInfo(
                        self.keys.path_of(name), int(blob.size or 0), _utc(blob.updated), False
                    )
                if skip_from is not None:
                    # The page ended inside hidden objects (another store's
                    # uploads, maybe thousands): jump past all of them.
                    restart = self.keys.past_hidden(skip_from)
                    break
            if restart is None:
                return
            start = restart

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
        return walk_keys(
            path,
            self.keys,
            lambda prefix, after: self._files(prefix, start_after=after),
            has_files=self._has_files,
            start_after=start_after,
            prune=prune,
        )

    def _has_files(self, prefix: str) -> bool:
        return next(self._files(prefix, page_size=1), None) is not None

    # -- writing -------------------------------------------------------------

    def put_content(self, path: str, data: Buffer) -> None:
        # Sent from the caller's buffer: the upload is over when this returns.
        self.upload(self.bucket.blob(self.key(path)), data)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        if append:
            return GCSWriter(self, path, self._resume_state(path))
        # A new upload replaces any earlier one of this path.
        self.delete_prefix(self._parts_prefix(path))
        writer = GCSWriter(self, path, ResumeState(secrets.token_hex(8), self.settings.chunk_size))
        writer.close_record()
        return writer

    def _resume_state(self, path: str) -> ResumeState:
        raw = self.read_record_raw(path)
        if raw is not None:
            state = parse_record(path, raw[0])
            state.record_generation = raw[1]
            return state
        blob = self.get_blob(self.key(path))
        if blob is None:
            raise PathNotFoundError(path, detail=f"no upload to resume at {path}")
        if int(blob.size or 0) != 0:
            raise StorageDriverError(
                f"cannot append to {path}: it holds committed content and no upload"
            )
        return ResumeState(secrets.token_hex(8), self.settings.chunk_size)

    # -- uploads in flight ----------------------------------------------------

    def _scan_uploads(
        self,
    ) -> tuple[builtins.list[UploadInfo], dict[str, builtins.list[tuple[str, int]]]]:
        """Every upload under the root: those with a record (by path), and
        groups of parts whose token no record names (a replaced or crashed
        writer's). Returns the infos and, per ident, the objects to delete."""
        hidden = self.keys.hidden_prefix
        records: dict[str, storage.Blob] = {}
        parts: dict[tuple[str, str], builtins.list[storage.Blob]] = {}
        for items, _ in self._pages(hidden):
            for blob in items:
                rest = blob.name[len(hidden) :]
                if "~" not in rest:
                    records[rest] = blob
                    continue
                owner, _, below = rest.partition("~")
                token = below.split("/", 1)[0]
                parts.setdefault((owner, token), []).append(blob)
        infos: builtins.list[UploadInfo] = []
        doomed: dict[str, builtins.list[tuple[str, int]]] = {}
        for rest, record in records.items():
            meta = record.metadata or {}
            token = str(meta.get(META_TOKEN, ""))
            group = parts.pop((rest, token), [])
            modified = max([_utc(record.updated), *(_utc(b.updated) for b in group)])
            size = meta.get(META_SIZE)
            ident = f"{rest}~{token}"
            infos.append(UploadInfo("/" + rest, int(size) if size else None, modified, True, ident))
            doomed[ident] = [(b.name, int(b.generation)) for b in [record, *group]]
        for (rest, token), group in parts.items():
            ident = f"{rest}~{token}"
            modified = max(_utc(b.updated) for b in group)
            infos.append(UploadInfo("/" + rest, None, modified, True, ident))
            doomed[ident] = [(b.name, int(b.generation)) for b in group]
        return infos, doomed

    def list_uploads(self) -> Iterator[UploadInfo]:
        """Every upload in flight under the root: each record (its size
        from the record's metadata; modified: the latest of its record and
        its parts), and each group of part objects no record names (a
        writer replaced by a newer one, or one that died before its first
        close): size unknown. All are ours: GCS has no other client's
        uploads to list (a resumable session is invisible)."""
        return iter(self._scan_uploads()[0])

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        """Delete the uploads `UploadInfo.purgeable` selects (records and
        part objects), returning how many; with `dry_run`, count only."""
        now = dt.datetime.now(dt.UTC)
        infos, doomed = self._scan_uploads()
        purged = 0
        for info in infos:
            if not info.purgeable(older_than, now=now, include_foreign=include_foreign):
                continue
            purged += 1
            if not dry_run:
                self._delete_objects(doomed[info.ident])
        return purged

    # -- moving and deleting ---------------------------------------------------

    def move(self, source: str, dest: str) -> None:
        src = self.get_blob(self.key(source))
        if src is None:
            raise PathNotFoundError(source)
        if source == dest:
            return
        target = self.bucket.blob(self.key(dest))
        token: str | None = None
        while True:
            # Pinned to the source's generation: repeating a call (the
            # library's retry, or this loop) copies the same bytes again.
            token, _, _ = target.rewrite(
                src,
                token=token,
                if_source_generation_match=int(src.generation),
                retry=self.retry,
                timeout=self.settings.timeout,
            )
            if token is None:
                break
        self._delete_objects([(src.name, int(src.generation))])

    def delete(self, path: str) -> None:
        key = self.key(path)
        found = False
        for items, _ in self._pages(key + "/"):
            if not found:
                # Only what no path shows (another store's uploads, a
                # marker): a directory only if an object follows.
                hidden_only = all(self.keys.hidden(b.name) or b.name.endswith("/") for b in items)
                if hidden_only and not self._has_files(key + "/"):
                    break
            found = True
            self._delete_objects([(b.name, int(b.generation)) for b in items])
        blob = self.get_blob(key)
        if blob is None:
            if not found:
                raise PathNotFoundError(path)
            return
        self._delete_objects([(key, int(blob.generation))])

    def _delete_objects(self, items: Sequence[tuple[str, int]]) -> None:
        """Delete each (name, generation), up to maxconcurrency at once;
        already gone or replaced by a newer generation is fine (the newer
        object was written after the listing). Failures are collected and
        raised together."""
        if not items:
            return
        futures: builtins.list[tuple[str, Future[None]]] = [
            (name, self._submit(self._delete_one, name, generation)) for name, generation in items
        ]
        errors: builtins.list[tuple[str, BaseException]] = []
        for name, future in futures:
            err = future.exception()
            if err is not None:
                errors.append((name, err))
        if errors:
            shown = "; ".join(
                f"{self.keys.path_of(name) if not self.keys.hidden(name) else name}: "
                f"{type(err).__name__}: {err}"
                for name, err in errors[:5]
            )
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise StorageDriverError(
                f"delete failed for {len(errors)} objects: {shown}{more}"
            ) from errors[0][1]

    def _delete_one(self, name: str, generation: int) -> None:
        try:
            # Guarded by the generation, so the library retries it.
            self.bucket.delete_blob(
                name,
                if_generation_match=generation,
                retry=self.retry,
                timeout=self.settings.timeout,
            )
        except Exception as err:
            if not (is_not_found(err) or is_precondition_failed(err)):
                raise

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.settings.max_concurrency, thread_name_prefix="regstore-gcs"
                )
            return self._pool.submit(fn, *args)

    # -- redirects -------------------------------------------------------------

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        connection = self.connection
        blob = self.bucket.blob(self.key(path))
        expiration = dt.timedelta(seconds=self.settings.redirect_expiry)
        extra: dict[str, Any] = {}
        if connection.url_base:
            extra["api_access_endpoint"] = connection.url_base
        if connection.signer is not None:
            return str(
                blob.generate_signed_url(
                    version="v4",
                    expiration=expiration,
                    method=method,
                    credentials=connection.signer,
                    **extra,
                )
            )
        if connection.iam_signer is not None:
            email, credentials = connection.iam_signer
            if not credentials.valid:
                credentials.refresh(Request())  # type: ignore[no-untyped-call]
            return str(
                blob.generate_signed_url(
                    version="v4",
                    expiration=expiration,
                    method=method,
                    service_account_email=email,
                    access_token=credentials.token,
                    **extra,
                )
            )
        return None
