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

An empty store is no file at all, as an emptied filesystem root holds
nothing: the file is created by the first write, and `remove_if_empty()`
(called when a delete or a cancel may have emptied the store) deletes it
again when nothing is stored and no other connection, in this process or
another, has it open. Until then reads see an empty store without creating
anything. So a store that is used and emptied, as every test of the
conformance suite does, leaves nothing behind on disk.

Every driver instance owns one connection, guarded by a lock so threads can
share the instance. Other instances and other processes open their own
connections to the same file; SQLite's locking keeps them consistent.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["DATABASE_NAME", "Database"]

#: The file inside `rootdirectory` (with SQLite's `-wal` and `-shm` beside it).
DATABASE_NAME = "regstore.sqlite3"
#: Seconds a statement waits for another connection's lock.
BUSY_TIMEOUT = 60

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

_EMPTY = "SELECT NOT EXISTS (SELECT 1 FROM objects) AND NOT EXISTS (SELECT 1 FROM uploads)"


@contextmanager
def _directory_lock(directory: Path, *, exclusive: bool, create: bool = False) -> Iterator[bool]:
    """An advisory lock on `directory`, created if absent when `create`
    (yields False when the directory is absent, or an exclusive lock is not
    free at once). Opening a connection holds
    it shared until SQLite holds the connection's own lock on the file;
    removing the file holds it exclusively. Without it a connection could
    open the file just before it is removed, and go on using a file that no
    longer has a name."""
    while True:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(directory, os.O_RDONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
            except BlockingIOError:
                yield False
                return
            # Removed (with the store) while we waited: lock the new one.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(directory).st_ino == os.fstat(fd).st_ino:
                    yield True
                    return
        finally:
            os.close(fd)  # releases the lock


def _remove_if_empty(conn: sqlite3.Connection, directory: Path, file: Path) -> bool:
    """Close `conn` and delete `file` (and `directory`, when that leaves it
    empty) if the store holds no object and no upload and no other
    connection has the file open; True if it did. Otherwise `conn` is left
    as it was."""
    with _directory_lock(directory, exclusive=True) as locked:
        if not locked:
            return False  # another instance is opening the file: in use
        # Exclusive locking mode: the lock taken below is kept after
        # COMMIT, until the connection is closed. SQLite grants it only when
        # no other connection, in this process or another, has the file
        # open (an open WAL connection holds a shared lock all along).
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        try:
            conn.execute("BEGIN EXCLUSIVE")
            empty = conn.execute(_EMPTY).fetchone()[0]
            conn.execute("COMMIT")
        except sqlite3.OperationalError:  # "database is locked": in use
            empty = False
        if not empty:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.execute("PRAGMA locking_mode = NORMAL")
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT * 1000}")
            conn.execute("SELECT 1 FROM objects LIMIT 0")  # gives the lock back
            return False
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{file}{suffix}")
        conn.close()
        with contextlib.suppress(OSError):  # not empty: it holds something else too
            directory.rmdir()
    return True


def _close(conn: sqlite3.Connection, directory: Path, file: Path) -> None:
    """What happens to a connection when its driver is garbage collected:
    the last one out of an empty store removes it."""
    with contextlib.suppress(sqlite3.Error, OSError):
        if conn.execute(_EMPTY).fetchone()[0] and _remove_if_empty(conn, directory, file):
            return
    conn.close()


class Database:
    """The store's database file, used one transaction at a time. `read()`
    and `write()` are the only ways in, so every statement runs inside a
    transaction and sees a consistent store."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.file = directory / DATABASE_NAME
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._finalizer: weakref.finalize[..., Database] | None = None
        # What reads see while there is no file: an empty store in memory.
        self._blank = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._blank.executescript(_SCHEMA)
        weakref.finalize(self, self._blank.close)

    def _connection(self, *, create: bool) -> sqlite3.Connection | None:
        """This instance's connection to the file, opened on first use;
        None when there is no file and `create` is false."""
        if self._conn is not None:
            return self._conn
        if not create and not self.file.exists():
            return None
        with _directory_lock(self.directory, exclusive=False, create=create) as locked:
            if not locked or not (create or self.file.exists()):
                return None  # removed while we waited for the lock
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            # check_same_thread=False: the lock serializes threads instead.
            conn = sqlite3.connect(
                self.file, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            # WAL lets readers in other processes go on while one writes;
            # synchronous=NORMAL is durable across crashes of this process
            # (a power cut may lose the last transactions, never corrupt).
            # From its first statement on, a WAL connection holds a shared
            # lock on the file until it is closed: nobody removes it meanwhile.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        # When the driver is garbage collected: close, removing an empty store.
        self._finalizer = weakref.finalize(self, _close, conn, self.directory, self.file)
        self._conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one snapshot for every statement inside."""
        with self._lock:
            conn = self._connection(create=False) or self._blank
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, all or nothing. IMMEDIATE takes the write
        lock up front, so two processes never deadlock upgrading a read.
        One that leaves the store empty (a delete, a cancel, or a refused
        change to a store that held nothing) removes the file."""
        with self._lock:
            conn = self._connection(create=True)
            assert conn is not None
            conn.execute("BEGIN IMMEDIATE")
            try:
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                # Still in a transaction only if COMMIT or ROLLBACK failed: let that be.
                if not conn.in_transaction and conn.execute(_EMPTY).fetchone()[0]:
                    self.remove_if_empty()

    def remove_if_empty(self) -> bool:
        """Delete the database file (and its directory, if that is then
        empty) when the store holds no object and no upload and no other
        connection has the file open; True if it did. While another
        connection has it, the store is in use: the last one to find it
        empty removes it."""
        with self._lock:
            conn = self._conn
            if conn is None or not _remove_if_empty(conn, self.directory, self.file):
                return False
            self._conn = None
            if self._finalizer is not None:
                self._finalizer.detach()
            return True
