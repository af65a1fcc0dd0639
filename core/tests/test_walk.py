"""The walk helpers: order, pruning on component boundaries, and resuming
with start_after from every entry, in tree order and key order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from regstore import FileInfo, PathNotFoundError
from regstore.paths import ROOT, parent, walk_sort_key
from regstore.walk import walk_listing, walk_tree_children

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

FILES = [
    "/a/x",
    "/a/b/c",
    "/a/b/d/e",
    "/a/b-c",
    "/a-c",
    "/a.d/e",
    "/ab",
    "/ab-/q",
    "/z",
]


def _entries(files: list[str], base: str = ROOT) -> list[FileInfo]:
    """Every file and directory strictly below `base`."""
    found: dict[str, FileInfo] = {}
    for path in files:
        if base != ROOT and not path.startswith(base + "/"):
            continue
        found[path] = FileInfo(path, len(path), T0, False)
        directory = parent(path)
        while directory not in (base, ROOT):
            found[directory] = FileInfo(directory, 0, T0, True)
            directory = parent(directory)
    return list(found.values())


def tree_key(info: FileInfo) -> str:
    return walk_sort_key(info.path)


def key_order_key(info: FileInfo) -> str:
    # In key order a directory sits where its contents start: path + "/".
    return info.path + "/" if info.is_dir else info.path


def expected(order: str, base: str = ROOT) -> list[FileInfo]:
    key = tree_key if order == "tree" else key_order_key
    return sorted(_entries(FILES, base), key=key)


def children_of(files: list[str]) -> Callable[[str], list[FileInfo]]:
    entries = _entries(files)
    dirs = {e.path for e in entries if e.is_dir} | {ROOT}

    def children(directory: str) -> list[FileInfo]:
        if directory not in dirs:
            raise PathNotFoundError(directory)
        return sorted((e for e in entries if parent(e.path) == directory), key=lambda e: e.path)

    return children


def tree_walk(
    base: str = ROOT,
    start_after: str | None = None,
    prune: Callable[[FileInfo], bool] | None = None,
) -> Iterator[FileInfo]:
    return walk_tree_children(children_of(FILES), base, start_after=start_after, prune=prune)


def listing_walk(
    order: str,
    base: str = ROOT,
    start_after: FileInfo | None = None,
    prune: Callable[[FileInfo], bool] | None = None,
) -> Iterator[FileInfo]:
    """walk_listing as a flat-listing driver would call it."""
    key = tree_key if order == "tree" else key_order_key
    files = sorted((e for e in _entries(FILES, base) if not e.is_dir), key=key)
    is_after = None
    if start_after is not None:
        mark = key(start_after)
        is_after = lambda info: key(info) > mark  # noqa: E731
    return walk_listing(base, files, is_after=is_after, prune=prune)


def paths(infos: Iterator[FileInfo] | list[FileInfo]) -> list[str]:
    return [i.path for i in infos]


def test_tree_order_is_distributions() -> None:
    assert paths(tree_walk()) == [
        "/a",
        "/a/b",
        "/a/b/c",
        "/a/b/d",
        "/a/b/d/e",
        "/a/b-c",
        "/a/x",
        "/a-c",
        "/a.d",
        "/a.d/e",
        "/ab",
        "/ab-",
        "/ab-/q",
        "/z",
    ]
    assert paths(tree_walk()) == paths(expected("tree"))


@pytest.mark.parametrize("order", ["tree", "key"])
def test_listing_order(order: str) -> None:
    walked = list(listing_walk(order))
    assert paths(walked) == paths(expected(order))
    assert len(set(paths(walked))) == len(walked)
    dirs = {i.path for i in walked if i.is_dir}
    assert dirs == {"/a", "/a/b", "/a/b/d", "/a.d", "/ab-"}
    assert all(i.size == 0 for i in walked if i.is_dir)


def test_key_order_differs_from_tree_order() -> None:
    key_paths = paths(listing_walk("key"))
    # '-' and '.' sort before '/' in byte order: /a-c and /a.d come before /a.
    assert key_paths.index("/a-c") < key_paths.index("/a") < key_paths.index("/a/b")
    assert key_paths.index("/a/b-c") < key_paths.index("/a/b")


def test_directory_before_its_contents() -> None:
    for walked in (paths(tree_walk()), paths(listing_walk("tree")), paths(listing_walk("key"))):
        for i, path in enumerate(walked):
            directory = parent(path)
            if directory != ROOT:
                assert directory in walked[:i]


def test_subtree() -> None:
    assert paths(tree_walk("/a/b")) == ["/a/b/c", "/a/b/d", "/a/b/d/e"]
    assert paths(listing_walk("key", "/a/b")) == paths(expected("key", "/a/b"))


def test_absent_base_raises() -> None:
    with pytest.raises(PathNotFoundError):
        list(tree_walk("/nope"))


@pytest.mark.parametrize("order", ["tree", "key"])
def test_prune_on_component_boundary(order: str) -> None:
    def prune(info: FileInfo) -> bool:
        return info.path == "/a"

    walked_tree = paths(tree_walk(prune=prune))
    walked_listing = paths(listing_walk(order, prune=prune))
    for walked in (walked_tree, walked_listing):
        assert "/a" in walked  # the pruned directory itself is yielded
        assert not [p for p in walked if p.startswith("/a/")]
        for kept in ("/a-c", "/a.d", "/a.d/e", "/ab", "/ab-", "/ab-/q", "/z"):
            assert kept in walked


def test_prune_nested() -> None:
    walked = paths(tree_walk(prune=lambda i: i.path == "/a/b"))
    assert "/a/b" in walked
    assert "/a/b/c" not in walked
    assert "/a/b-c" in walked
    assert "/a/x" in walked
    assert paths(listing_walk("tree", prune=lambda i: i.path == "/a/b")) == walked


@pytest.mark.parametrize("base", [ROOT, "/a"])
def test_tree_resume_from_every_entry(base: str) -> None:
    full = list(tree_walk(base))
    assert full
    for i, info in enumerate(full):
        assert paths(tree_walk(base, start_after=info.path)) == paths(full[i + 1 :]), info.path


@pytest.mark.parametrize("order", ["tree", "key"])
@pytest.mark.parametrize("base", [ROOT, "/a"])
def test_listing_resume_from_every_entry(order: str, base: str) -> None:
    full = list(listing_walk(order, base))
    for i, info in enumerate(full):
        rest = paths(listing_walk(order, base, start_after=info))
        assert rest == paths(full[i + 1 :]), info.path


def test_tree_resume_from_absent_path() -> None:
    # A start_after that no longer exists resumes where it would sort.
    full = paths(tree_walk())
    assert paths(tree_walk(start_after="/a/b/cc")) == full[full.index("/a/b/d") :]


def test_tree_resume_with_prune() -> None:
    prune = lambda info: info.path == "/a/b"  # noqa: E731
    full = list(tree_walk(prune=prune))
    for i, info in enumerate(full):
        assert paths(tree_walk(start_after=info.path, prune=prune)) == paths(full[i + 1 :])
