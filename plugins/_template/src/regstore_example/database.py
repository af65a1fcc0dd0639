"""The SQLite side: one database file, three tables, one connection.

    objects(path, size, mod_time_ns, blob)   committed content, one row a path
    chunks(blob, start, data)                content in pieces of <= chunksize
    uploads(path, blob, size, session)       open uploads, resumable

An object's bytes live in `chunks` under a blob id, never in one row, so
neither a writer nor a reader ever holds more than one piece in memory.
Directories are not stored: like an object store, a directory exists while
some path below it does. `uploads.size` is what the last `close()` made
durable; a resume throws away any chunk at or past it (written by a writer
that died before closing).

Every driver instance owns one connection, guarded by a lock so threads can
share the instance. Other instances and other processes open their own
connections to the same file; SQLite's locking keeps them consistent.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["DATABASE_NAME", "Database"]

#: The file inside `rootdirectory`.
DATABASE_NAME = "regstore.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mod_time_ns INTEGER NOT NULL,
    blob TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    blob TEXT NOT NULL,
    start INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (blob, start)
);
CREATE TABLE IF NOT EXISTS uploads (
    path TEXT PRIMARY KEY,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    session TEXT NOT NULL
) WITHOUT ROWID;
"""


class Database:
    """A connection to the store's database file, used one transaction at a
    time. `read()` and `write()` are the only ways in, so every statement
    runs inside a transaction and sees a consistent store."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.file = directory / DATABASE_NAME
        self._lock = threading.RLock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        # check_same_thread=False: the lock serializes threads instead.
        self._conn = sqlite3.connect(
            self.file, timeout=60, isolation_level=None, check_same_thread=False
        )
        # Close the connection when the driver is garbage collected.
        weakref.finalize(self, self._conn.close)
        with self._lock:
            # WAL lets readers in other processes go on while one writes;
            # synchronous=NORMAL is durable across crashes of this process
            # (a power cut may lose the last transactions, never corrupt).
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one snapshot for every statement inside."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, all or nothing. IMMEDIATE takes the write
        lock up front, so two processes never deadlock upgrading a read."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
