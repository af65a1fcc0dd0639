"""Resumable uploads staged out of sight, published by rename.

distribution's filesystem writer truncates the file at the path and writes
in place, so a reader sees a half-written object and a crash leaves it torn
(a known bug the contract says not to copy). Here an upload lives in a
staging directory until `commit()` renames it onto the path:

    <root>/.regstore~uploads/<sha256 of the path>/
        data-<token>   the bytes; one file per writer session that started
                       the upload, so a newer upload never mixes with an
                       older writer that is still running
        state          JSON {"path", "size", "data"}: the size persisted by
                       the last close() and which data file holds it;
                       replaced atomically

`~` cannot appear in a path component, so the staging directory never
clashes with a user path and list/walk/stat never show it.

Resume rules (the contract's): `close()` fsyncs the data and then records
its size; `writer(path, append=True)` truncates the data back to that size,
dropping whatever a writer that died after its last close had added. An
upload with no `state` (its writer died before the first close) counts as
no upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import stat
import time
from dataclasses import dataclass
from typing import BinaryIO

from regstore import Buffer, FileWriter, PathNotFoundError, Regulator, StorageDriverError
from regstore_filesystem._fs import (
    RETRIES,
    TEMP_MARK,
    fsync_dir,
    is_gone,
    make_dirs,
    move_into_place,
    temp_name,
    unlink_quietly,
    write_new_file,
)

__all__ = ["STAGING_DIR", "FilesystemWriter", "UploadArea"]

#: The staging area's name under the root.
STAGING_DIR = f".regstore{TEMP_MARK}uploads"
_STATE = "state"
_DATA_PREFIX = "data-"
#: Writes smaller than this are gathered before reaching the OS; larger
#: ones go straight through. This is all a writer holds in memory.
WRITE_BUFFER = 256 * 1024


@dataclass(frozen=True, slots=True)
class _State:
    path: str
    size: int
    data: str


class UploadArea:
    """The staging area of one root: opens, resumes and purges uploads."""

    def __init__(self, root: str, regulator: Regulator) -> None:
        self.base = os.path.join(root, STAGING_DIR)
        self._regulator = regulator

    def directory(self, path: str) -> str:
        """The staging directory of the upload to store path `path`."""
        return os.path.join(self.base, hashlib.sha256(path.encode()).hexdigest())

    def start(self, path: str, target: str) -> FilesystemWriter:
        """A new upload to `path`, discarding any staged one."""
        staging = self.directory(path)
        data_name = _DATA_PREFIX + secrets.token_hex(8)
        data_path = os.path.join(staging, data_name)
        with self._regulator:
            for _ in range(RETRIES):
                try:
                    file = open(data_path, "xb", buffering=WRITE_BUFFER)  # noqa: SIM115
                except FileNotFoundError:
                    make_dirs(staging)  # a concurrent cleanup may remove it again: retry
                    continue
                break
            else:
                raise StorageDriverError(f"could not create the staging area for {path}")
            # Only now drop the older upload: the directory holds our file, so
            # no concurrent cleanup can remove it meanwhile.
            self._discard_except(staging, data_name)
        return FilesystemWriter(
            self, path, target=target, staging=staging, data_name=data_name, file=file, size=0
        )

    def resume(self, path: str, target: str) -> FilesystemWriter:
        """The upload an earlier writer closed, truncated to the size that
        close recorded; without one, the contract's fallbacks."""
        staging = self.directory(path)
        with self._regulator:
            state = _read_state(staging)
            if state is not None and state.path == path:
                data_path = os.path.join(staging, state.data)
                try:
                    file = open(data_path, "r+b", buffering=WRITE_BUFFER)  # noqa: SIM115
                except FileNotFoundError:
                    pass  # committed or replaced since we read the state
                else:
                    return self._truncated(file, state, staging, target)
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

    def _truncated(
        self, file: BinaryIO, state: _State, staging: str, target: str
    ) -> FilesystemWriter:
        try:
            actual = os.fstat(file.fileno()).st_size
            if actual < state.size:
                raise StorageDriverError(
                    f"the staged upload to {state.path} holds {actual} bytes but its last "
                    f"close recorded {state.size}; it is damaged, start a new upload"
                )
            file.truncate(state.size)  # what a writer that died after close() added
            file.seek(state.size)
        except BaseException:
            file.close()
            raise
        return FilesystemWriter(
            self,
            state.path,
            target=target,
            staging=staging,
            data_name=state.data,
            file=file,
            size=state.size,
        )

    def _discard_except(self, staging: str, keep: str) -> None:
        """Remove the state first (so the old upload stops being resumable),
        then every other data or temporary file."""
        unlink_quietly(os.path.join(staging, _STATE))
        try:
            with os.scandir(staging) as entries:
                names = [entry.name for entry in entries if entry.name != keep]
        except FileNotFoundError:
            return  # a racing new upload already discarded ours; commit will say so
        for name in names:
            unlink_quietly(os.path.join(staging, name))

    def record(self, staging: str, state: _State) -> None:
        """Replace the state file atomically and durably."""
        body = json.dumps({"path": state.path, "size": state.size, "data": state.data}).encode()
        temp = os.path.join(staging, temp_name(_STATE))
        write_new_file(temp, memoryview(body))
        try:
            os.replace(temp, os.path.join(staging, _STATE))
        except BaseException:
            unlink_quietly(temp)
            raise
        fsync_dir(staging)

    def forget(self, staging: str, data_name: str) -> None:
        """Drop the state if it still names `data_name`, then the staging
        directory and the area itself once they are empty."""
        state = _read_state(staging)
        if state is not None and state.data == data_name:
            unlink_quietly(os.path.join(staging, _STATE))
        for directory in (staging, self.base):
            try:
                os.rmdir(directory)
            except OSError:
                return

    def purge(self, older_than: float) -> list[str]:
        """Remove uploads nobody touched for `older_than` seconds (the
        registry's upload purger does this for distribution); returns the
        store paths of the purged uploads that recorded one."""
        cutoff = time.time() - older_than
        purged: list[str] = []
        try:
            with os.scandir(self.base) as entries:
                dirs = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return purged
        for directory in dirs:
            with self._regulator:
                try:
                    with os.scandir(directory) as entries:
                        newest = max(
                            (entry.stat().st_mtime for entry in entries),
                            default=os.stat(directory).st_mtime,
                        )
                except FileNotFoundError:
                    continue
                if newest >= cutoff:
                    continue
                state = _read_state(directory)
                shutil.rmtree(directory, ignore_errors=True)
            if state is not None:
                purged.append(state.path)
        return purged


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
    """One session of an upload: appends to its staging data file."""

    def __init__(
        self,
        area: UploadArea,
        path: str,
        *,
        target: str,
        staging: str,
        data_name: str,
        file: BinaryIO,
        size: int,
    ) -> None:
        self._area = area
        self._regulator = area._regulator
        self._path = path
        self._target = target
        self._staging = staging
        self._data_name = data_name
        self._data_path = os.path.join(staging, data_name)
        self._file = file
        self._size = size
        #: Set once a newer upload to the same path removed our data file:
        #: this session must then neither record nor publish anything.
        self._void = False

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: Buffer) -> int:
        count = memoryview(data).nbytes
        with self._regulator:
            self._file.write(data)
        self._size += count
        return count

    def _sync_and_close(self) -> None:
        """Flush and fsync the data, then close it; a newer upload that
        removed our file meanwhile makes this writer's work void."""
        file = self._file
        if not file.closed:
            try:
                file.flush()
                os.fsync(file.fileno())
                self._void = os.fstat(file.fileno()).st_nlink == 0
            finally:
                file.close()
        if self._void:
            raise self._replaced()

    def _replaced(self) -> StorageDriverError:
        return StorageDriverError(f"the upload to {self._path} was replaced by a newer writer")

    def close(self) -> None:
        with self._regulator:
            self._sync_and_close()
            try:
                self._area.record(self._staging, _State(self._path, self._size, self._data_name))
            except FileNotFoundError:
                # The staging directory is gone: a newer upload discarded
                # ours and was committed or cancelled meanwhile.
                self._void = True
                raise self._replaced() from None

    def commit(self) -> None:
        with self._regulator:
            self._sync_and_close()
            try:
                move_into_place(self._data_path, self._target)
            except FileNotFoundError:
                self._void = True
                raise self._replaced() from None
            except IsADirectoryError as err:
                raise StorageDriverError(
                    f"cannot commit to {self._path}: it is a directory"
                ) from err
            except NotADirectoryError as err:
                raise StorageDriverError(
                    f"cannot commit to {self._path}: one of its parents is a file"
                ) from err
            self._area.forget(self._staging, self._data_name)

    def cancel(self) -> None:
        with self._regulator:
            with contextlib.suppress(OSError):
                self._file.close()
            unlink_quietly(self._data_path)
            self._area.forget(self._staging, self._data_name)
