"""Low-level filesystem steps the driver composes: durable directory
creation, atomic publication by rename, pruning of emptied directories.

Every helper takes absolute OS paths that the driver built from validated
store paths; none of them sees a store path.

Concurrency model: the driver removes directories that a delete or move left
empty (as an object store would, and so `list` does not show husks), and it
does so with `rmdir`, which only ever removes an empty directory. A writer
racing with that cleanup can therefore lose a parent directory between
creating it and renaming a file into it; the helpers here notice
(`FileNotFoundError` while the source still exists) and retry.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat

from regstore import Regulator

__all__ = [
    "RETRIES",
    "TEMP_MARK",
    "discard_quietly",
    "fsync_dir",
    "is_gone",
    "make_dirs",
    "move_into_place",
    "prune_empty_dirs",
    "rename_into_place",
    "sweep_leftovers",
    "temp_name",
    "unlink_quietly",
    "write_all",
    "write_new_file",
]

#: How many times a step racing with a concurrent cleanup is retried before
#: the driver gives up (each retry needs a fresh concurrent rmdir to fail).
RETRIES = 32

#: Marks driver-owned names (temporary files, the staging area). `~` cannot
#: appear in a valid path component, so such a name never clashes with a
#: user path and never shows in list, stat or walk.
TEMP_MARK = "~"

_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


#: How much `_copy_across` reads and writes at a time.
_COPY_CHUNK = 1024 * 1024


def temp_name(prefix: str = "") -> str:
    """A fresh driver-owned file name: `.<prefix>~1f2e...`. Short whatever
    the target's name (a name derived from a 255-character target exceeded
    NAME_MAX), and never a valid path component (it holds `~`)."""
    return f".{prefix}{TEMP_MARK}{secrets.token_hex(8)}"


def is_gone(err: OSError) -> bool:
    """Whether `err` means "nothing there" (ENOENT, or ENOTDIR: a component
    of the path is a file, so the path cannot exist either)."""
    return err.errno in (errno.ENOENT, errno.ENOTDIR)


def fsync_dir(directory: str, *, missing_ok: bool = False) -> None:
    """Make the entries of `directory` (a rename, a new file) durable.

    `missing_ok`: a directory that a concurrent delete has just removed has
    no entries left to make durable, so its absence is not an error there.
    """
    try:
        fd = os.open(directory, _DIR_FLAGS)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir(directory: str) -> bool:
    """mkdir one level; True if this call created it, False if a directory
    was already there. Raises `NotADirectoryError` if a file is there."""
    for _ in range(RETRIES):
        try:
            os.mkdir(directory)
        except FileExistsError:
            try:
                mode = os.stat(directory).st_mode
            except FileNotFoundError:
                continue  # removed by a concurrent cleanup since mkdir looked
            if stat.S_ISDIR(mode):
                return False
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), directory) from None
        return True
    raise OSError(errno.EAGAIN, f"gave up creating {directory}: it kept vanishing")


def make_dirs(directory: str) -> None:
    """`mkdir -p` that makes what it creates durable: the parent of every
    directory this call creates is fsynced, so a committed file's directory
    entry chain survives a crash."""
    parent = os.path.dirname(directory)
    for _ in range(RETRIES):
        try:
            created = _mkdir(directory)
        except FileNotFoundError:
            if parent == directory:
                raise
            make_dirs(parent)
            continue  # a concurrent cleanup may remove the parent again
        if created:
            # If a cleanup removed it already, the caller's next step fails
            # with FileNotFoundError and retries: nothing to make durable.
            fsync_dir(parent, missing_ok=True)
        return
    raise OSError(errno.EAGAIN, f"gave up creating {directory}: its parent kept vanishing")


def write_all(fd: int, data: memoryview, offset: int) -> int:
    """Write all of `data` at `offset` with `os.pwrite`, continuing after
    short writes from the exact offset reached; returns the offset after
    the data. On an error the bytes before it are on disk and the rest are
    not: the caller knows the exact length either way."""
    written = 0
    total = data.nbytes
    while written < total:
        count = os.pwrite(fd, data[written:], offset + written)
        if count <= 0:  # a regular file never does this; do not spin on it
            raise OSError(errno.ENOSPC, "write stored nothing")
        written += count
    return offset + written


def write_new_file(path: str, data: memoryview) -> None:
    """Create `path` (which must not exist), write `data` and fsync it;
    removes the file again if anything fails (the caller still holds the
    bytes, so a retry rewrites them all: a failed fsync is never trusted)."""
    fd = os.open(path, _OPEN_NEW, 0o666)
    try:
        write_all(fd, data, 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        discard_quietly(path)
        raise
    os.close(fd)


def rename_into_place(source: str, target: str) -> None:
    """Rename `source` onto `target` atomically, creating `target`'s
    directories; does not fsync the directory (see `move_into_place`).

    Raises `FileNotFoundError` when `source` itself is gone. A parent that a
    concurrent cleanup removed is recreated and the rename retried. Across
    filesystems (a subdirectory of the root mounted or symlinked elsewhere)
    the bytes are copied into a temporary file beside `target` first, so
    the publication stays atomic.
    """
    directory = os.path.dirname(target)
    for _ in range(RETRIES):
        try:
            os.replace(source, target)
        except FileNotFoundError:
            if not os.path.lexists(source):
                raise
            make_dirs(directory)
            continue
        except OSError as err:
            if err.errno != errno.EXDEV:
                raise
            _copy_across(source, target)
        return
    raise OSError(errno.EAGAIN, f"gave up publishing {target}: its directory kept vanishing")


def move_into_place(source: str, target: str) -> None:
    """`rename_into_place`, then fsync the target directory so the rename
    survives a crash."""
    rename_into_place(source, target)
    fsync_dir(os.path.dirname(target), missing_ok=True)  # gone only if a delete took target


def _copy_across(source: str, target: str) -> None:
    """Publish `source` at `target` on another filesystem: copy to a
    temporary file beside `target` (a short name, so a 255-character target
    works), fsync, rename, then remove `source`. Written with os.pwrite, not
    shutil, so a full disk meets the same code as everywhere else."""
    temp = os.path.join(os.path.dirname(target), temp_name())
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(temp, _OPEN_NEW, 0o666)
        try:
            offset = 0
            while chunk := os.read(src, _COPY_CHUNK):
                offset = write_all(dst, memoryview(chunk), offset)
            os.fsync(dst)
        finally:
            os.close(dst)
        os.replace(temp, target)
    except BaseException:
        discard_quietly(temp)
        raise
    finally:
        os.close(src)
    os.unlink(source)


def prune_empty_dirs(directory: str, root: str) -> bool:
    """Remove `directory` and its ancestors while they are empty, stopping
    below `root` (which is never removed); True if that reached the root
    (which may now hold nothing of the store). `rmdir` refuses non-empty
    directories, so a concurrent writer's new file is never lost."""
    inside = root.rstrip(os.sep) + os.sep
    while directory != root and directory.startswith(inside):
        try:
            os.rmdir(directory)
        except OSError:
            return False
        directory = os.path.dirname(directory)
    return directory == root


def unlink_quietly(path: str) -> None:
    """Remove a file that may already be gone."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def discard_quietly(path: str) -> None:
    """Best-effort removal of a temporary file while another error is being
    raised: a failure here (the disk is failing already) must not replace
    the error that matters; `purge_uploads` reclaims what stays."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def sweep_leftovers(root: str, *, skip: str, cutoff: float, regulator: Regulator) -> None:
    """Remove, below `root` but not in `skip` (the staging area), files with
    a driver-owned name (`~`: temporaries a crash left beside their target)
    last modified before `cutoff`, then directories left with nothing in
    them whose mtime (before the sweep) is older than `cutoff` too.

    A post-order walk with an explicit stack (no recursion limit; memory is
    the siblings along one path). Symlinks are not followed: whatever an
    administrator linked in is not swept. Directories are removed with
    `rmdir`, which refuses a non-empty one, and writers retry when a parent
    vanishes under them, so this is safe while the store is in use.
    """
    stack: list[tuple[str, float | None, list[tuple[str, float]]]] = [
        (root, None, _sweep_one(root, skip, cutoff, regulator))
    ]
    while stack:
        _, _, subdirs = stack[-1]
        if subdirs:
            subdir, subdir_mtime = subdirs.pop()
            stack.append((subdir, subdir_mtime, _sweep_one(subdir, skip, cutoff, regulator)))
            continue
        directory, mtime, _ = stack.pop()
        if mtime is not None and mtime < cutoff:
            with contextlib.suppress(OSError), regulator:
                os.rmdir(directory)


def _sweep_one(
    directory: str, skip: str, cutoff: float, regulator: Regulator
) -> list[tuple[str, float]]:
    """Remove the old temporaries in `directory`; its subdirectories, each
    with its mtime as found (a sweep changes it)."""
    subdirs: list[tuple[str, float]] = []
    with regulator:
        try:
            with os.scandir(directory) as entries:
                found = list(entries)
        except OSError:
            return subdirs
        for entry in found:
            if entry.path == skip:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    subdirs.append((entry.path, info.st_mtime))
                elif TEMP_MARK in entry.name and info.st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                continue  # vanished, or cannot be removed: left for next time
    return subdirs
