"""Walk building blocks, so no driver rewrites prune and start_after.

Two shapes of backend, two helpers:

- `walk_tree` for stores with real directories (or only `list` + `stat`):
  a depth-first walk over sorted children. Its order is distribution's
  (`Walk` over sorted `List` results): the byte order of paths in which `/`
  sorts before every other character (`regstore.paths.walk_sort_key`), so a
  directory's contents follow it directly (`/a/b`, `/a/b/c`, `/a/b-c`).
- `walk_listing` for stores with a flat, ordered listing of object keys
  (S3, GCS, Azure): directories are synthesized from the keys, each right
  before its first content, in one pass and one listing per page instead of
  one `list` per directory plus one `stat` per entry.

Both agree with `start_after`: a walk resumed after the last path it yielded
yields exactly the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from regstore.driver import FileInfo
from regstore.errors import PathNotFoundError
from regstore.paths import ROOT, walk_sort_key

if TYPE_CHECKING:
    from regstore.driver import StorageDriver
    from regstore.keys import KeyLayout

__all__ = ["Prune", "walk_listing", "walk_tree", "walk_tree_children"]

Prune = Callable[[FileInfo], bool]


def walk_tree(
    driver: StorageDriver,
    path: str,
    *,
    start_after: str | None = None,
    prune: Prune | None = None,
) -> Iterator[FileInfo]:
    """Walk `driver` with its own `list` and `stat` (one `stat` per entry).

    Entries that vanish between `list` and `stat` (a concurrent delete) are
    skipped rather than failing the walk.
    """

    def children(directory: str) -> Iterator[FileInfo]:
        for child in driver.list(directory):
            try:
                yield driver.stat(child)
            except PathNotFoundError:
                continue

    return walk_tree_children(children, path, start_after=start_after, prune=prune)


def walk_tree_children(
    children: Callable[[str], Iterable[FileInfo]],
    path: str,
    *,
    start_after: str | None = None,
    prune: Prune | None = None,
) -> Iterator[FileInfo]:
    """Walk a tree given `children(directory)`, which returns the entries of
    a directory sorted by path and raises `PathNotFoundError` for an absent
    one. `prune(info)` returning True skips a directory's contents (the
    directory itself is still yielded). An absent `path` raises
    `PathNotFoundError` on the first iteration; a subdirectory that vanishes
    mid-walk is skipped."""
    skip_key = walk_sort_key(start_after) if start_after else None
    resume_prefix = start_after or ""

    def descend(directory: str, *, top: bool) -> Iterator[FileInfo]:
        try:
            entries = iter(children(directory))
            first = next(entries, None)
        except PathNotFoundError:
            if top:
                raise
            return
        if first is None:
            return
        for info in _chain_one(first, entries):
            already_seen = skip_key is not None and walk_sort_key(info.path) <= skip_key
            inside = resume_prefix == info.path or resume_prefix.startswith(info.path + "/")
            if already_seen and not inside:
                continue  # it, and everything below it, sorts at or before start_after
            if not already_seen:
                yield info
            if info.is_dir and not (prune is not None and prune(info)):
                yield from descend(info.path, top=False)

    return descend(path, top=True)


def _chain_one(first: FileInfo, rest: Iterator[FileInfo]) -> Iterator[FileInfo]:
    yield first
    yield from rest


def walk_listing(
    base: str,
    files: Iterable[FileInfo],
    *,
    is_after: Callable[[FileInfo], bool] | None = None,
    prune: Prune | None = None,
) -> Iterator[FileInfo]:
    """Turn an ordered flat listing of the files below `base` into a walk.

    `files` must keep every directory's contents together (true of key
    order and of tree order). Each directory is yielded once, right before
    its first content, with that content's `mod_time` (flat listings carry
    none for directories). `is_after(info)` says whether an entry lies after
    the walk's `start_after` (None: everything does); entries at or before it
    are not yielded again. Pruning cuts on component boundaries: pruning
    `/a` skips `/a/x` but not `/ab`.
    """
    prefix = "" if base == ROOT else base
    inside: list[str] = []  # the directories the current file lies in, outermost first
    pruned: str | None = None
    for info in files:
        if pruned is not None and info.path.startswith(pruned + "/"):
            continue
        pruned = None
        parts = info.path[len(prefix) + 1 :].split("/")[:-1]
        ancestors = [prefix + "/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
        depth = 0
        while depth < len(inside) and depth < len(ancestors) and inside[depth] == ancestors[depth]:
            depth += 1
        del inside[depth:]
        for directory in ancestors[depth:]:
            inside.append(directory)
            entry = FileInfo(directory, 0, info.mod_time, True)
            if is_after is None or is_after(entry):
                yield entry
            # A directory at or before start_after was yielded by the walk
            # being resumed, not again; its pruning still holds (else a
            # resumed walk would yield the contents the first one skipped).
            if prune is not None and prune(entry):
                pruned = directory
                break
        if pruned is not None:
            continue
        if is_after is None or is_after(info):
            yield info


def walk_keys(
    path: str,
    layout: KeyLayout,
    files: Callable[[str, str | None], Iterator[FileInfo]],
    *,
    has_files: Callable[[str], bool] | None = None,
    start_after: str | None = None,
    prune: Prune | None = None,
) -> Iterator[FileInfo]:
    """`walk` for a flat key store (s3, gcs): one listing of the keys below
    `path`, in key order, turned into a walk by `walk_listing`.

    `files(prefix, start_after_key)` lists the files whose keys start with
    `prefix`, after `start_after_key` when given (None: from the start),
    lazily, page by page. In key order a directory sits where its contents
    start (key + "/"), so resuming after one needs to know it was one: one
    probe, `has_files(prefix)` (give one that asks for a single key; the
    default takes the first of `files`). An absent `path` (no key below it)
    raises `PathNotFoundError`; the root of an empty store walks to nothing.
    """
    if has_files is None:

        def has_files(prefix: str) -> bool:
            return next(files(prefix, None), None) is not None

    prefix = layout.dir_prefix(path)
    position: str | None = None
    if start_after is not None:
        position = layout.key(start_after)
        if has_files(position + "/"):
            position += "/"
    listed = files(prefix, position)
    first = next(listed, None)
    if first is None:
        if path != ROOT and (position is None or not has_files(prefix)):
            raise PathNotFoundError(path)
        return
    is_after = None
    if position is not None:
        after = position

        def is_after(info: FileInfo) -> bool:
            own = layout.key(info.path) + ("/" if info.is_dir else "")
            return own > after

    yield from walk_listing(path, _chain_one(first, listed), is_after=is_after, prune=prune)
