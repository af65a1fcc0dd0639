"""Readers and writers: objects move through them one chunk at a time.

A writer fills a buffer of at most `chunksize` bytes and stores it as one row
of `chunks` when full; `close()` stores the rest and records the size, which
is what a resume starts from. A reader loads the chunk holding its position,
serves reads from it, and loads the next when it runs out; a seek only moves
the position, within the version the reader opened.
"""

from __future__ import annotations

import io
import sqlite3
from typing import TYPE_CHECKING

from regstore import Buffer, FileWriter, StorageDriverError
from regstore_example.database import Database
from regstore_example.tree import check_placeable, publish

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["ChunkReader", "ChunkWriter"]


class ChunkWriter(FileWriter):
    """An upload to `path`, stored under `blob` as it is written.

    `session` identifies this writer: opening another writer on the path
    replaces the session in `uploads`, and this one then refuses to go on
    rather than interleave its bytes with the newer writer's.
    """

    def __init__(
        self,
        database: Database,
        path: str,
        *,
        blob: str,
        size: int,
        session: str,
        chunksize: int,
    ) -> None:
        self._database = database
        self._path = path
        self._blob = blob
        self._stored = size  # bytes already in `chunks`
        self._session = session
        self._chunksize = chunksize
        self._buffer = bytearray()

    @property
    def size(self) -> int:
        return self._stored + len(self._buffer)

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        taken = len(view)
        while view:
            if not self._buffer and len(view) >= self._chunksize:
                # A whole chunk straight from the caller's memory, no copy.
                self._store(view[: self._chunksize])
            else:
                room = self._chunksize - len(self._buffer)
                self._buffer += view[:room]
                if len(self._buffer) == self._chunksize:
                    self._store(self._buffer)
                    self._buffer.clear()
                view = view[room:]
                continue
            view = view[self._chunksize :]
        return taken

    def _store(self, piece: Buffer) -> None:
        with self._database.write() as db:
            self._check_current(db)
            self._insert(db, piece)

    def _insert(self, db: sqlite3.Connection, piece: Buffer) -> None:
        db.execute(
            "INSERT INTO chunks (blob, start, data) VALUES (?, ?, ?)",
            (self._blob, self._stored, piece),
        )
        self._stored += memoryview(piece).nbytes

    def _is_current(self, db: sqlite3.Connection) -> bool:
        row = db.execute("SELECT session FROM uploads WHERE path = ?", (self._path,)).fetchone()
        return row is not None and row[0] == self._session

    def _check_current(self, db: sqlite3.Connection) -> None:
        if not self._is_current(db):
            raise StorageDriverError(f"the upload to {self._path} was replaced by a newer writer")

    def close(self) -> None:
        with self._database.write() as db:
            if not self._is_current(db):
                return  # a newer writer owns the upload; nothing of ours to keep
            if self._buffer:
                self._insert(db, self._buffer)
                self._buffer.clear()
            db.execute("UPDATE uploads SET size = ? WHERE path = ?", (self._stored, self._path))

    def commit(self) -> None:
        with self._database.write() as db:
            self._check_current(db)
            check_placeable(db, self._path)
            if self._buffer:
                self._insert(db, self._buffer)
                self._buffer.clear()
            publish(db, self._path, self._blob, self._stored)
            db.execute("DELETE FROM uploads WHERE path = ?", (self._path,))

    def cancel(self) -> None:
        self._buffer.clear()
        with self._database.write() as db:
            if self._is_current(db):
                db.execute("DELETE FROM chunks WHERE blob = ?", (self._blob,))
                db.execute("DELETE FROM uploads WHERE path = ?", (self._path,))


class ChunkReader(io.RawIOBase):
    """Reads `blob` (`size` bytes) from `offset`, one chunk in memory.

    The object is not locked while it is read: if it is replaced or deleted
    meanwhile, its chunks go away and the next load fails with an error
    instead of mixing old and new bytes.
    """

    def __init__(self, database: Database, path: str, blob: str, size: int, offset: int) -> None:
        super().__init__()
        self._database = database
        self._path = path
        self._blob = blob
        self._size = size
        self._position = offset
        self._chunk_start = 0
        self._chunk = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # Seeking stays on this reader's blob, the version it opened: core
        # would otherwise reopen the path, which may hold a newer version.
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        if whence not in base:
            raise ValueError(f"invalid whence {whence!r}")
        if base[whence] + offset < 0:
            raise ValueError(f"negative seek position {base[whence] + offset}")
        self._position = base[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._position >= self._size:
            return 0
        within = self._position - self._chunk_start
        if not 0 <= within < len(self._chunk):
            self._load()
            within = self._position - self._chunk_start
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(self._chunk) - within)
        target[:count] = self._chunk[within : within + count]
        self._position += count
        return count

    def _load(self) -> None:
        with self._database.read() as db:
            row = db.execute(
                "SELECT start, data FROM chunks WHERE blob = ? AND start <= ?"
                " ORDER BY start DESC LIMIT 1",
                (self._blob, self._position),
            ).fetchone()
        if row is None or row[0] + len(row[1]) <= self._position:
            raise StorageDriverError(f"{self._path} was replaced or deleted while being read")
        self._chunk_start, self._chunk = row[0], row[1]

    def close(self) -> None:
        self._chunk = b""
        super().close()
