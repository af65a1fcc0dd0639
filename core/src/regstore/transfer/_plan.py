"""Listing both sides and deciding, file by file, what a transfer does.

Both listings are held in memory (a few hundred bytes a file), so the totals
are known before the first byte moves (a progress bar's ETA needs them) and
deletes and type conflicts can be decided exactly. File contents are never
held whole; see `_engine`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from regstore.driver import StorageDriver
from regstore.errors import PathNotFoundError
from regstore.paths import ROOT, parent, validate_path
from regstore.transfer._model import SourceNotFoundError, TransferError

__all__ = ["Entry", "Item", "Plan", "make_plan"]


@dataclass(frozen=True, slots=True)
class Entry:
    """A listed file: what the skip rule compares."""

    size: int
    mod_time: dt.datetime


@dataclass(frozen=True, slots=True)
class Item:
    """One source file and where it goes."""

    src: str
    dest: str
    size: int
    mod_time: dt.datetime
    #: Same size at the destination, content not yet compared (checksum
    #: mode): the worker hashes both sides and skips the file when equal.
    compare: bool = False


@dataclass
class Plan:
    """What the transfer will do, in the source's walk order."""

    copies: list[Item] = field(default_factory=list)
    #: Up to date already (skip rule), with why.
    skips: list[tuple[Item, str]] = field(default_factory=list)
    #: Sync with delete: destination files in the way of a source file
    #: (below a path the source has as a file, or at a path the source has as
    #: a directory). Removed before the copies, or those copies would fail.
    conflicts: list[str] = field(default_factory=list)
    #: Sync with delete: destination files the source does not have.
    extras: list[str] = field(default_factory=list)


def _rel(root: str, path: str) -> str:
    return path if root == ROOT else path[len(root) :]


def _join(root: str, rel: str) -> str:
    return rel if root == ROOT else root + rel


def _overlaps(a: str, b: str) -> bool:
    return a == b or ROOT in (a, b) or a.startswith(b + "/") or b.startswith(a + "/")


def _files_below(driver: StorageDriver, root: str) -> dict[str, Entry]:
    """The files below directory `root`, keyed by their path relative to it.

    Uploads in flight and the driver's bookkeeping never appear: `walk`
    shows committed objects only, and no path can name a `~` key."""
    found: dict[str, Entry] = {}
    for info in driver.walk(root):
        if not info.is_dir:
            found[_rel(root, info.path)] = Entry(info.size, info.mod_time)
    return found


def _stat(driver: StorageDriver, path: str) -> tuple[bool, Entry] | None:
    """(is_dir, entry) of `path`, None when absent. The root counts as a
    directory, present or not (an empty store may not have one)."""
    if path == ROOT:
        return True, Entry(0, dt.datetime.min.replace(tzinfo=dt.UTC))
    try:
        info = driver.stat(path)
    except PathNotFoundError:
        return None
    return info.is_dir, Entry(info.size, info.mod_time)


def _listing(driver: StorageDriver, path: str, *, source: bool) -> dict[str, Entry]:
    """The files of one side, keyed relative to `path`; a file is keyed ""."""
    found = _stat(driver, path)
    if found is None:
        if source:
            raise SourceNotFoundError(path, driver_name=driver.name)
        return {}
    is_dir, entry = found
    if not is_dir:
        return {"": entry}
    try:
        return _files_below(driver, path)
    except PathNotFoundError:
        if source and path != ROOT:
            raise SourceNotFoundError(path, driver_name=driver.name) from None
        return {}  # an empty store's root, or a destination deleted meanwhile


def make_plan(
    src: StorageDriver,
    src_path: str,
    dst: StorageDriver,
    dst_path: str,
    *,
    force: bool,
    checksum: bool,
    delete: bool,
    modify_window: dt.timedelta,
) -> Plan:
    """List both sides and decide each file's fate."""
    validate_path(src_path, allow_root=True, driver_name=src.name)
    validate_path(dst_path, allow_root=True, driver_name=dst.name)
    if src is dst and _overlaps(src_path, dst_path):
        raise TransferError(
            f"{src.name}: source {src_path} and destination {dst_path} overlap in one store"
        )
    source = _listing(src, src_path, source=True)
    src_is_file = "" in source
    dest_kind = _stat(dst, dst_path)
    if src_is_file:
        if dst_path == ROOT or (dest_kind is not None and dest_kind[0]):
            raise TransferError(
                f"{dst.name}: destination {dst_path} is a directory; a file copies to a file "
                "path (name the file, as rclone's copyto does)"
            )
    elif dest_kind is not None and not dest_kind[0]:
        raise TransferError(
            f"{dst.name}: destination {dst_path} is a file; the source {src.name}:{src_path} "
            "is a directory"
        )
    dest = _listing(dst, dst_path, source=False)

    plan = Plan()
    for rel, entry in source.items():
        # A file source is keyed "" and is never the root: joined, its own path.
        item = Item(_join(src_path, rel), _join(dst_path, rel), entry.size, entry.mod_time)
        there = dest.get(rel)
        if there is None or there.size != entry.size or force:
            plan.copies.append(item)
        elif checksum:
            plan.copies.append(Item(item.src, item.dest, item.size, item.mod_time, compare=True))
        elif there.mod_time >= entry.mod_time - modify_window:
            plan.skips.append((item, "up to date"))
        else:
            plan.copies.append(item)
    if delete and not src_is_file:
        src_dirs = {ROOT}
        for rel in source:
            directory = parent(rel)
            while directory not in src_dirs:
                src_dirs.add(directory)
                directory = parent(directory)
        for rel in dest:
            if rel in source:
                continue
            ancestors = []
            directory = parent(rel)
            while directory != ROOT:
                ancestors.append(directory)
                directory = parent(directory)
            in_the_way = rel in src_dirs or any(a in source for a in ancestors)
            (plan.conflicts if in_the_way else plan.extras).append(_join(dst_path, rel))
    return plan
