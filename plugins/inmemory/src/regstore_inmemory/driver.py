"""The inmemory driver: the reference implementation of the contract.

Files live in a dict; directories are implied by the files below them, as in
an object store, and vanish with their last file. A per-directory index of
children keeps `list` and `stat` independent of the store's size. One lock
guards everything, so the driver is safe to share between threads. Nothing
persists beyond the instance (`Capabilities.persistent` is False): a second
instance is a second, empty store.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Self

from regstore import (
    Buffer,
    Capabilities,
    FileInfo,
    FileWriter,
    PathNotFoundError,
    StorageDriver,
    StorageDriverError,
    UploadInUseError,
)
from regstore.paths import ROOT, parent, walk_sort_key
from regstore.walk import walk_listing
from regstore_inmemory.plugin import SPEC

__all__ = ["InMemoryDriver"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class _File:
    data: bytes
    mod_time: dt.datetime


@dataclass(slots=True)
class _Dir:
    children: set[str] = field(default_factory=set)
    mod_time: dt.datetime = field(default_factory=_now)


@dataclass(slots=True)
class _Upload:
    data: bytearray = field(default_factory=bytearray)
    #: Bytes persisted by the last close(); a resume starts from here.
    persisted: int = 0
    #: The writer working on the upload until it closes, commits or
    #: cancels. Weak: a writer dropped without closing (the in-process
    #: picture of a crash) no longer holds the upload.
    holder: weakref.ref[_InMemoryWriter] | None = None

    def held(self) -> bool:
        """Whether a live writer is working on the upload."""
        return self.holder is not None and self.holder() is not None


class InMemoryDriver(StorageDriver):
    """A thread-safe store in a dict."""

    capabilities = SPEC.capabilities or Capabilities()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._files: dict[str, _File] = {}
        self._dirs: dict[str, _Dir] = {ROOT: _Dir()}
        self._uploads: dict[str, _Upload] = {}

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Self:
        """The factory's entry: inmemory takes no parameters."""
        return cls()

    # -- the index --------------------------------------------------------

    def _publish(self, path: str, data: bytes) -> None:
        """Store `data` at `path`, creating its directories."""
        with self._lock:
            if path in self._dirs:
                raise StorageDriverError(f"cannot write {path}: it is a directory")
            ancestor = parent(path)
            while ancestor != ROOT:
                if ancestor in self._files:
                    raise StorageDriverError(f"cannot write {path}: {ancestor} is a file")
                ancestor = parent(ancestor)
            now = _now()
            self._files[path] = _File(data, now)
            child = path
            while child != ROOT:
                directory = parent(child)
                entry = self._dirs.setdefault(directory, _Dir())
                entry.children.add(child)
                entry.mod_time = now
                child = directory

    def _unlink(self, path: str) -> None:
        """Remove the file at `path` and the directories it leaves empty."""
        del self._files[path]
        child = path
        while child != ROOT:
            directory = parent(child)
            entry = self._dirs[directory]
            entry.children.discard(child)
            if entry.children or directory == ROOT:
                break
            del self._dirs[directory]
            child = directory

    def _files_below(self, directory: str) -> list[str]:
        found: list[str] = []
        pending = [directory]
        while pending:
            for child in self._dirs[pending.pop()].children:
                if child in self._dirs:
                    pending.append(child)
                else:
                    found.append(child)
        return found

    # -- StorageDriver ----------------------------------------------------

    def get_content(self, path: str) -> bytes:
        with self._lock:
            entry = self._files.get(path)
        if entry is None:
            raise PathNotFoundError(path)
        return entry.data

    def put_content(self, path: str, data: Buffer) -> None:
        self._publish(path, bytes(data))

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        data = self.get_content(path)
        stream = io.BytesIO(data)  # shares the bytes, no copy
        stream.seek(min(offset, len(data)))  # past the end: empty (and no overflow)
        return stream

    def writer(self, path: str, append: bool = False) -> FileWriter:
        with self._lock:
            upload = self._uploads.get(path)
            if not append:
                upload = self._uploads[path] = _Upload()
            elif upload is not None:
                if upload.held():
                    # Two resumers would interleave their bytes in one upload.
                    raise UploadInUseError(path)
                del upload.data[upload.persisted :]  # what a dead writer wrote after close
            elif path in self._files:
                if self._files[path].data:
                    raise StorageDriverError(
                        f"cannot append to {path}: it holds committed content and no upload"
                    )
                upload = self._uploads[path] = _Upload()
            else:
                raise PathNotFoundError(path, detail=f"no upload to resume at {path}")
            writer = _InMemoryWriter(self, path, upload)
            upload.holder = weakref.ref(writer)
            return writer

    def stat(self, path: str) -> FileInfo:
        with self._lock:
            if path in self._files:
                entry = self._files[path]
                return FileInfo(path, len(entry.data), entry.mod_time, False)
            if path in self._dirs:
                return FileInfo(path, 0, self._dirs[path].mod_time, True)
        raise PathNotFoundError(path)

    def list(self, path: str) -> list[str]:
        with self._lock:
            entry = self._dirs.get(path)
            if entry is None:
                raise PathNotFoundError(path)
            return sorted(entry.children)

    def move(self, source: str, dest: str) -> None:
        with self._lock:
            entry = self._files.get(source)
            if entry is None:
                raise PathNotFoundError(source)
            if source == dest:
                return
            self._publish(dest, entry.data)
            self._unlink(source)

    def delete(self, path: str) -> None:
        with self._lock:
            if path in self._files:
                self._unlink(path)
            elif path in self._dirs:
                for file in self._files_below(path):
                    self._unlink(file)
            else:
                raise PathNotFoundError(path)

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        # Snapshot the files under the lock, then walk without it: a walk
        # must not block writers for as long as its caller iterates.
        with self._lock:
            if path not in self._dirs:
                raise PathNotFoundError(path)
            below = self._files_below(path)
            files = [
                FileInfo(p, len(self._files[p].data), self._files[p].mod_time, False) for p in below
            ]
        files.sort(key=lambda info: walk_sort_key(info.path))
        skip = walk_sort_key(start_after) if start_after else None
        is_after = None if skip is None else (lambda info: walk_sort_key(info.path) > skip)
        return walk_listing(path, files, is_after=is_after, prune=prune)


class _InMemoryWriter(FileWriter):
    def __init__(self, driver: InMemoryDriver, path: str, upload: _Upload) -> None:
        self._driver = driver
        self._path = path
        self._upload = upload

    @property
    def size(self) -> int:
        return len(self._upload.data)

    def _check_current(self) -> None:
        if self._driver._uploads.get(self._path) is not self._upload:
            raise StorageDriverError(f"the upload to {self._path} was replaced by a newer writer")

    def write(self, data: Buffer) -> int:
        with self._driver._lock:
            self._check_current()
            self._upload.data += data
        return memoryview(data).nbytes

    def close(self) -> None:
        with self._driver._lock:
            if self._driver._uploads.get(self._path) is self._upload:
                self._upload.persisted = len(self._upload.data)
                self._upload.holder = None

    def commit(self) -> None:
        with self._driver._lock:
            self._check_current()
            self._driver._publish(self._path, bytes(self._upload.data))
            del self._driver._uploads[self._path]

    def cancel(self) -> None:
        with self._driver._lock:
            if self._driver._uploads.get(self._path) is self._upload:
                del self._driver._uploads[self._path]
