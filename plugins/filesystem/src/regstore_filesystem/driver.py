"""The filesystem driver: a directory tree laid out as distribution lays it.

The file for store path P is `rootdirectory + P`, so regstore and a
distribution registry can share one directory. What differs from
distribution is what its known bugs made necessary:

- `put_content` writes a temporary file beside the target, fsyncs it and
  renames it over the target (then fsyncs the directory): a reader sees the
  old or the new bytes, never a mix, and a crash never leaves a torn file.
- Writers stage their bytes out of sight and publish on commit by rename
  (see `regstore_filesystem.uploads`).
- No path reaches outside the root: every path is validated again here
  before it is joined (core already does it for drivers it wraps), and the
  driver never creates symlinks.

Symlinks placed inside the root by an administrator are followed, as
distribution follows them (a common way to put part of a store on another
disk); `delete` of a symlink removes the link, never what it points to.
Anyone who can write to the root directory itself can of course point a
link anywhere: guard the root as you would guard the data.

Names that are not valid path components (such as the temporary files and
the `.regstore~uploads` staging area, which contain `~`) are invisible to
`list`, `stat`-by-listing and `walk`: no path can name them.

Directories that a `delete` or `move` leaves empty are removed up to (not
including) the root, so the tree looks like an object store's prefixes.
"""

from __future__ import annotations

import builtins
import datetime as dt
import os
import re
import shutil
import stat as stat_module
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Self

from regstore import (
    Buffer,
    Capabilities,
    FileInfo,
    FileWriter,
    InvalidParameterError,
    InvalidPathError,
    PathNotFoundError,
    Regulator,
    StorageDriver,
    StorageDriverError,
)
from regstore.paths import ROOT, is_valid_path
from regstore.walk import walk_tree_children
from regstore_filesystem._fs import (
    RETRIES,
    fsync_dir,
    is_gone,
    make_dirs,
    move_into_place,
    prune_empty_dirs,
    temp_name,
    unlink_quietly,
    write_new_file,
)
from regstore_filesystem.plugin import SPEC
from regstore_filesystem.uploads import UploadArea

__all__ = ["FilesystemDriver"]

_COMPONENT = re.compile(r"[A-Za-z0-9._-]+")
_EPOCH = dt.datetime.fromtimestamp(0, dt.UTC)


def _mod_time(info: os.stat_result) -> dt.datetime:
    return dt.datetime.fromtimestamp(info.st_mtime_ns / 1e9, dt.UTC)


def _absent(err: OSError) -> bool:
    """Whether opening an object failed because there is no object: absent,
    below a file, or a directory (which holds no content)."""
    return is_gone(err) or isinstance(err, IsADirectoryError)


def _visible(name: str) -> bool:
    """Whether a directory entry is part of the store: only names a valid
    path can hold (this hides temporary files and the staging area)."""
    return _COMPONENT.fullmatch(name) is not None and name not in (".", "..")


class FilesystemDriver(StorageDriver):
    """A store in a local directory tree (see the module docstring)."""

    capabilities = SPEC.capabilities or Capabilities()

    def __init__(self, rootdirectory: str, maxthreads: int = 100) -> None:
        if not rootdirectory:
            raise InvalidParameterError("filesystem", "rootdirectory", "must not be empty")
        #: The absolute root directory (it need not exist yet; the first
        #: write creates it).
        self.root = os.path.abspath(rootdirectory)
        self._prefix = self.root.rstrip(os.sep)
        #: How many blocking filesystem calls may run at once.
        self.maxthreads = maxthreads
        self._regulator = Regulator(maxthreads)
        self._uploads = UploadArea(self.root, self._regulator)

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Self:
        """The factory's entry, with parameters already coerced by core."""
        return cls(rootdirectory=params["rootdirectory"], maxthreads=params["maxthreads"])

    def __repr__(self) -> str:
        return f"FilesystemDriver(rootdirectory={self.root!r}, maxthreads={self.maxthreads})"

    # -- paths ------------------------------------------------------------

    def _full(self, path: str, *, allow_root: bool = False) -> str:
        """The OS path of store path `path`, as distribution maps it (root +
        path). Validated here too, so a caller that bypasses core's wrapper
        still cannot climb out of the root."""
        if not is_valid_path(path, allow_root=allow_root):
            raise InvalidPathError(str(path), reason="not a valid store path")
        if path == ROOT:
            return self.root
        return self._prefix + path

    def _store_path(self, directory: str, name: str) -> str:
        return f"/{name}" if directory == ROOT else f"{directory}/{name}"

    # -- reading ----------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        full = self._full(path)
        with self._regulator:
            try:
                with open(full, "rb", buffering=0) as file:
                    return file.readall()
            except OSError as err:
                if _absent(err):
                    raise PathNotFoundError(path) from err
                raise

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        full = self._full(path)
        with self._regulator:
            try:
                file = open(full, "rb")  # noqa: SIM115  (the caller closes it)
            except OSError as err:
                if _absent(err):
                    raise PathNotFoundError(path) from err
                raise
            try:
                file.seek(offset)  # past the end: reads return b""
            except BaseException:
                file.close()
                raise
        return file

    def stat(self, path: str) -> FileInfo:
        full = self._full(path, allow_root=True)
        with self._regulator:
            try:
                info = os.stat(full)
            except OSError as err:
                if not is_gone(err):
                    raise
                if path == ROOT:  # a root not created yet is an empty store
                    return FileInfo(ROOT, 0, _EPOCH, True)
                raise PathNotFoundError(path) from err
        is_dir = stat_module.S_ISDIR(info.st_mode)
        return FileInfo(path, 0 if is_dir else info.st_size, _mod_time(info), is_dir)

    def list(self, path: str) -> list[str]:
        full = self._full(path, allow_root=True)
        with self._regulator:
            try:
                with os.scandir(full) as entries:
                    names = [entry.name for entry in entries if _visible(entry.name)]
            except OSError as err:
                if not is_gone(err):
                    raise
                if path == ROOT:
                    return []
                raise PathNotFoundError(path) from err
        names.sort()
        return [self._store_path(path, name) for name in names]

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        self._full(path, allow_root=True)
        return walk_tree_children(self._children, path, start_after=start_after, prune=prune)

    def _children(self, directory: str) -> builtins.list[FileInfo]:
        """The visible entries of `directory`, sorted, with one `stat` each
        (scandir caches it; the directory listing itself is one getdents).
        The whole directory is read under the regulator, never across a
        yield, so a slow consumer cannot hold a slot."""
        full = self._full(directory, allow_root=True)
        result: builtins.list[FileInfo] = []
        with self._regulator:
            try:
                with os.scandir(full) as entries:
                    visible = [entry for entry in entries if _visible(entry.name)]
            except OSError as err:
                if not is_gone(err):
                    raise
                if directory == ROOT:
                    return result
                raise PathNotFoundError(directory) from err
            visible.sort(key=lambda entry: entry.name)
            for entry in visible:
                try:
                    info = entry.stat()
                except FileNotFoundError:
                    continue  # removed since the listing
                is_dir = stat_module.S_ISDIR(info.st_mode)
                result.append(
                    FileInfo(
                        self._store_path(directory, entry.name),
                        0 if is_dir else info.st_size,
                        _mod_time(info),
                        is_dir,
                    )
                )
        return result

    # -- writing ----------------------------------------------------------

    def put_content(self, path: str, data: Buffer) -> None:
        full = self._full(path)
        directory, name = os.path.split(full)
        view = memoryview(data).cast("B")
        with self._regulator:
            for _ in range(RETRIES):
                temp = os.path.join(directory, temp_name(name))
                try:
                    write_new_file(temp, view)
                except FileNotFoundError:
                    self._make_parents(path, directory)
                    continue
                except NotADirectoryError as err:
                    raise self._parent_is_file(path) from err
                try:
                    os.replace(temp, full)
                except FileNotFoundError:
                    continue  # a concurrent delete removed the subtree with our temp file
                except IsADirectoryError as err:
                    unlink_quietly(temp)
                    raise StorageDriverError(f"cannot write {path}: it is a directory") from err
                except BaseException:
                    unlink_quietly(temp)
                    raise
                fsync_dir(directory, missing_ok=True)  # gone: a delete took it already
                return
        raise StorageDriverError(f"put_content {path}: its directory kept vanishing; gave up")

    def _make_parents(self, path: str, directory: str) -> None:
        try:
            make_dirs(directory)
        except NotADirectoryError as err:
            raise self._parent_is_file(path) from err

    def _parent_is_file(self, path: str) -> StorageDriverError:
        return StorageDriverError(f"cannot write {path}: one of its parents is a file")

    def writer(self, path: str, append: bool = False) -> FileWriter:
        target = self._full(path)
        if append:
            return self._uploads.resume(path, target)
        return self._uploads.start(path, target)

    def move(self, source: str, dest: str) -> None:
        src_full = self._full(source)
        dst_full = self._full(dest)
        with self._regulator:
            try:
                info = os.stat(src_full)
            except OSError as err:
                if is_gone(err):
                    raise PathNotFoundError(source) from err
                raise
            if stat_module.S_ISDIR(info.st_mode):
                raise PathNotFoundError(source, detail=f"{source} is a directory, not an object")
            if source == dest:
                return
            try:
                move_into_place(src_full, dst_full)
            except FileNotFoundError as err:
                raise PathNotFoundError(source) from err  # moved away concurrently
            except IsADirectoryError as err:
                raise StorageDriverError(f"cannot move to {dest}: it is a directory") from err
            except NotADirectoryError as err:
                raise self._parent_is_file(dest) from err
            src_dir = os.path.dirname(src_full)
            fsync_dir(src_dir, missing_ok=True)
            prune_empty_dirs(src_dir, self.root)

    def delete(self, path: str) -> None:
        full = self._full(path)
        with self._regulator:
            try:
                info = os.lstat(full)
            except OSError as err:
                if is_gone(err):
                    raise PathNotFoundError(path) from err
                raise
            try:
                if stat_module.S_ISDIR(info.st_mode):
                    shutil.rmtree(full)
                else:
                    os.unlink(full)  # a file, or a symlink (never its target)
            except FileNotFoundError as err:
                raise PathNotFoundError(path) from err  # deleted concurrently
            prune_empty_dirs(os.path.dirname(full), self.root)

    # -- driver-specific ----------------------------------------------------

    def purge_uploads(self, older_than: dt.timedelta) -> int:
        """Remove staged uploads untouched for `older_than` (abandoned
        uploads are never published, so nothing else ever removes them)."""
        return len(self._uploads.purge(older_than.total_seconds()))
