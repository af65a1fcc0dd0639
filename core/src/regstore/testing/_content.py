"""Whole-object reads and writes: `put_content` and `get_content`.

distribution's TestValidPaths, TestWriteRead1-4, TestWriteReadNonUTF8,
TestTruncate, TestReadNonexistent and TestPutContentMultipleTimes, plus the
bytes-like inputs and the atomic replacement the contract adds.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from regstore.driver import StorageDriver
from regstore.errors import StorageDriverError
from regstore.testing._base import SuiteBase
from regstore.testing._data import assert_bytes_equal, random_bytes, random_path

__all__ = ["VALID_PATHS", "ContentTests"]

#: distribution's TestValidPaths list.
VALID_PATHS = (
    "/a",
    "/2",
    "/aa",
    "/a.a",
    "/0-9/abcdefg",
    "/abcdefg/z.75",
    "/abc/1.2.3.4.5-6_zyx/123.z/4",
    "/docker/docker-registry",
    "/123.abc",
    "/abc./abc",
    "/.abc",
    "/a--b",
    "/a-.b",
    "/_.abc",
    "/Docker/docker-registry",
    "/Abc/Cba",
)


def _first_part(path: str) -> str:
    return "/" + path.split("/")[1]


class ContentTests(SuiteBase):
    """put_content / get_content."""

    def write_read_compare(self, driver: StorageDriver, path: str, contents: bytes) -> None:
        driver.put_content(path, contents)
        got = driver.get_content(path)
        assert type(got) is bytes, f"get_content returned {type(got).__name__}, not bytes"
        assert_bytes_equal(got, contents)
        self.remove(driver, _first_part(path))

    def test_valid_paths(self, driver: StorageDriver) -> None:
        contents = random_bytes(64, "valid-paths")
        for path in VALID_PATHS:
            driver.put_content(path, contents)
            assert driver.get_content(path) == contents, path
        # Every valid name is part of the store: listed and walked (a driver
        # hiding names that look like its own, such as dotfiles, fails).
        tops = sorted({_first_part(p) for p in VALID_PATHS})
        assert driver.list("/") == tops
        walked = {info.path for info in driver.walk("/") if not info.is_dir}
        assert walked == set(VALID_PATHS)
        # Several of these share a first component (/abc, /Docker vs /docker).
        for top in sorted({_first_part(p) for p in VALID_PATHS}):
            self.remove(driver, top)

    def test_write_read_1_byte(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare(driver, random_path(rng), b"a")

    def test_write_read_unicode(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare(driver, random_path(rng), "\u00df".encode())

    def test_write_read_32_bytes(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare(driver, random_path(rng), random_bytes(32, "wr32"))

    def test_write_read_1_mib(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare(driver, random_path(rng), random_bytes(1 << 20, "wr1m"))

    def test_write_read_non_utf8(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare(driver, random_path(rng), b"\x80\x80\x80\x80")

    def test_write_read_zero_bytes(self, driver: StorageDriver, rng: random.Random) -> None:
        path = random_path(rng)
        driver.put_content(path, b"")
        assert driver.get_content(path) == b""
        assert driver.stat(path).size == 0
        self.remove(driver, _first_part(path))

    def test_truncate(self, driver: StorageDriver, rng: random.Random) -> None:
        path = random_path(rng)
        driver.put_content(path, random_bytes(1 << 20, "truncate-long"))
        short = random_bytes(1024, "truncate-short")
        driver.put_content(path, short)
        assert driver.get_content(path) == short
        assert driver.stat(path).size == len(short)
        self.remove(driver, _first_part(path))

    def test_read_nonexistent(self, driver: StorageDriver, rng: random.Random) -> None:
        path = random_path(rng)
        err = self.assert_not_found(driver, lambda: driver.get_content(path))
        assert err.path == path

    def test_put_content_multiple_times(self, driver: StorageDriver, rng: random.Random) -> None:
        path = random_path(rng)
        driver.put_content(path, random_bytes(4096, "multi-1"))
        second = random_bytes(2048, "multi-2")
        driver.put_content(path, second)
        assert driver.get_content(path) == second
        third = random_bytes(3000, "multi-3")
        driver.put_content(path, third)
        assert driver.get_content(path) == third
        self.remove(driver, _first_part(path))

    @pytest.mark.parametrize("kind", ["bytearray", "memoryview", "memoryview-slice"])
    def test_put_content_accepts_bytes_like(self, driver: StorageDriver, kind: str) -> None:
        raw = random_bytes(1000, "bytes-like")
        data: bytes | bytearray | memoryview
        expected = raw
        if kind == "bytearray":
            data = bytearray(raw)
        elif kind == "memoryview":
            data = memoryview(raw)
        else:
            data = memoryview(b"xx" + raw + b"yy")[2:-2]
        driver.put_content("/bytes-like/object", data)
        if isinstance(data, bytearray):
            data[:10] = b"\0" * 10  # the caller reuses its buffer: the object keeps its bytes
        got = driver.get_content("/bytes-like/object")
        assert type(got) is bytes, f"get_content returned {type(got).__name__}, not bytes"
        assert_bytes_equal(got, expected)
        self.remove(driver, "/bytes-like")

    def require_hierarchy(self, driver: StorageDriver) -> None:
        """Skip on flat key stores (walk_order "key", such as S3): there a
        key and a prefix of the same name coexist, as in the store itself,
        and refusing it would cost a request per ancestor on every put."""
        if driver.capabilities.walk_order == "key":
            pytest.skip("a flat key store lets an object and a directory share a name")

    def test_put_content_below_a_file_raises(self, driver: StorageDriver) -> None:
        """A path is an object or a directory, never both: writing below an
        object raises and changes nothing."""
        self.require_hierarchy(driver)
        driver.put_content("/f", b"file")
        with pytest.raises(StorageDriverError) as info:
            driver.put_content("/f/g", b"below")
        assert driver.name in str(info.value)
        assert driver.get_content("/f") == b"file"
        assert driver.list("/") == ["/f"]
        self.remove(driver, "/f")

    def test_put_content_onto_a_directory_raises(self, driver: StorageDriver) -> None:
        self.require_hierarchy(driver)
        driver.put_content("/d/x", b"inside")
        with pytest.raises(StorageDriverError) as info:
            driver.put_content("/d", b"over the directory")
        assert driver.name in str(info.value)
        assert driver.get_content("/d/x") == b"inside"
        assert driver.stat("/d").is_dir
        assert driver.list("/d") == ["/d/x"]
        self.remove(driver, "/d")

    def test_put_content_is_atomic(self, driver: StorageDriver, full_mode: bool) -> None:
        """Readers racing replacements for a fixed time see the old or the
        new object, never a mix, a truncated one or none at all (a put that
        removes before it renames shows as "not found")."""
        old = random_bytes(256 << 10, "atomic-old")
        new = random_bytes(200 << 10, "atomic-new")
        driver.put_content("/atomic/object", old)
        stop = threading.Event()
        seen: list[bytes] = []
        failures: list[BaseException] = []

        def read_loop() -> None:
            try:
                while not stop.is_set():
                    seen.append(driver.get_content("/atomic/object"))
            except BaseException as err:  # noqa: BLE001  (reported below)
                failures.append(err)

        readers = [threading.Thread(target=read_loop) for _ in range(3)]
        for thread in readers:
            thread.start()
        deadline = time.monotonic() + (5.0 if full_mode else 1.0)
        puts = 0
        try:
            while time.monotonic() < deadline or puts < 6:
                driver.put_content("/atomic/object", new if puts % 2 == 0 else old)
                puts += 1
        finally:
            stop.set()
            for thread in readers:
                thread.join()
        assert not failures, f"reading during put_content failed: {failures[0]!r}"
        bad = [len(s) for s in seen if s not in (old, new)]
        assert not bad, f"readers saw {len(bad)} torn objects (sizes {bad[:5]})"
        self.remove(driver, "/atomic")
