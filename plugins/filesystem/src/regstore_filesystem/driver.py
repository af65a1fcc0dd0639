"""The filesystem driver: a directory tree laid out as distribution lays it.

The file for store path P is `rootdirectory + P`, so regstore and a
distribution registry can share one directory. What differs from
distribution is what its known bugs made necessary:

- `put_content` writes a temporary file in the staging area under the root
  (same filesystem), fsyncs it and renames it over the target (then fsyncs
  the directory): a reader sees the old or the new bytes, never a mix, and a
  crash never leaves a torn file, nor a temporary beside the target.
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
including) the root, so the tree looks like an object store's prefixes. A
directory with no object anywhere below it (a crash between creating it and
renaming a file into it, or one made by hand) is not part of the store:
`stat`, `list` and `walk` do not show it (the check stops at the first file
it finds), and `purge_uploads` removes it once it is older than its age.
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
    UploadInfo,
)
from regstore.paths import ROOT, is_valid_path
from regstore.walk import walk_tree_children
from regstore_filesystem._fs import (
    discard_quietly,
    fsync_dir,
    is_gone,
    move_into_place,
    prune_empty_dirs,
    sweep_leftovers,
)
from regstore_filesystem.plugin import SPEC
from regstore_filesystem.uploads import STAGING_DIR, UploadArea

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
        if not os.path.isabs(rootdirectory):
            # A relative root would land wherever the process happens to run
            # (a registry's cwd is rarely where its data should be).
            raise InvalidParameterError(
                "filesystem",
                "rootdirectory",
                f"{rootdirectory!r} is relative: give an absolute path "
                f"(such as {os.path.join(os.getcwd(), rootdirectory)!r})",
            )
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
                # Past the end reads return b""; clamp, because lseek refuses
                # offsets beyond what off_t holds (2**63 and more).
                file.seek(min(offset, os.fstat(file.fileno()).st_size))
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
            if is_dir and path != ROOT and not _holds_object(full):
                raise PathNotFoundError(path, detail=f"{path} holds no object")
        return FileInfo(path, 0 if is_dir else info.st_size, _mod_time(info), is_dir)

    def list(self, path: str) -> list[str]:
        full = self._full(path, allow_root=True)
        with self._regulator:
            try:
                with os.scandir(full) as entries:
                    names = [entry.name for entry in entries if _listed(entry)]
            except OSError as err:
                if not is_gone(err):
                    raise
                if path == ROOT:
                    return []
                raise PathNotFoundError(path) from err
        if not names and path != ROOT:
            raise PathNotFoundError(path, detail=f"{path} holds no object")
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
                    visible = [entry for entry in entries if _listed(entry)]
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
        if not result and directory != ROOT:
            raise PathNotFoundError(directory, detail=f"{directory} holds no object")
        return result

    # -- writing ----------------------------------------------------------

    def put_content(self, path: str, data: Buffer) -> None:
        full = self._full(path)
        view = memoryview(data).cast("B")
        with self._regulator:
            temp = self._uploads.new_temp(view)
            try:
                move_into_place(temp, full)
            except BaseException as err:
                discard_quietly(temp)
                self._uploads.tidy()
                if isinstance(err, FileNotFoundError):
                    # Only when the temporary itself vanished: a purge with
                    # age 0 running at the same moment took it.
                    raise StorageDriverError(
                        f"put_content {path}: its temporary file vanished"
                    ) from err
                if isinstance(err, IsADirectoryError):
                    raise StorageDriverError(f"cannot write {path}: it is a directory") from err
                if isinstance(err, NotADirectoryError):
                    raise self._parent_is_file(path) from err
                raise
            # The staging area stays while the store is in use: creating and
            # removing it around every put halved put_content's throughput.
            # It goes with the last upload, or when a delete empties the root.

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
            if prune_empty_dirs(src_dir, self.root):
                self._uploads.tidy()

    def delete(self, path: str) -> None:
        full = self._full(path)
        with self._regulator:
            try:
                info = os.lstat(full)
            except OSError as err:
                if is_gone(err):
                    raise PathNotFoundError(path) from err
                raise
            hollow = stat_module.S_ISDIR(info.st_mode) and not _holds_object(full)
            try:
                if stat_module.S_ISDIR(info.st_mode):
                    shutil.rmtree(full)
                else:
                    os.unlink(full)  # a file, or a symlink (never its target)
            except FileNotFoundError as err:
                raise PathNotFoundError(path) from err  # deleted concurrently
            if prune_empty_dirs(os.path.dirname(full), self.root):
                self._uploads.tidy()  # nothing of the store left: no husk either
        if hollow:  # tidied away, but there was nothing to delete
            raise PathNotFoundError(path, detail=f"{path} holds no object")

    # -- driver-specific ----------------------------------------------------

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        """Remove staged uploads untouched for `older_than` (abandoned
        uploads are never published, so nothing else ever removes them),
        except those a live writer holds; returns how many (with `dry_run`,
        how many it would remove, removing nothing). The selection is
        `UploadInfo.purgeable` over `list_uploads`, the rule the CLI's dry
        run uses too. `include_foreign` is accepted and means nothing here:
        every staged upload under the root is regstore's (distribution
        stages its uploads as ordinary store paths under `_uploads`).

        Also reclaims, older than the age: put_content temporaries in the
        staging area, temporaries earlier versions left beside their targets
        (`.name~hex`; `~` is never in a valid name) and directories holding
        nothing. That needs one walk over the whole tree."""
        count = self._uploads.purge(older_than, include_foreign=include_foreign, dry_run=dry_run)
        if not dry_run:
            cutoff = (dt.datetime.now(dt.UTC) - older_than).timestamp()
            sweep_leftovers(
                self.root,
                skip=os.path.join(self.root, STAGING_DIR),
                cutoff=cutoff,
                regulator=self._regulator,
            )
        return count

    def list_uploads(self) -> Iterator[UploadInfo]:
        """The staged uploads: path and size as their last close recorded
        (None for one never closed), modified = the newest mtime in the
        staging directory, ident = the staging directory's name."""
        return self._uploads.uploads()


def _listed(entry: os.DirEntry[str]) -> bool:
    """Whether a directory entry shows in list and walk: a visible name,
    and for a directory, an object somewhere below it."""
    if not _visible(entry.name):
        return False
    try:
        is_dir = entry.is_dir()
    except OSError:
        return False
    return not is_dir or _holds_object(entry.path)


def _holds_object(directory: str) -> bool:
    """Whether a file with a visible name lies anywhere below `directory`:
    a depth-first search that stops at the first one (usually a scandir or
    two). Symlinked directories are followed, as everywhere in the driver,
    but each at most once, so a symlink loop cannot make it explode."""
    pending = [directory]
    seen: set[tuple[int, int]] = set()
    while pending:
        subdirs: list[str] = []
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if not _visible(entry.name):
                        continue
                    try:
                        if entry.is_file():
                            return True
                        if not entry.is_dir():
                            continue
                        if entry.is_symlink():
                            info = entry.stat()
                            if (info.st_dev, info.st_ino) in seen:
                                continue
                            seen.add((info.st_dev, info.st_ino))
                    except OSError:
                        continue  # vanished, or a broken link: no object
                    subdirs.append(entry.path)
        except OSError:
            continue  # vanished meanwhile, or unreadable: no object seen there
        pending.extend(subdirs)
    return False
