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
import shutil
import stat

__all__ = [
    "RETRIES",
    "TEMP_MARK",
    "fsync_dir",
    "is_gone",
    "make_dirs",
    "move_into_place",
    "prune_empty_dirs",
    "temp_name",
    "unlink_quietly",
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


def temp_name(base: str) -> str:
    """A fresh driver-owned name derived from `base` (`.base~1f2e...`)."""
    return f".{base}{TEMP_MARK}{secrets.token_hex(8)}"


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


def write_new_file(path: str, data: memoryview) -> None:
    """Create `path` (which must not exist), write `data` and fsync it;
    removes the file again if anything fails."""
    fd = os.open(path, _OPEN_NEW, 0o666)
    try:
        written = 0
        total = data.nbytes
        while written < total:
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(path)
        raise
    os.close(fd)


def move_into_place(source: str, target: str) -> None:
    """Rename `source` onto `target` atomically, creating `target`'s
    directories, then fsync the target directory.

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
        fsync_dir(directory, missing_ok=True)  # gone only if a delete took target already
        return
    raise OSError(errno.EAGAIN, f"gave up publishing {target}: its directory kept vanishing")


def _copy_across(source: str, target: str) -> None:
    """Publish `source` at `target` on another filesystem: copy to a
    temporary file beside `target`, fsync, rename, then remove `source`."""
    temp = os.path.join(os.path.dirname(target), temp_name(os.path.basename(target)))
    try:
        shutil.copyfile(source, temp)
        fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        unlink_quietly(temp)
        raise
    os.unlink(source)


def prune_empty_dirs(directory: str, root: str) -> None:
    """Remove `directory` and its ancestors while they are empty, stopping
    below `root` (which is never removed). `rmdir` refuses non-empty
    directories, so a concurrent writer's new file is never lost."""
    inside = root.rstrip(os.sep) + os.sep
    while directory != root and directory.startswith(inside):
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = os.path.dirname(directory)


def unlink_quietly(path: str) -> None:
    """Remove a file that may already be gone (cleanup paths)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
