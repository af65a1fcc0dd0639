"""The storage-driver interface: `StorageDriver`, `FileWriter`, `FileInfo`.

This is the whole contract a driver implements (see the project's
contract.md, which follows distribution's `storagedriver.StorageDriver`).
Drivers subclass the abstract bases here; consumers may type against them
too. Path and offset validation, error wrapping and the finished-writer rules
are not each driver's business: the factory wraps every driver it creates in
`regstore.managed.ManagedDriver`, which enforces them once.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Literal, Self

from regstore.errors import UnsupportedMethodError

__all__ = [
    "API_VERSION",
    "Buffer",
    "Capabilities",
    "FileInfo",
    "FileWriter",
    "StorageDriver",
    "UploadInfo",
    "WalkOrder",
]

#: The core API version drivers declare they target (Major.Minor, like
#: distribution's `CurrentVersion`). A plugin of another major is refused.
API_VERSION = "1.0"

Buffer = bytes | bytearray | memoryview
WalkOrder = Literal["tree", "key"]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What `stat` and `walk` report about one path."""

    #: The absolute path, as the caller named it (never a backend key).
    path: str
    #: Size in bytes; 0 for directories.
    size: int
    #: Last modification, a timezone-aware UTC datetime.
    mod_time: dt.datetime
    #: True for directories (a prefix that holds at least one object).
    is_dir: bool


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """An upload in flight (neither committed nor cancelled), as
    `list_uploads` reports it: what an operator looks at before purging."""

    #: The store path the upload will publish to; None for another client's
    #: upload whose key maps to no valid store path.
    path: str | None
    #: Bytes as of the upload's last `close()` when the driver knows it
    #: without reading the data; None otherwise.
    size: int | None
    #: When the upload was last touched (opened or closed; the filesystem
    #: driver also counts writes): the age `purge_uploads` compares with. A
    #: timezone-aware UTC datetime.
    modified: dt.datetime
    #: True for uploads regstore started; False for another client's (a
    #: distribution registry sharing the bucket), which `purge_uploads`
    #: leaves alone unless asked.
    ours: bool = True
    #: The backend's name for the upload (an S3 upload id, a staging
    #: directory), for operators; never a credential.
    ident: str = ""
    #: A live writer holds the upload now (where the driver can tell, as the
    #: filesystem driver can by its lock): `purge_uploads` keeps it.
    held: bool = False

    def purgeable(
        self, older_than: dt.timedelta, *, now: dt.datetime, include_foreign: bool = False
    ) -> bool:
        """Whether `purge_uploads(older_than, include_foreign=...)` removes it:
        one rule for drivers and for the CLI's dry run."""
        if self.held:
            return False
        return (self.ours or include_foreign) and now - self.modified > older_than


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a driver can do, declared so the conformance suite skips exactly
    what a driver cannot do and nothing else (OpenDAL and SQLAlchemy's
    dialect suite select tests the same way)."""

    #: `redirect_url` returns URLs a plain HTTP client can fetch.
    redirect: bool = False
    #: A new driver instance with the same parameters (in this process or
    #: another) sees the content and can resume uploads. False for inmemory.
    persistent: bool = True
    #: The order `walk` yields paths in. "tree": distribution's order, a
    #: depth-first walk over sorted children (`/` sorts first); "key": the
    #: byte order of the backend's keys, as a flat listing returns them.
    walk_order: WalkOrder = "tree"


class FileWriter(abc.ABC):
    """A resumable upload to one path.

    `close()` persists what was written so `writer(path, append=True)` can
    resume it; `commit()` publishes it; `cancel()` discards it. Nothing is
    visible at the path before `commit()`. A writer is finished after any of
    the three; the wrapper the factory applies raises `WriterFinishedError`
    on further use, so drivers need not track that themselves.
    """

    @abc.abstractmethod
    def write(self, data: Buffer) -> int:
        """Append `data` to the upload; returns the number of bytes taken
        (always all of them)."""

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Bytes in the upload so far, including those of earlier sessions
        resumed with `append=True`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Persist the upload for a later resume, without publishing it."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Publish the upload at its path."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Discard the upload."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A context manager closes; it never commits on its own.
        self.close()


class StorageDriver(abc.ABC):
    """A filesystem-like key/value store.

    Every method is synchronous and safe to call from many threads on one
    instance. Paths are validated before a driver sees them (see
    `regstore.paths`); a driver receives only valid paths, and `/` only
    where the operation allows it.
    """

    #: The registration name; the factory sets it, and it prefixes every
    #: error message.
    name: str = ""
    #: What the driver can do; instances may narrow it (a driver configured
    #: without a redirect endpoint, say).
    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    def get_content(self, path: str) -> bytes:
        """The whole object at `path`; `PathNotFoundError` if absent."""

    @abc.abstractmethod
    def put_content(self, path: str, data: Buffer) -> None:
        """Replace the object at `path` atomically with `data`."""

    @abc.abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A readable binary stream of the object from `offset`; at or past
        the end, an empty stream; `PathNotFoundError` if absent."""

    @abc.abstractmethod
    def writer(self, path: str, append: bool = False) -> FileWriter:
        """A new upload to `path`, or with `append` the resumed upload an
        earlier writer closed without committing."""

    @abc.abstractmethod
    def stat(self, path: str) -> FileInfo:
        """What is at `path`: an object or a directory."""

    @abc.abstractmethod
    def list(self, path: str) -> list[str]:
        """Sorted absolute paths of the direct children of `path`."""

    @abc.abstractmethod
    def move(self, source: str, dest: str) -> None:
        """Move the object at `source` to `dest`, replacing `dest`."""

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Remove the object or the whole subtree at `path`."""

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A credential-free URL to fetch `path` with `method`, or None when
        the driver cannot redirect (the default).

        The driver the factory returns (and every middleware) also takes a
        keyword-only `client_ip`, the address of the client the URL is for,
        which middleware may use (cloudfront's IP filtering). A driver never
        receives it, so its own signature stays this one."""
        return None

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        """Discard uploads that were neither committed nor cancelled and were
        last touched (opened or closed) longer ago than `older_than`; returns
        how many (with `dry_run`, how many it would discard, discarding
        nothing). Abandoned uploads are invisible and never expire on their
        own (an S3 bucket bills for their parts), so an operator runs this
        periodically, like distribution's upload purging. Only regstore's own
        uploads go unless `include_foreign`: a distribution registry sharing
        the store has uploads of its own in flight. A driver also reclaims
        here what a crash left behind (temporary files) older than the age.
        Drivers whose uploads cannot be abandoned (inmemory) keep the
        default, which raises `UnsupportedMethodError`."""
        raise UnsupportedMethodError("purge_uploads")

    def list_uploads(self) -> Iterator[UploadInfo]:
        """The uploads in flight under this driver's root, regstore's own
        and (where the backend shows them) other clients'; in no particular
        order. The default raises `UnsupportedMethodError`."""
        raise UnsupportedMethodError("list_uploads")

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        """Every file and directory below `path`, each once, a directory
        before its contents. The default walks `list` and `stat` in
        distribution's order; drivers with a flat listing override it."""
        from regstore.walk import walk_tree  # noqa: PLC0415  (walk imports this module)

        return walk_tree(self, path, start_after=start_after, prune=prune)
