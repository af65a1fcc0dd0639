"""Seekable readers: `seek`, `tell` and reads after seeks.

A reader supports `seekable()` (True), `seek(offset, whence)` for SEEK_SET,
SEEK_CUR and SEEK_END, and `tell()`, so HTTP Range serving and random-access
formats (`tarfile`, `zipfile`) work on it. A seek past the end is allowed and
reads nothing, as on a file; a negative position is a ValueError. A seek is
not a way around the one-version rule: after the object is replaced, a
seek-and-read gives the bytes of the version the reader started with, or an
error.
"""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from regstore.driver import StorageDriver
from regstore.errors import StorageDriverError
from regstore.testing._base import SuiteBase
from regstore.testing._data import assert_bytes_equal, random_bytes

__all__ = ["SeekTests"]

PATH = "/seek/object"
SIZE = 3 * (1 << 20) + 12345


class SeekTests(SuiteBase):
    """seek, tell and reads after seeks."""

    def test_reader_is_seekable_and_tells_its_position(self, driver: StorageDriver) -> None:
        data = random_bytes(1000, "seek-tell")
        driver.put_content(PATH, data)
        with driver.reader(PATH) as reader:
            assert reader.seekable()
            assert reader.tell() == 0
            assert reader.read(10) == data[:10]
            assert reader.tell() == 10
        with driver.reader(PATH, 300) as reader:
            assert reader.tell() == 300
            assert reader.read(5) == data[300:305]
        self.remove(driver, "/seek")

    def test_seek_set_cur_end_then_read(self, driver: StorageDriver) -> None:
        data = random_bytes(SIZE, "seek-whence")
        driver.put_content(PATH, data)
        with driver.reader(PATH) as reader:
            assert reader.seek(SIZE // 2) == SIZE // 2
            assert_bytes_equal(reader.read(4096), data[SIZE // 2 : SIZE // 2 + 4096])
            assert reader.seek(-100, io.SEEK_END) == SIZE - 100
            assert_bytes_equal(reader.read(), data[-100:])
            assert reader.tell() == SIZE
            assert reader.seek(-5000, io.SEEK_CUR) == SIZE - 5000
            assert_bytes_equal(reader.read(1000), data[SIZE - 5000 : SIZE - 4000])
            assert reader.seek(7) == 7
            assert_bytes_equal(reader.read(3), data[7:10])
            assert reader.seek(0, io.SEEK_CUR) == 10  # a no-op seek
            assert_bytes_equal(reader.read(2), data[10:12])
            assert reader.seek(0) == 0
            assert_bytes_equal(reader.read(), data)
        self.remove(driver, "/seek")

    def test_seek_past_the_end_reads_nothing_and_comes_back(self, driver: StorageDriver) -> None:
        data = random_bytes(2000, "seek-past")
        driver.put_content(PATH, data)
        with driver.reader(PATH) as reader:
            assert reader.seek(2005) == 2005
            assert reader.read(10) == b""
            assert reader.tell() == 2005
            assert reader.seek(2**64) == 2**64
            assert reader.read() == b""
            assert reader.seek(1990) == 1990
            assert reader.read() == data[1990:]
        with driver.reader(PATH, 5000) as reader:
            assert reader.read() == b""
            assert reader.seek(-3, io.SEEK_END) == 1997
            assert reader.read() == data[-3:]
        self.remove(driver, "/seek")

    def test_seek_refuses_negative_positions_and_bad_whence(self, driver: StorageDriver) -> None:
        driver.put_content(PATH, b"0123456789")
        with driver.reader(PATH) as reader:
            with pytest.raises(ValueError, match="negative"):
                reader.seek(-1)
            with pytest.raises(ValueError, match="negative"):
                reader.seek(-11, io.SEEK_END)
            with pytest.raises(ValueError, match="whence"):
                reader.seek(0, 7)
            assert reader.tell() == 0  # a refused seek moves nothing
            assert reader.read() == b"0123456789"
        self.remove(driver, "/seek")

    def test_tarfile_and_zipfile_read_members_at_random(self, driver: StorageDriver) -> None:
        members = {f"m{i}": random_bytes(150_000 + i, f"tar-{i}") for i in range(4)}
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w") as archive:
            for name, payload in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
        driver.put_content("/seek/a.tar", packed.getvalue())
        with driver.reader("/seek/a.tar") as reader, tarfile.open(fileobj=reader, mode="r:") as tar:
            for name in ("m3", "m0", "m2"):  # out of order: seeks back and forth
                member = tar.extractfile(name)
                assert member is not None
                assert_bytes_equal(member.read(), members[name], name)
        zipped = io.BytesIO()
        with zipfile.ZipFile(zipped, "w") as archive:
            for name, payload in members.items():
                archive.writestr(name, payload)
        driver.put_content("/seek/a.zip", zipped.getvalue())
        with driver.reader("/seek/a.zip") as reader, zipfile.ZipFile(reader) as zipped_file:
            assert sorted(zipped_file.namelist()) == sorted(members)
            for name in ("m1", "m3"):
                assert_bytes_equal(zipped_file.read(name), members[name], name)
        self.remove(driver, "/seek")

    def test_seek_after_replacement_keeps_one_version(self, driver: StorageDriver) -> None:
        old = random_bytes(100_000, "seek-old")
        new = random_bytes(100_000, "seek-new")
        driver.put_content(PATH, old)
        with driver.reader(PATH) as reader:
            assert reader.read(100) == old[:100]
            driver.put_content(PATH, new)
            try:
                reader.seek(50_000)
                rest = reader.read()
            except StorageDriverError:
                pass  # refusing is allowed; mixing is not
            else:
                assert rest in (old[50_000:], new[50_000:])
                assert rest == old[50_000:], (
                    "after a seek the reader returned the new version's bytes: its first "
                    "read came from the old one"
                )
        self.remove(driver, "/seek")
