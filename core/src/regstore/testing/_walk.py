"""`walk`: completeness, order, prune and resumption.

distribution has no Walk test in its suite; the contract pins the order to
the driver's declared `capabilities.walk_order`:

- "tree": distribution's depth-first order over sorted children, which is
  the plain order of paths once `/` sorts before every other character.
- "key": the byte order of the file paths (a flat listing's order), each
  directory placed right before its first content.

The expected orders are computed here independently of core's walk helpers,
so a bug there shows up too.
"""

from __future__ import annotations

from regstore.driver import FileInfo, StorageDriver
from regstore.paths import parent
from regstore.testing._base import SuiteBase

__all__ = ["TREE_FILES", "WalkTests", "expected_walk"]

#: Names chosen so the two orders differ and prefixes collide (`/t/a`,
#: `/t/a-b`, `/t/a.b`, `/t/a0`, `/t/ab`).
TREE_FILES = (
    "/t/a/b/c",
    "/t/a/b-c",
    "/t/a/b.d/e",
    "/t/a/b/c0",
    "/t/a-b/x",
    "/t/a.b",
    "/t/a0/q",
    "/t/ab/x/y",
    "/t/ab/z",
    "/t/b",
    "/u",
)


def _dirs_of(path: str, base: str) -> list[str]:
    """The directories strictly between `base` and `path`, outermost first."""
    found: list[str] = []
    current = parent(path)
    while current not in (base, "/") and current.startswith(base.rstrip("/") + "/"):
        found.append(current)
        current = parent(current)
    return found[::-1]


def expected_walk(files: list[str] | tuple[str, ...], base: str, order: str) -> list[str]:
    """The paths a walk of `base` yields over `files`, in `order`."""
    below = [f for f in files if base == "/" or f.startswith(base + "/")]
    if order == "tree":
        entries = set(below)
        for f in below:
            entries.update(_dirs_of(f, base))
        return sorted(entries, key=lambda p: p.replace("/", "\x00"))
    result: list[str] = []
    seen: set[str] = set()
    for f in sorted(below):  # str order is code-point order: byte order for these names
        for directory in _dirs_of(f, base):
            if directory not in seen:
                seen.add(directory)
                result.append(directory)
        result.append(f)
    return result


class WalkTests(SuiteBase):
    """walk."""

    def populate(self, driver: StorageDriver) -> dict[str, bytes]:
        contents = {path: path.encode() * (1 + i) for i, path in enumerate(TREE_FILES)}
        for path, data in contents.items():
            driver.put_content(path, data)
        return contents

    def clean(self, driver: StorageDriver) -> None:
        self.remove(driver, "/t", "/u")

    def test_walk_every_entry_once_in_declared_order(self, driver: StorageDriver) -> None:
        contents = self.populate(driver)
        order = driver.capabilities.walk_order
        for base in ("/", "/t", "/t/a"):
            infos = list(driver.walk(base))
            paths = [info.path for info in infos]
            assert len(paths) == len(set(paths)), f"walk({base!r}) repeats entries: {paths}"
            expected = expected_walk(TREE_FILES, base, order)
            assert sorted(paths) == sorted(expected), f"walk({base!r}) entries differ"
            assert paths == expected, f"walk({base!r}) is not in {order!r} order"
            for info in infos:
                assert info.is_dir == (info.path not in contents), info
                if info.is_dir:
                    assert info.size == 0, info
                else:
                    assert info.size == len(contents[info.path]), info
                assert info.mod_time.tzinfo is not None, info
        self.clean(driver)

    def test_walk_directory_before_contents(self, driver: StorageDriver) -> None:
        self.populate(driver)
        yielded: set[str] = set()
        for info in driver.walk("/"):
            up = parent(info.path)
            assert up == "/" or up in yielded, f"{info.path} came before its directory {up}"
            yielded.add(info.path)
        self.clean(driver)

    def test_walk_prune(self, driver: StorageDriver) -> None:
        """Pruning `/t/a` skips its contents only: `/t/a-b`, `/t/a.b`,
        `/t/a0` and `/t/ab` share its prefix but are its siblings."""
        self.populate(driver)
        order = driver.capabilities.walk_order
        pruned_seen: list[str] = []

        asked_for_files: list[str] = []

        def prune(info: FileInfo) -> bool:
            pruned_seen.append(info.path)
            if not info.is_dir:
                asked_for_files.append(info.path)
            return info.path in ("/t/a", "/t/ab/x")

        paths = [info.path for info in driver.walk("/", prune=prune)]
        kept = [f for f in TREE_FILES if not f.startswith(("/t/a/", "/t/ab/x/"))]
        expected = expected_walk([*kept, "/t/a/placeholder", "/t/ab/x/placeholder"], "/", order)
        expected = [p for p in expected if not p.endswith("/placeholder")]
        assert paths == expected
        assert "/t/a" in pruned_seen
        assert "/t/ab/x" in pruned_seen
        assert not asked_for_files, f"prune was called for files: {asked_for_files[:3]}"
        assert not set(TREE_FILES) & set(pruned_seen), "prune was called for files"
        self.clean(driver)

    def test_walk_resume_from_every_prefix(self, driver: StorageDriver) -> None:
        self.populate(driver)
        full = [info.path for info in driver.walk("/")]
        assert full, "walk('/') yielded nothing over a populated store"
        for k in range(1, len(full) + 1):
            rest = [info.path for info in driver.walk("/", start_after=full[k - 1])]
            assert rest == full[k:], f"walk resumed after {full[k - 1]!r} is wrong"
        sub = [info.path for info in driver.walk("/t/a")]
        for k in range(1, len(sub) + 1):
            rest = [info.path for info in driver.walk("/t/a", start_after=sub[k - 1])]
            assert rest == sub[k:], f"walk('/t/a') resumed after {sub[k - 1]!r} is wrong"

        # With pruning: a resumed walk keeps skipping what the first skipped,
        # also for a pruned directory that sorts at or before start_after.
        def prune(info: FileInfo) -> bool:
            return info.path in ("/t/a", "/t/ab/x")

        pruned = [info.path for info in driver.walk("/", prune=prune)]
        for k in range(1, len(pruned) + 1):
            after = pruned[k - 1]
            rest = [info.path for info in driver.walk("/", start_after=after, prune=prune)]
            assert rest == pruned[k:], f"a pruned walk resumed after {after!r} is wrong"
        self.clean(driver)

    def test_walk_absent_path(self, driver: StorageDriver) -> None:
        self.assert_not_found(driver, lambda: list(driver.walk("/absent")))
        driver.put_content("/present/file", b"x")
        self.assert_not_found(driver, lambda: list(driver.walk("/present/absent")))
        self.assert_not_found(driver, lambda: list(driver.walk("/presen")))
        self.remove(driver, "/present")

    def test_walk_empty_root(self, driver: StorageDriver) -> None:
        try:
            entries = list(driver.walk("/"))
        except FileNotFoundError:
            entries = []  # an empty store may have no root at all, as for stat("/")
        assert entries == []
