"""Resumable uploads staged out of sight, published by rename.

distribution's filesystem writer truncates the file at the path and writes
in place, so a reader sees a half-written object and a crash leaves it torn
(a known bug the contract says not to copy). Here an upload lives in a
staging directory until `commit()` renames it onto the path:

    <root>/.regstore~uploads/
        <sha256 of the path>/
            data-<token>   the bytes; one file per writer session that
                           started the upload, so a newer upload never mixes
                           with an older writer that is still running
            state          JSON {"path", "size", "data"}: the size persisted
                           by the last close() and which data file holds it;
                           replaced atomically
        .tmp~<token>       put_content's temporary files (see `new_temp`)

`~` cannot appear in a path component, so the staging area never clashes
with a user path and list/walk/stat never show it. The area is removed with
its last upload, and when a delete or move leaves the root without objects
(put_content keeps it: a mkdir and an rmdir around every put cost half its
throughput), so an emptied store leaves an empty root.

Resume rules (the contract's): `close()` fsyncs the data and then records
its size; `writer(path, append=True)` truncates the data back to that size,
dropping whatever a writer that died after its last close had added. An
upload with no `state` (its writer died before the first close) counts as
no upload.

One writer at a time: every writer holds an exclusive `flock` on its data
file from open to close/commit/cancel, and a resume takes it before it reads
the size or truncates, so a second resumer (a client retrying a PATCH; in
this process or another) gets `UploadInUseError` instead of truncating the
file under the first. The kernel drops the lock of a process that dies.

Failures (a full disk, EIO): the writer works on a raw fd with its own
bounded buffer and knows exactly how many bytes are on disk, so a failed
close() or commit() can be retried without losing or repeating a byte; a
failed write() ends the session, and close() keeps exactly the bytes that
reached the disk. A failed fsync is final for the session: Linux may drop
the dirty pages and report success on the next fsync, so the writer refuses
to publish or record those bytes; the upload resumes from its last close.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from regstore import (
    Buffer,
    FileWriter,
    PathNotFoundError,
    Regulator,
    StorageDriverError,
    UploadInfo,
    UploadInUseError,
)
from regstore_filesystem._fs import (
    RETRIES,
    TEMP_MARK,
    discard_quietly,
    fsync_dir,
    is_gone,
    make_dirs,
    rename_into_place,
    temp_name,
    write_new_file,
)

__all__ = ["STAGING_DIR", "WRITE_BUFFER", "FilesystemWriter", "UploadArea"]

#: The staging area's name under the root.
STAGING_DIR = f".regstore{TEMP_MARK}uploads"
_STATE = "state"
_DATA_PREFIX = "data-"
#: put_content's temporaries in the staging area.
_TEMP_PREFIX = "tmp"
_UPLOAD_DIR = re.compile(r"[0-9a-f]{64}")
#: Writes smaller than this are gathered before reaching the OS; larger
#: ones go straight through. This is all a writer holds in memory.
WRITE_BUFFER = 256 * 1024

_OPEN_DATA = os.O_RDWR | os.O_CLOEXEC
_LOCK = fcntl.LOCK_EX | fcntl.LOCK_NB


@dataclass(frozen=True, slots=True)
class _State:
    path: str
    size: int
    data: str


class UploadArea:
    """The staging area of one root: opens, resumes, lists and purges
    uploads, and holds put_content's temporary files."""

    def __init__(self, root: str, regulator: Regulator) -> None:
        self.root = root
        self.base = os.path.join(root, STAGING_DIR)
        self._regulator = regulator

    def directory(self, path: str) -> str:
        """The staging directory of the upload to store path `path`."""
        return os.path.join(self.base, hashlib.sha256(path.encode()).hexdigest())

    # -- put_content's temporaries -------------------------------------------

    def new_temp(self, data: memoryview) -> str:
        """A new fsynced file holding `data`, in the staging area: on the
        root's filesystem (so a rename publishes it atomically), never
        beside a target (a crash leaves nothing there), and with a short
        name (a 255-character target works)."""
        for _ in range(RETRIES):
            temp = os.path.join(self.base, temp_name(_TEMP_PREFIX))
            try:
                write_new_file(temp, data)
            except FileNotFoundError:
                self._make_base()
                continue
            return temp
        raise StorageDriverError("could not create the staging area: it kept vanishing")

    def _make_base(self) -> None:
        """Create the staging area (and the root, on the first write). The
        area's own entry need not be durable: it only ever holds files in
        flight, and a lost temporary is a put_content that did not happen."""
        try:
            os.mkdir(self.base)
        except FileExistsError:
            pass
        except FileNotFoundError:
            make_dirs(self.root)  # the next attempt creates the area

    def tidy(self) -> None:
        """Remove the staging area if it is empty (so an emptied store
        leaves an empty root); `rmdir` refuses while anything is in it."""
        with contextlib.suppress(OSError):
            os.rmdir(self.base)

    # -- opening and resuming -------------------------------------------------

    def start(self, path: str, target: str) -> FilesystemWriter:
        """A new upload to `path`, discarding any staged one."""
        staging = self.directory(path)
        data_name = _DATA_PREFIX + secrets.token_hex(8)
        data_path = os.path.join(staging, data_name)
        with self._regulator:
            for _ in range(RETRIES):
                try:
                    fd = os.open(data_path, _OPEN_DATA | os.O_CREAT | os.O_EXCL, 0o666)
                except FileNotFoundError:
                    make_dirs(staging)  # a concurrent cleanup may remove it again: retry
                    continue
                break
            else:
                raise StorageDriverError(f"could not create the staging area for {path}")
            try:
                fcntl.flock(fd, _LOCK)  # a new file: nobody else can hold it
                # Only now drop the older upload: the directory holds our
                # file, so no concurrent cleanup can remove it meanwhile.
                self._discard_except(staging, data_name)
            except BaseException:
                os.close(fd)
                discard_quietly(data_path)
                raise
        return FilesystemWriter(
            self, path, target=target, staging=staging, data_name=data_name, fd=fd, size=0
        )

    def resume(self, path: str, target: str) -> FilesystemWriter:
        """The upload an earlier writer closed, truncated to the size that
        close recorded; without one, the contract's fallbacks."""
        staging = self.directory(path)
        with self._regulator:
            for _ in range(RETRIES):
                state = _read_state(staging)
                if state is None or state.path != path:
                    break
                writer = self._claim(state, staging, target)
                if writer is not None:
                    return writer
                # The state changed under us (a commit, a cancel or a newer
                # upload): look again.
            try:
                info = os.stat(target)
            except OSError as err:
                if not is_gone(err):
                    raise
                info = None
        if info is None or stat.S_ISDIR(info.st_mode):
            raise PathNotFoundError(path, detail=f"no upload to resume at {path}")
        if info.st_size > 0:
            raise StorageDriverError(
                f"cannot append to {path}: it holds committed content and no upload"
            )
        return self.start(path, target)

    def _claim(self, state: _State, staging: str, target: str) -> FilesystemWriter | None:
        """Lock the data file `state` names and resume it; None if it is no
        longer the upload once locked (committed, cancelled, replaced)."""
        data_path = os.path.join(staging, state.data)
        try:
            fd = os.open(data_path, _OPEN_DATA)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, _LOCK)
            except BlockingIOError:
                raise UploadInUseError(state.path) from None
            # The lock came after the open: the holder may have committed
            # (renamed this very inode onto the path) or cancelled it in
            # between. Resume only if the name still leads to our inode and
            # the state still names it; a committed file is never writable.
            mine = os.fstat(fd)
            try:
                named = os.stat(data_path)
            except FileNotFoundError:
                named = None
            fresh = _read_state(staging)
            if (
                named is None
                or (named.st_dev, named.st_ino) != (mine.st_dev, mine.st_ino)
                or mine.st_nlink == 0
                or fresh != state
            ):
                os.close(fd)
                return None
            if mine.st_size < state.size:
                raise StorageDriverError(
                    f"the staged upload to {state.path} holds {mine.st_size} bytes but its "
                    f"last close recorded {state.size}; it is damaged, start a new upload"
                )
            truncated = mine.st_size != state.size
            if truncated:
                os.ftruncate(fd, state.size)  # what a writer that died after close() added
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        return FilesystemWriter(
            self,
            state.path,
            target=target,
            staging=staging,
            data_name=state.data,
            fd=fd,
            size=state.size,
            truncated=truncated,
        )

    def _discard_except(self, staging: str, keep: str) -> None:
        """Remove the state first (so the old upload stops being resumable),
        then every other data or temporary file."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(staging, _STATE))
        try:
            with os.scandir(staging) as entries:
                names = [entry.name for entry in entries if entry.name != keep]
        except FileNotFoundError:
            return  # a racing new upload already discarded ours; commit will say so
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(staging, name))

    # -- bookkeeping ----------------------------------------------------------

    def record(self, staging: str, state: _State) -> None:
        """Replace the state file atomically and durably. The body is in
        memory, so a failure (also of an fsync) is retried by rewriting it
        whole into a new temporary file."""
        body = json.dumps({"path": state.path, "size": state.size, "data": state.data}).encode()
        temp = os.path.join(staging, temp_name(_STATE))
        write_new_file(temp, memoryview(body))
        try:
            os.replace(temp, os.path.join(staging, _STATE))
        except BaseException:
            discard_quietly(temp)
            raise
        fsync_dir(staging)

    def forget(self, staging: str, data_name: str) -> None:
        """Drop the state if it still names `data_name`, then the staging
        directory and the area itself once they are empty."""
        state = _read_state(staging)
        if state is not None and state.data == data_name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(staging, _STATE))
        for directory in (staging, self.base):
            try:
                os.rmdir(directory)
            except OSError:
                return

    # -- listing and purging --------------------------------------------------

    def uploads(self) -> Iterator[UploadInfo]:
        """Every staged upload: its path and size from the state (None for
        an upload never closed, or a damaged state), modified = the newest
        mtime in its staging directory (the age purge compares with), ident =
        the staging directory's name."""
        try:
            with os.scandir(self.base) as entries:
                names = sorted(
                    entry.name
                    for entry in entries
                    if _UPLOAD_DIR.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
                )
        except FileNotFoundError:
            return
        for name in names:
            directory = os.path.join(self.base, name)
            with self._regulator:
                try:
                    newest = _newest_mtime(directory)
                except FileNotFoundError:
                    continue  # committed or cancelled since the listing
                state = _read_state(directory)
                locks = _lock_all(directory)  # tried, never waited for
                for fd in locks or ():
                    os.close(fd)
            yield UploadInfo(
                path=state.path if state is not None else None,
                size=state.size if state is not None else None,
                modified=dt.datetime.fromtimestamp(newest, dt.UTC),
                ours=True,
                ident=name,
                held=locks is None,
            )

    def purge(self, older_than: dt.timedelta, *, include_foreign: bool, dry_run: bool) -> int:
        """Remove the uploads `UploadInfo.purgeable` selects, except those
        a live writer holds (its lock is tried, never waited for); with
        `dry_run` count them only. Then reclaim put_content temporaries in
        the staging area older than the age. Returns the number of uploads."""
        now = dt.datetime.now(dt.UTC)
        count = 0
        for info in list(self.uploads()):
            if not info.purgeable(older_than, now=now, include_foreign=include_foreign):
                continue
            directory = os.path.join(self.base, info.ident)
            with self._regulator:
                held = _lock_all(directory)
                if held is None:
                    continue  # a writer is using it: not abandoned
                try:
                    if not dry_run:
                        shutil.rmtree(directory, ignore_errors=True)
                    count += 1
                finally:
                    for fd in held:
                        os.close(fd)
        if not dry_run:
            self._purge_temps((now - older_than).timestamp())
            self.tidy()
        return count

    def _purge_temps(self, cutoff: float) -> None:
        """Remove temporaries untouched since `cutoff`: put_content's in the
        area, a state's in an upload directory (a crash between their
        creation and their rename left them)."""
        temps: list[str] = []
        directories = [self.base]
        while directories:
            try:
                with os.scandir(directories.pop()) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            if _UPLOAD_DIR.fullmatch(entry.name):
                                directories.append(entry.path)
                        elif TEMP_MARK in entry.name:
                            temps.append(entry.path)
            except FileNotFoundError:
                continue
        for temp in temps:
            with contextlib.suppress(OSError):
                if os.lstat(temp).st_mtime < cutoff:
                    os.unlink(temp)


def _newest_mtime(directory: str) -> float:
    """The newest mtime of the files in `directory` (its own when empty)."""
    newest: float | None = None
    with os.scandir(directory) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                mtime = entry.stat(follow_symlinks=False).st_mtime
                newest = mtime if newest is None else max(newest, mtime)
    return newest if newest is not None else os.stat(directory).st_mtime


def _lock_all(directory: str) -> list[int] | None:
    """Lock every data file in `directory` as a writer would; None (and
    nothing held) if one is locked by a live writer. Read-only fds suffice
    for flock."""
    held: list[int] = []
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for entry in entries if entry.name.startswith(_DATA_PREFIX)]
        for name in names:
            try:
                fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            held.append(fd)
            fcntl.flock(fd, _LOCK)
    except BlockingIOError:
        pass
    except FileNotFoundError:
        pass  # the directory went (committed, cancelled): nothing to purge
    else:
        return held
    for fd in held:
        os.close(fd)
    return None


def _read_state(staging: str) -> _State | None:
    try:
        with open(os.path.join(staging, _STATE), "rb") as file:
            raw = json.loads(file.read())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:
        return None  # never written by us: the state is replaced atomically
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("path"), str)
        or not isinstance(raw.get("size"), int)
        or not isinstance(raw.get("data"), str)
        or not raw["data"].startswith(_DATA_PREFIX)
        or os.sep in raw["data"]
    ):
        return None
    return _State(raw["path"], raw["size"], raw["data"])


class FilesystemWriter(FileWriter):
    """One session of an upload: appends to its staging data file, which
    it holds locked (see the module docstring) until close, commit, cancel
    or its own garbage collection (a dropped writer is a crashed one).

    Bytes live in exactly one of two places: `_buffer` (accepted, not yet
    written) or the file's first `_disk` bytes. A byte leaves the buffer only
    once `os.pwrite` has stored it, so an error at any point loses nothing
    and a retry continues at the exact offset reached. `_synced` is the
    length known durable.
    """

    def __init__(
        self,
        area: UploadArea,
        path: str,
        *,
        target: str,
        staging: str,
        data_name: str,
        fd: int,
        size: int,
        truncated: bool = False,
    ) -> None:
        self._area = area
        self._regulator = area._regulator
        self._path = path
        self._target = target
        self._staging = staging
        self._data_name = data_name
        self._data_path = os.path.join(staging, data_name)
        #: The locked data file; None once the writer let go of it.
        self._fd: int | None = fd
        self._buffer = bytearray()
        self._disk = size
        # What an earlier close recorded was fsynced before it was recorded;
        # a truncation back to it is not durable until the next fsync.
        self._synced = -1 if truncated else size
        #: Set by a failed write: the session takes no more writes and
        #: cannot publish (the client's bytes after `_disk` never arrived).
        #: Messages, not exceptions: an exception kept here would keep its
        #: traceback's frames (and the caller's buffers) alive.
        self._write_error: str | None = None
        #: Set by a failed fsync: nothing since `_synced` can be trusted.
        self._lost: str | None = None
        #: The rename onto the target happened; a retried commit only
        #: finishes the bookkeeping.
        self._published = False

    def __del__(self) -> None:
        # A writer dropped without close/commit/cancel (the registry lost
        # the request) releases its lock, as a crashed process would.
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(Exception):
                os.close(fd)

    @property
    def size(self) -> int:
        return self._disk + len(self._buffer)

    # -- the bytes ------------------------------------------------------------

    def _holding(self) -> int:
        if self._lost is not None:
            raise StorageDriverError(self._lost)
        if self._fd is None:
            raise StorageDriverError(f"the writer of {self._path} is finished")
        return self._fd

    def write(self, data: Buffer) -> int:
        fd = self._holding()
        if self._write_error is not None:
            raise StorageDriverError(self._write_error)
        view = memoryview(data).cast("B")
        count = view.nbytes
        if len(self._buffer) + count <= WRITE_BUFFER:
            self._buffer += view
            return count
        with self._regulator:
            try:
                self._flush(fd)
                if count >= WRITE_BUFFER:
                    self._store(fd, view)
                else:
                    self._buffer += view
            except OSError as err:
                # What was stored is counted in `_disk`. The unstored rest,
                # and whatever was still buffered, never reached the disk:
                # dropped, so `size` and a later close() say exactly what is
                # there, and the client resends from there.
                self._buffer.clear()
                self._write_error = (
                    f"write to {self._path} failed with {self._disk} bytes on disk "
                    f"({err.strerror or err}); close() keeps those and a resume continues "
                    f"from there"
                )
                raise StorageDriverError(self._write_error) from err
        return count

    def _store(self, fd: int, view: memoryview) -> None:
        """Write `view` at the end of the data, counting each stored byte
        at once (a short write continues at the exact offset reached)."""
        done = 0
        while done < view.nbytes:
            count = os.pwrite(fd, view[done:], self._disk)
            if count <= 0:  # a regular file never does this; do not spin on it
                raise OSError(errno.ENOSPC, "write stored nothing")
            self._disk += count
            done += count

    def _flush(self, fd: int) -> None:
        """Store the buffer, dropping each byte only once it is on disk."""
        while self._buffer:
            # A snapshot, not the bytearray itself: a view of it that the OS
            # layer (or a traceback) keeps would forbid resizing the buffer.
            count = os.pwrite(fd, bytes(self._buffer), self._disk)
            if count <= 0:
                raise OSError(errno.ENOSPC, "write stored nothing")
            self._disk += count
            del self._buffer[:count]

    def _sync(self, fd: int) -> None:
        """fsync unless everything is known durable. A failure is final:
        after a failed writeback Linux may have dropped the dirty pages and
        report success on the next fsync, and the bytes are no longer in
        memory to be rewritten, so this session can neither record nor
        publish them. It lets go of the upload at once, so a resume (which
        truncates to the last close) need not wait for this writer."""
        if self._synced == self._disk:
            return
        try:
            os.fsync(fd)
        except OSError as err:
            self._lost = (
                f"the upload to {self._path} could not be made durable (fsync failed: "
                f"{err.strerror or err}); the bytes since its last close may be lost, so "
                f"this writer cannot publish them: resume the upload (it continues from its "
                f"last close) or restart it"
            )
            self._release()
            raise StorageDriverError(self._lost) from err
        self._synced = self._disk

    def _release(self) -> None:
        """Close the data file, which releases the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _replaced(self) -> StorageDriverError:
        return StorageDriverError(f"the upload to {self._path} was replaced by a newer writer")

    # -- finishing ------------------------------------------------------------

    def close(self) -> None:
        if self._lost is not None:
            raise StorageDriverError(self._lost)
        if self._fd is None:
            return
        fd = self._fd
        with self._regulator:
            self._flush(fd)  # after a failed write the buffer is empty
            self._sync(fd)
            if os.fstat(fd).st_nlink == 0:  # a newer upload removed ours
                self._release()
                raise self._replaced()
            try:
                self._area.record(self._staging, _State(self._path, self._disk, self._data_name))
            except FileNotFoundError:
                # The staging directory is gone: a newer upload discarded
                # ours and was committed or cancelled meanwhile.
                self._release()
                raise self._replaced() from None
            self._release()

    def commit(self) -> None:
        with self._regulator:
            if not self._published:
                fd = self._holding()
                if self._write_error is not None:
                    raise StorageDriverError(self._write_error)
                self._flush(fd)
                self._sync(fd)
                try:
                    rename_into_place(self._data_path, self._target)
                except FileNotFoundError:
                    self._release()
                    raise self._replaced() from None
                except IsADirectoryError as err:
                    raise StorageDriverError(
                        f"cannot commit to {self._path}: it is a directory"
                    ) from err
                except NotADirectoryError as err:
                    raise StorageDriverError(
                        f"cannot commit to {self._path}: one of its parents is a file"
                    ) from err
                self._published = True
            # Make the rename durable before saying so; a failure here leaves
            # the whole new content at the path and a retry finishes.
            fsync_dir(os.path.dirname(self._target), missing_ok=True)
            self._release()
            # Bookkeeping only: a leftover state names a data file that no
            # longer exists, which resume and purge both handle.
            with contextlib.suppress(OSError):
                self._area.forget(self._staging, self._data_name)

    def cancel(self) -> None:
        with self._regulator:
            if self._fd is None and not self._published:
                if self._lost is not None:
                    self._discard_released()
                return
            if not self._published:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._data_path)
            self._release()
            with contextlib.suppress(OSError):
                self._area.forget(self._staging, self._data_name)

    def _discard_released(self) -> None:
        """Cancel after a failed fsync let go of the upload: take the lock
        again as a resume would, and discard the upload only if it is still
        ours and nobody took it meanwhile."""
        try:
            fd = os.open(self._data_path, _OPEN_DATA)
        except FileNotFoundError:
            return  # discarded already
        try:
            try:
                fcntl.flock(fd, _LOCK)
            except BlockingIOError:
                raise UploadInUseError(self._path) from None
            try:
                named = os.stat(self._data_path)
            except FileNotFoundError:
                return
            mine = os.fstat(fd)
            if (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino) and mine.st_nlink:
                os.unlink(self._data_path)
                with contextlib.suppress(OSError):
                    self._area.forget(self._staging, self._data_name)
        finally:
            os.close(fd)
