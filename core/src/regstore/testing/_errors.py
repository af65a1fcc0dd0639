"""Errors: invalid paths for every method, error classes, the driver's name.

distribution's TestInvalidPaths tries put/get with six paths; the contract
refuses more (`.` and `..` components, empty components, any character
outside `[A-Za-z0-9._-]`, the root where an operation does not allow it) on
every method, and pins the error classes to builtins so callers that know
nothing of regstore still catch them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from regstore.driver import StorageDriver
from regstore.errors import (
    InvalidOffsetError,
    InvalidPathError,
    PathNotFoundError,
    StorageDriverError,
    UnsupportedMethodError,
    WriterFinishedError,
)
from regstore.testing._base import SuiteBase

__all__ = ["INVALID_PATHS", "ErrorTests"]

#: Invalid wherever a path is taken (`/` is added for the methods that
#: refuse the root).
INVALID_PATHS = (
    "",
    "a",
    "abc",
    "123.abc",
    "//",
    "//bcd",
    "/abc_123/",
    "/a/",
    "/a//b",
    "/.",
    "/..",
    "/a/..",
    "/a/../b",
    "/a/./b",
    "/../etc/passwd",
    "/a b",
    "/caf\u00e9",
    "/\u2603/x",
    "/a\x00",
    "/a\\b",
    "/a:b",
    "/a\n",
    "/a~b",
    "/~",
    "/.regstore~uploads",
    "/a/b~",
    "/a%2Fb",
    "/a*",
)

#: Not strings at all: refused as paths, never turned into one with str().
NOT_STRINGS: tuple[object, ...] = (None, 42, b"/bytes", ["/list"], ("/tuple",))

PathCall = Callable[[StorageDriver, str], object]

#: Every method taking a path, and whether it accepts the root.
METHODS: dict[str, tuple[PathCall, bool]] = {
    "get_content": (lambda d, p: d.get_content(p), False),
    "put_content": (lambda d, p: d.put_content(p, b"data"), False),
    "reader": (lambda d, p: d.reader(p), False),
    "writer": (lambda d, p: d.writer(p), False),
    "writer_append": (lambda d, p: d.writer(p, append=True), False),
    "stat": (lambda d, p: d.stat(p), True),
    "list": (lambda d, p: d.list(p), True),
    "move_source": (lambda d, p: d.move(p, "/move/dest"), False),
    "move_dest": (lambda d, p: d.move("/move/source", p), False),
    "delete": (lambda d, p: d.delete(p), False),
    "redirect_url": (lambda d, p: d.redirect_url(p), False),
    "walk": (lambda d, p: list(d.walk(p)), True),
    "walk_start_after": (lambda d, p: list(d.walk("/", start_after=p)), False),
}


class ErrorTests(SuiteBase):
    """Error classes and messages."""

    @pytest.mark.parametrize("method", sorted(METHODS))
    def test_invalid_paths(self, driver: StorageDriver, method: str) -> None:
        call, allows_root = METHODS[method]
        if method == "move_dest":
            driver.put_content("/move/source", b"kept")
        paths = INVALID_PATHS if allows_root else (*INVALID_PATHS, "/")
        for path in paths:
            with pytest.raises(InvalidPathError) as info:
                call(driver, path)
            err = info.value
            assert isinstance(err, ValueError)
            assert isinstance(err, StorageDriverError)
            assert driver.name in str(err), f"{method}({path!r}): {err}"
            assert err.driver_name == driver.name
        if method == "move_dest":
            assert driver.get_content("/move/source") == b"kept"
            self.remove(driver, "/move")
        assert driver.list("/") == []

    @pytest.mark.parametrize("method", ["stat", "list", "walk"])
    def test_root_allowed(self, driver: StorageDriver, method: str) -> None:
        driver.put_content("/root-check", b"x")
        call, _ = METHODS[method]
        call(driver, "/")  # must not raise InvalidPathError
        self.remove(driver, "/root-check")

    def test_error_classes(self) -> None:
        assert issubclass(PathNotFoundError, FileNotFoundError)
        assert issubclass(PathNotFoundError, StorageDriverError)
        assert issubclass(InvalidPathError, ValueError)
        assert issubclass(InvalidOffsetError, ValueError)
        assert issubclass(UnsupportedMethodError, NotImplementedError)
        assert issubclass(WriterFinishedError, StorageDriverError)

    def test_not_found_errors_name_driver_and_path(self, driver: StorageDriver) -> None:
        calls: dict[str, Callable[[], object]] = {
            "get_content": lambda: driver.get_content("/nothing/here"),
            "reader": lambda: driver.reader("/nothing/here"),
            "reader_offset": lambda: driver.reader("/nothing/here", 10),
            "stat": lambda: driver.stat("/nothing/here"),
            "list": lambda: driver.list("/nothing/here"),
            "delete": lambda: driver.delete("/nothing/here"),
            "move": lambda: driver.move("/nothing/here", "/nothing/there"),
            "writer_append": lambda: driver.writer("/nothing/here", append=True),
            "walk": lambda: list(driver.walk("/nothing/here")),
        }
        for name, call in calls.items():
            with pytest.raises(PathNotFoundError) as info:
                call()
            err = info.value
            assert isinstance(err, FileNotFoundError), name
            assert err.driver_name == driver.name, name
            assert driver.name in str(err), f"{name}: {err}"
            assert err.path == "/nothing/here", f"{name}: path {err.path!r}"
        assert driver.list("/") == []

    @pytest.mark.parametrize("method", sorted(METHODS))
    def test_paths_must_be_strings(self, driver: StorageDriver, method: str) -> None:
        call, _ = METHODS[method]
        if method == "move_dest":
            driver.put_content("/move/source", b"kept")
        for path in NOT_STRINGS:
            if path is None and method == "walk_start_after":
                continue  # start_after=None means "from the start"
            with pytest.raises(InvalidPathError) as info:
                call(driver, path)  # type: ignore[arg-type]
            assert driver.name in str(info.value), f"{method}({path!r}): {info.value}"
        if method == "move_dest":
            assert driver.get_content("/move/source") == b"kept"
            self.remove(driver, "/move")
        assert driver.list("/") == []

    @pytest.mark.parametrize("data", ["text is not bytes", 42, [1, 2, 3], None, {"a": 1}], ids=repr)
    def test_data_must_be_bytes_like(self, driver: StorageDriver, data: object) -> None:
        with pytest.raises(StorageDriverError) as info:
            driver.put_content("/typed", data)  # type: ignore[arg-type]
        assert driver.name in str(info.value)
        self.assert_not_found(driver, lambda: driver.stat("/typed"))
        writer = driver.writer("/typed")
        writer.write(b"ok")
        with pytest.raises(StorageDriverError):
            writer.write(data)  # type: ignore[arg-type]
        assert writer.size == 2, "a refused write changed the upload's size"
        writer.commit()
        assert driver.get_content("/typed") == b"ok"
        self.remove(driver, "/typed")
        assert driver.list("/") == []
