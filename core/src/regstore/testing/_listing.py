"""The namespace: `list`, `stat`, `move` and `delete`.

distribution's TestRootExists, TestList, TestMove, TestMoveOverwrite,
TestMoveNonexistent, TestMoveInvalid, TestDelete, TestDeleteNonexistent,
TestDeleteFolder, TestDeleteOnlyDeletesSubpaths and TestStatCall, plus what
it leaves open: listings sorted as returned (not sorted by the test), only
direct children, and prefix safety for stat as well as delete (`/a` is not a
directory because `/ab` exists: the S3 driver's known bug).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import time

import pytest

from regstore.driver import FileInfo, StorageDriver
from regstore.errors import PathNotFoundError, StorageDriverError
from regstore.testing._base import Sizes, SuiteBase
from regstore.testing._data import random_bytes, random_name, random_path

__all__ = ["ListingTests"]

#: How far a store's clock may be from ours before mod_time looks wrong.
CLOCK_SLACK = dt.timedelta(minutes=10)


def assert_utc(info: FileInfo) -> None:
    """mod_time must be a timezone-aware UTC datetime."""
    assert isinstance(info.mod_time, dt.datetime), f"{info.path}: mod_time {info.mod_time!r}"
    assert info.mod_time.tzinfo is not None, f"{info.path}: mod_time is naive"
    assert info.mod_time.utcoffset() == dt.timedelta(0), f"{info.path}: mod_time is not UTC"


class ListingTests(SuiteBase):
    """list / stat / move / delete."""

    # -- list -------------------------------------------------------------

    def test_root_exists_and_is_empty(self, driver: StorageDriver) -> None:
        assert driver.list("/") == []

    def test_list(self, driver: StorageDriver, rng: random.Random) -> None:
        root = "/" + random_name(rng, 8 + rng.randrange(8))
        missing = root + "/nonexistent"
        err = self.assert_not_found(driver, lambda: driver.list(missing))
        assert err.path == missing

        parent = root + "/" + random_name(rng, 8 + rng.randrange(8))
        children = {parent + "/" + random_name(rng, 8 + rng.randrange(8)) for _ in range(50)}
        for child in children:
            driver.put_content(child, random_bytes(32, child))

        assert driver.list("/") == [root]
        assert driver.list(root) == [parent]
        # Not sorted here: the contract says list() returns sorted paths.
        assert driver.list(parent) == sorted(children)
        self.remove(driver, root)

    def test_list_direct_children_only(self, driver: StorageDriver) -> None:
        for path in ("/l/a", "/l/b/c", "/l/b/d/e", "/l/b/d/f"):
            driver.put_content(path, b"x")
        assert driver.list("/l") == ["/l/a", "/l/b"]
        assert driver.list("/l/b") == ["/l/b/c", "/l/b/d"]
        assert driver.list("/l/b/d") == ["/l/b/d/e", "/l/b/d/f"]
        self.remove(driver, "/l")

    def test_list_sorted(self, driver: StorageDriver) -> None:
        """Names around `/` in byte order, one of them a directory: a raw
        object-store listing (`s/a/` after `s/a.b`) is not sorted."""
        files = ["/s/b", "/s/a-b", "/s/a.b", "/s/a/x", "/s/A", "/s/a_b", "/s/0", "/s/a0"]
        for path in files:
            driver.put_content(path, b"x")
        expected = ["/s/0", "/s/A", "/s/a", "/s/a-b", "/s/a.b", "/s/a0", "/s/a_b", "/s/b"]
        assert driver.list("/s") == expected
        self.remove(driver, "/s")

    # -- move -------------------------------------------------------------

    def test_move(self, driver: StorageDriver, rng: random.Random) -> None:
        contents = random_bytes(32, "move")
        source, dest = random_path(rng), random_path(rng)
        driver.put_content(source, contents)
        driver.move(source, dest)
        assert driver.get_content(dest) == contents
        self.assert_not_found(driver, lambda: driver.get_content(source))
        self.remove(driver, "/" + source.split("/")[1], "/" + dest.split("/")[1])

    def test_move_overwrite(self, driver: StorageDriver, rng: random.Random) -> None:
        source, dest = random_path(rng), random_path(rng)
        source_contents = random_bytes(32, "move-src")
        driver.put_content(source, source_contents)
        driver.put_content(dest, random_bytes(64, "move-dst"))
        driver.move(source, dest)
        assert driver.get_content(dest) == source_contents
        assert driver.stat(dest).size == 32
        self.assert_not_found(driver, lambda: driver.get_content(source))
        self.remove(driver, "/" + source.split("/")[1], "/" + dest.split("/")[1])

    def test_move_nonexistent(self, driver: StorageDriver, rng: random.Random) -> None:
        contents = random_bytes(32, "move-none")
        source, dest = random_path(rng), random_path(rng)
        driver.put_content(dest, contents)
        err = self.assert_not_found(driver, lambda: driver.move(source, dest))
        assert err.path == source
        assert driver.get_content(dest) == contents
        self.remove(driver, "/" + dest.split("/")[1])

    def test_move_missing_onto_itself(self, driver: StorageDriver) -> None:
        """A missing source is missing even when it is also the destination."""
        err = self.assert_not_found(driver, lambda: driver.move("/ghost/a", "/ghost/a"))
        assert err.path == "/ghost/a"
        assert driver.list("/") == []

    def test_move_onto_itself_keeps_content(self, driver: StorageDriver) -> None:
        driver.put_content("/self/object", b"stays")
        driver.move("/self/object", "/self/object")
        assert driver.get_content("/self/object") == b"stays"
        self.remove(driver, "/self")

    def test_move_directory_raises_and_keeps_tree(self, driver: StorageDriver) -> None:
        """Objects move, directories do not (an object store has none to
        move): the call raises and the whole tree stays as it was."""
        driver.put_content("/tree/dir/a", b"a")
        driver.put_content("/tree/dir/sub/b", b"b")
        with pytest.raises(StorageDriverError) as info:
            driver.move("/tree/dir", "/tree/elsewhere")
        assert driver.name in str(info.value)
        # One wording in every driver (core's wrapper says it).
        assert "/tree/dir is a directory; only files can be moved" in str(info.value)
        assert driver.get_content("/tree/dir/a") == b"a"
        assert driver.get_content("/tree/dir/sub/b") == b"b"
        assert driver.list("/tree") == ["/tree/dir"]
        self.remove(driver, "/tree")

    def test_move_removes_emptied_source_parents(self, driver: StorageDriver) -> None:
        """After a move, the source's emptied directories are gone, as after
        a delete; a parent that still holds something stays."""
        driver.put_content("/from/deep/er/object", b"moving")
        driver.put_content("/from/kept", b"stays")
        driver.move("/from/deep/er/object", "/to/object")
        assert driver.get_content("/to/object") == b"moving"
        self.assert_not_found(driver, lambda: driver.stat("/from/deep/er"))
        self.assert_not_found(driver, lambda: driver.stat("/from/deep"))
        assert driver.list("/from") == ["/from/kept"]
        assert driver.list("/") == ["/from", "/to"]
        assert [info.path for info in driver.walk("/from")] == ["/from/kept"]
        self.remove(driver, "/from", "/to")

    def test_move_invalid(self, driver: StorageDriver) -> None:
        driver.put_content("/notadir", b"regular file")
        with pytest.raises(StorageDriverError) as info:
            driver.move("/notadir/foo", "/notadir/bar")
        assert driver.name in str(info.value)
        assert driver.get_content("/notadir") == b"regular file"
        self.remove(driver, "/notadir")

    # -- delete -----------------------------------------------------------

    def test_delete(self, driver: StorageDriver, rng: random.Random) -> None:
        path = random_path(rng)
        driver.put_content(path, random_bytes(32, "delete"))
        driver.delete(path)
        self.assert_not_found(driver, lambda: driver.get_content(path))
        self.remove(driver, "/" + path.split("/")[1])

    def test_delete_nonexistent(self, driver: StorageDriver, rng: random.Random) -> None:
        path = random_path(rng)
        err = self.assert_not_found(driver, lambda: driver.delete(path))
        assert err.path == path

    def test_delete_folder(self, driver: StorageDriver, rng: random.Random) -> None:
        directory = random_path(rng)
        files = [directory + random_path(rng, depth=1) for _ in range(3)]
        for path in files:
            driver.put_content(path, b"contents")
        driver.delete(files[0])
        self.assert_not_found(driver, lambda: driver.get_content(files[0]))
        assert driver.get_content(files[1]) == b"contents"
        assert driver.get_content(files[2]) == b"contents"
        driver.delete(directory)
        for path in files:
            self.assert_not_found(driver, lambda p=path: driver.get_content(p))  # type: ignore[misc]
        self.assert_not_found(driver, lambda: driver.stat(directory))
        self.remove(driver, "/" + directory.split("/")[1])

    def test_delete_only_deletes_subpaths(self, driver: StorageDriver, rng: random.Random) -> None:
        directory = "/" + random_name(rng, 10)
        name = random_name(rng, 10)
        dname = directory[1:]
        paths = {
            "file": f"{directory}/{name}",
            "file_suffix": f"{directory}/{name}suffix",
            "nested": f"{directory}/{dname}/{name}",
            "nested_suffix": f"{directory}/{dname}suffix/{name}",
        }
        for path in paths.values():
            driver.put_content(path, b"contents")
        driver.delete(paths["file"])
        self.assert_not_found(driver, lambda: driver.get_content(paths["file"]))
        assert driver.get_content(paths["file_suffix"]) == b"contents"
        driver.delete(f"{directory}/{dname}")
        self.assert_not_found(driver, lambda: driver.get_content(paths["nested"]))
        assert driver.get_content(paths["nested_suffix"]) == b"contents"
        self.remove(driver, directory)

    def test_delete_removes_empty_parents(self, driver: StorageDriver) -> None:
        """Deleting the last file of a directory leaves no empty directory
        behind in listings (object stores have none to leave)."""
        driver.put_content("/gone/deep/file", b"x")
        driver.put_content("/kept", b"y")
        driver.delete("/gone/deep/file")
        assert driver.list("/") == ["/kept"]
        self.assert_not_found(driver, lambda: driver.stat("/gone/deep"))
        self.remove(driver, "/kept")

    # -- stat -------------------------------------------------------------

    def test_stat(self, driver: StorageDriver, rng: random.Random, sizes: Sizes) -> None:
        directory = random_path(rng)
        path = directory + "/" + random_name(rng, 12)
        self.assert_not_found(driver, lambda: driver.stat(directory))
        self.assert_not_found(driver, lambda: driver.stat(path))

        driver.put_content(path, random_bytes(4096, "stat-1"))
        info = driver.stat(path)
        assert (info.path, info.size, info.is_dir) == (path, 4096, False)
        assert_utc(info)
        now = dt.datetime.now(dt.UTC)
        assert abs(now - info.mod_time) < CLOCK_SLACK, f"mod_time {info.mod_time} is not now"
        created = info.mod_time

        time.sleep(sizes.mod_time_sleep)
        # Reading does not touch the object: its mod_time stays.
        driver.get_content(path)
        with driver.reader(path, 10) as reader:
            reader.read()
        assert driver.stat(path).mod_time == created, "reading changed the object's mod_time"
        driver.put_content(path, random_bytes(2048, "stat-2"))
        info = driver.stat(path)
        assert info.size == 2048
        assert info.mod_time > created, f"mod_time {info.mod_time} not after {created}"

        dir_info = driver.stat(directory)
        assert (dir_info.path, dir_info.size, dir_info.is_dir) == (directory, 0, True)
        assert_utc(dir_info)

        root: FileInfo | BaseException
        try:
            root = driver.stat("/")
        except FileNotFoundError as err:
            root = err
        if isinstance(root, FileInfo):
            assert root.is_dir
            assert root.size == 0
        else:
            assert isinstance(root, PathNotFoundError), f"stat('/') raised {root!r}"
        self.remove(driver, "/" + directory.split("/")[1])

    def test_directory_has_no_content(self, driver: StorageDriver) -> None:
        """get_content and reader of a directory: PathNotFoundError."""
        driver.put_content("/holder/inside/object", b"x")
        for directory in ("/holder", "/holder/inside"):
            for call in (
                functools.partial(driver.get_content, directory),
                functools.partial(driver.reader, directory),
                functools.partial(driver.reader, directory, 5),
            ):
                err = self.assert_not_found(driver, call)
                # Not only "not found": what is wrong, the same in every driver.
                assert f"{directory} is a directory, not a file" in str(err)
        self.remove(driver, "/holder")

    def test_list_of_a_file_says_it_is_a_file(self, driver: StorageDriver) -> None:
        """list of an object: PathNotFoundError (distribution's), whose
        message says the path is a file."""
        driver.put_content("/lone/object", b"x")
        err = self.assert_not_found(driver, lambda: driver.list("/lone/object"))
        assert "list /lone/object: /lone/object is a file, not a directory" in str(err)
        self.remove(driver, "/lone")

    def test_delete_last_object_stays_inside_root(
        self, driver: StorageDriver, suite_params: dict[str, object]
    ) -> None:
        """A store nested in another store's root: deleting its last object
        (and so its emptied directories) never touches the outer store, not
        even a sibling that shares the inner root's prefix."""
        if self.root_parameter is None or not isinstance(
            suite_params.get(self.root_parameter), str
        ):
            pytest.skip("the driver has no root parameter to nest a store in")
        root = str(suite_params[self.root_parameter]).rstrip("/")
        inner = self._create({**suite_params, self.root_parameter: root + "/inner"})
        driver.put_content("/innerx/keep", b"sibling")
        driver.put_content("/keep", b"outer")
        inner.put_content("/a/b/object", b"inner")
        inner.delete("/a/b/object")
        assert inner.list("/") == []
        assert driver.get_content("/innerx/keep") == b"sibling"
        assert driver.get_content("/keep") == b"outer"
        assert [p for p in driver.list("/") if p != "/inner"] == ["/innerx", "/keep"]
        self.remove(driver, "/inner", "/innerx", "/keep")

    def test_stat_prefix_is_not_a_directory(self, driver: StorageDriver) -> None:
        """`/p/a` does not exist just because `/p/ab` and `/p/a-b/c` do."""
        driver.put_content("/p/ab", b"ab")
        driver.put_content("/p/a-b/c", b"c")
        self.assert_not_found(driver, lambda: driver.stat("/p/a"))
        self.assert_not_found(driver, lambda: driver.list("/p/a"))
        self.assert_not_found(driver, lambda: driver.delete("/p/a"))
        self.assert_not_found(driver, lambda: list(driver.walk("/p/a")))
        assert driver.get_content("/p/ab") == b"ab"
        assert driver.get_content("/p/a-b/c") == b"c"
        assert driver.list("/p") == ["/p/a-b", "/p/ab"]
        self.remove(driver, "/p")

    def test_stat_below_a_file(self, driver: StorageDriver) -> None:
        driver.put_content("/f", b"file")
        self.assert_not_found(driver, lambda: driver.stat("/f/g"))
        self.assert_not_found(driver, lambda: driver.get_content("/f/g"))
        self.remove(driver, "/f")
