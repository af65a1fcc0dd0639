"""The directory tree over a flat table of paths.

Only files are stored; a directory is any path that other paths lie below.
All paths below `/a` sort between `/a/` and `/a0` (`0` is the character
after `/`), so "what is below /a" is one range scan of the primary key. A
prefix test would be wrong: `/ab` is not below `/a`.
"""

from __future__ import annotations

import sqlite3
import time

from regstore import StorageDriverError

__all__ = ["check_placeable", "has_below", "parents", "publish", "subtree"]


def subtree(path: str) -> tuple[str, str]:
    """Exclusive key bounds of everything below `path` (`/` for the root)."""
    base = "" if path == "/" else path
    return base + "/", base + "0"


def has_below(db: sqlite3.Connection, path: str) -> bool:
    """Whether any file lies below `path`, i.e. it is a directory."""
    low, high = subtree(path)
    row = db.execute(
        "SELECT 1 FROM objects WHERE path > ? AND path < ? LIMIT 1", (low, high)
    ).fetchone()
    return row is not None


def parents(path: str) -> list[str]:
    """The directories above `path`, nearest first, without the root."""
    found = []
    while (path := path.rpartition("/")[0]) != "":
        found.append(path)
    return found


def check_placeable(db: sqlite3.Connection, path: str) -> None:
    """Refuse to store a file where a directory is, or below a file: the
    tree would no longer be a tree."""
    if has_below(db, path):
        raise StorageDriverError(f"cannot write {path}: it is a directory")
    for directory in parents(path):
        if db.execute("SELECT 1 FROM objects WHERE path = ?", (directory,)).fetchone():
            raise StorageDriverError(f"cannot write {path}: {directory} is a file")


def publish(db: sqlite3.Connection, path: str, blob: str, size: int) -> None:
    """Make `blob` the content of `path`, dropping what was there, inside the
    caller's write transaction (so readers see the old or the new object)."""
    old = db.execute("SELECT blob FROM objects WHERE path = ?", (path,)).fetchone()
    db.execute(
        "INSERT OR REPLACE INTO objects (path, size, mod_time_ns, blob) VALUES (?, ?, ?, ?)",
        (path, size, time.time_ns(), blob),
    )
    if old is not None and old[0] != blob:
        db.execute("DELETE FROM chunks WHERE blob = ?", (old[0],))
