"""The `example` driver: a regstore store in one SQLite database file.

A complete driver, written to be read and copied. Core has already checked every
path (absolute, no `..`, `/` only for list/stat/walk) and offset before a
method here runs, wraps any exception that is not a `StorageDriverError`
(sqlite3's included) with the driver's name, and enforces the rules of
finished writers. What is left is the storage itself:

- `database.py`: the file, its tables, transactions.
- `tree.py`: directories over a flat table of paths.
- `streams.py`: readers and resumable writers, one chunk at a time.

The store survives the process (`persistent=True`): a second driver on the
same `rootdirectory`, in this process or another, sees the same objects and
resumes the same uploads. An empty store is no file at all: the database is
created by the first write and removed when a delete or a cancelled upload
empties the store (see database.py), so an emptied root holds nothing.
`walk` is the default one (core's tree walk over `list` and `stat`), so the
walk order is "tree".
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Self

from regstore import (
    Buffer,
    Capabilities,
    FileInfo,
    FileWriter,
    PathNotFoundError,
    StorageDriver,
    StorageDriverError,
)
from regstore_example.database import Database
from regstore_example.plugin import SPEC
from regstore_example.streams import ChunkReader, ChunkWriter
from regstore_example.tree import check_placeable, has_below, publish, subtree

__all__ = ["ExampleDriver"]


def _new_blob() -> str:
    return uuid.uuid4().hex


def _time(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)


class ExampleDriver(StorageDriver):
    """Objects in `<rootdirectory>/regstore.sqlite3`."""

    capabilities = SPEC.capabilities or Capabilities()

    def __init__(self, rootdirectory: str, chunksize: int = 1024 * 1024) -> None:
        self.database = Database(Path(rootdirectory))
        self.chunksize = chunksize

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Self:
        """The factory core calls, with parameters already checked and
        coerced as declared in `regstore_example.plugin`."""
        return cls(params["rootdirectory"], params["chunksize"])

    # -- whole objects ------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        # One read transaction: the object and all its chunks from one
        # snapshot, so a concurrent put is seen whole or not at all.
        with self.database.read() as db:
            row = db.execute("SELECT blob FROM objects WHERE path = ?", (path,)).fetchone()
            if row is None:
                raise PathNotFoundError(path)
            pieces = db.execute("SELECT data FROM chunks WHERE blob = ? ORDER BY start", row)
            return b"".join(data for (data,) in pieces)

    def put_content(self, path: str, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        blob = _new_blob()
        with self.database.write() as db:
            check_placeable(db, path)
            for start in range(0, len(view), self.chunksize):
                db.execute(
                    "INSERT INTO chunks (blob, start, data) VALUES (?, ?, ?)",
                    (blob, start, view[start : start + self.chunksize]),
                )
            publish(db, path, blob, len(view))

    # -- streams ------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        with self.database.read() as db:
            row = db.execute("SELECT blob, size FROM objects WHERE path = ?", (path,)).fetchone()
        if row is None:
            raise PathNotFoundError(path)
        blob, size = row
        raw = ChunkReader(self.database, path, blob, size, offset)
        return io.BufferedReader(raw, buffer_size=64 * 1024)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        session = uuid.uuid4().hex
        with self.database.write() as db:
            upload = db.execute("SELECT blob, size FROM uploads WHERE path = ?", (path,)).fetchone()
            if not append:
                if upload is not None:  # a new upload replaces an unfinished one
                    db.execute("DELETE FROM chunks WHERE blob = ?", (upload[0],))
                blob, size = _new_blob(), 0
            elif upload is not None:
                blob, size = upload
                # Chunks at or past the size the last close() recorded were
                # written by a writer that never closed: drop them, so the
                # upload is exactly what the client was told it holds.
                db.execute("DELETE FROM chunks WHERE blob = ? AND start >= ?", (blob, size))
            else:
                committed = db.execute(
                    "SELECT size FROM objects WHERE path = ?", (path,)
                ).fetchone()
                if committed is None:
                    raise PathNotFoundError(path, detail=f"no upload to resume at {path}")
                if committed[0] > 0:
                    raise StorageDriverError(
                        f"cannot append to {path}: it holds committed content and no upload"
                    )
                blob, size = _new_blob(), 0  # appending to empty content starts afresh
            db.execute(
                "INSERT OR REPLACE INTO uploads (path, blob, size, session) VALUES (?, ?, ?, ?)",
                (path, blob, size, session),
            )
        return ChunkWriter(
            self.database, path, blob=blob, size=size, session=session, chunksize=self.chunksize
        )

    # -- the tree -----------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        with self.database.read() as db:
            row = db.execute(
                "SELECT size, mod_time_ns FROM objects WHERE path = ?", (path,)
            ).fetchone()
            if row is not None:
                return FileInfo(path, row[0], _time(row[1]), False)
            # A directory's time is that of the newest file below it.
            (newest,) = db.execute(
                "SELECT max(mod_time_ns) FROM objects WHERE path > ? AND path < ?", subtree(path)
            ).fetchone()
        if newest is None:
            raise PathNotFoundError(path)
        return FileInfo(path, 0, _time(newest), True)

    def list(self, path: str) -> list[str]:
        low, high = subtree(path)
        children = []
        with self.database.read() as db:
            after = low
            # Skip scan: find the first path past `after`, note the child it
            # lies in, then jump over that child's whole subtree. One query
            # per child, however many files lie below each.
            while row := db.execute(
                "SELECT path FROM objects WHERE path > ? AND path < ? ORDER BY path LIMIT 1",
                (after, high),
            ).fetchone():
                child = low + row[0][len(low) :].split("/", 1)[0]
                children.append(child)
                # A file: go on right after it (`/a-b` sorts after `/a`).
                # A directory: past everything below it (`\x7f` sorts after
                # every character a path may hold).
                after = child if row[0] == child else child + "/\x7f"
        if not children and path != "/":
            raise PathNotFoundError(path)
        if not children:
            # An empty store: if another instance emptied it while this one
            # kept the file open, nobody could remove the file then.
            self.database.remove_if_empty()
        return sorted(children)

    def move(self, source: str, dest: str) -> None:
        with self.database.write() as db:
            row = db.execute("SELECT blob, size FROM objects WHERE path = ?", (source,)).fetchone()
            if row is None:
                raise PathNotFoundError(source)
            if source == dest:
                return
            check_placeable(db, dest)
            db.execute("DELETE FROM objects WHERE path = ?", (source,))
            publish(db, dest, row[0], row[1])

    def delete(self, path: str) -> None:
        with self.database.write() as db:
            row = db.execute("SELECT blob FROM objects WHERE path = ?", (path,)).fetchone()
            if row is not None:
                db.execute("DELETE FROM chunks WHERE blob = ?", row)
                db.execute("DELETE FROM objects WHERE path = ?", (path,))
            elif has_below(db, path):
                below = subtree(path)
                db.execute(
                    "DELETE FROM chunks WHERE blob IN"
                    " (SELECT blob FROM objects WHERE path > ? AND path < ?)",
                    below,
                )
                db.execute("DELETE FROM objects WHERE path > ? AND path < ?", below)
            else:
                raise PathNotFoundError(path)
