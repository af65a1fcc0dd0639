"""Streaming writes and reads: `writer`, `reader` and reader offsets.

distribution's TestWriteReadStreams1-4, TestWriteReadStreamsNonUTF8,
TestWriteReadLargeStreams, TestReaderWithOffset and
TestReadNonexistentStream, with the contract's offset edge cases.
"""

from __future__ import annotations

import random

import pytest

from regstore.driver import FileWriter, StorageDriver
from regstore.errors import InvalidOffsetError
from regstore.testing._base import Sizes, SuiteBase
from regstore.testing._data import (
    Payload,
    assert_bytes_equal,
    random_bytes,
    random_path,
    sha256_of_reader,
)

__all__ = ["StreamTests"]


class StreamTests(SuiteBase):
    """writer / reader round trips."""

    def write_read_compare_streams(self, driver: StorageDriver, path: str, contents: bytes) -> None:
        writer = driver.writer(path)
        assert writer.write(contents) == len(contents)
        assert writer.size == len(contents)
        writer.commit()
        writer.close()
        assert writer.size == len(contents)
        with driver.reader(path) as reader:
            assert_bytes_equal(reader.read(), contents)
        self.remove(driver, "/" + path.split("/")[1])

    def test_write_read_streams_1_byte(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare_streams(driver, random_path(rng), b"a")

    def test_write_read_streams_unicode(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare_streams(driver, random_path(rng), "\u00df".encode())

    def test_write_read_streams_32_bytes(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare_streams(driver, random_path(rng), random_bytes(32, "s32"))

    def test_write_read_streams_1_mib(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare_streams(driver, random_path(rng), random_bytes(1 << 20, "s1m"))

    def test_write_read_streams_non_utf8(self, driver: StorageDriver, rng: random.Random) -> None:
        self.write_read_compare_streams(driver, random_path(rng), b"\x80\x80\x80\x80")

    @pytest.mark.regstore_heavy
    def test_write_read_large_streams(self, driver: StorageDriver, sizes: Sizes) -> None:
        """5 GiB in full mode, checked by sha256 without holding the content.
        Write sizes cycle below, at and above 1 MiB and S3's 5 MiB part size,
        so a chunking driver sees every kind of boundary."""
        payload = Payload("large-stream", sizes.large_stream)
        writer = driver.writer("/large/stream")
        written = _write_cycling(writer, payload, (64 << 10, 1 << 20, 3 << 20, (5 << 20) + 1))
        assert written == payload.size
        assert writer.size == payload.size
        writer.commit()
        writer.close()
        assert driver.stat("/large/stream").size == payload.size
        with driver.reader("/large/stream") as reader:
            digest, length = sha256_of_reader(reader)
        assert length == payload.size
        assert digest == payload.sha256()
        self.remove(driver, "/large")

    def test_writer_accepts_bytes_like(self, driver: StorageDriver) -> None:
        parts: list[bytes | bytearray | memoryview] = [
            b"plain-",
            bytearray(b"array-"),
            memoryview(b"view-"),
            memoryview(b"xsliceyy")[1:6],
        ]
        writer = driver.writer("/bytes-like/stream")
        for part in parts:
            assert writer.write(part) == memoryview(part).nbytes
        writer.commit()
        assert driver.get_content("/bytes-like/stream") == b"plain-array-view-slice"
        self.remove(driver, "/bytes-like")

    def test_reader_with_offset(self, driver: StorageDriver, rng: random.Random) -> None:
        chunk = 32
        c1, c2, c3 = (random_bytes(chunk, f"offset-{i}") for i in range(3))
        path = random_path(rng)
        driver.put_content(path, c1 + c2 + c3)

        with driver.reader(path, 0) as reader:
            assert reader.read() == c1 + c2 + c3
        with driver.reader(path, chunk) as reader:
            assert reader.read() == c2 + c3
        with driver.reader(path, chunk * 2) as reader:
            assert reader.read() == c3

        with pytest.raises(InvalidOffsetError) as info:
            driver.reader(path, -1)
        assert info.value.offset == -1
        assert info.value.path == path
        assert driver.name in str(info.value)
        assert isinstance(info.value, ValueError)

        # At the end: an empty stream, not an error.
        with driver.reader(path, chunk * 3) as reader:
            assert reader.read(chunk) == b""
            assert reader.read() == b""
        # Past the end: empty too.
        with driver.reader(path, chunk * 3 + 1000) as reader:
            assert reader.read() == b""
        # Far past the end (beyond what lseek or a Range header takes as is).
        for far in (2**62, 2**63 - 1, 2**64):
            with driver.reader(path, far) as reader:
                assert reader.read() == b"", f"offset {far}"
        # The N-1 boundary: one byte, then nothing.
        with driver.reader(path, chunk * 3 - 1) as reader:
            assert reader.read(chunk) == c3[-1:]
            assert reader.read(chunk) == b""
        self.remove(driver, "/" + path.split("/")[1])

    def test_reader_readinto(self, driver: StorageDriver) -> None:
        """The reader is a real binary file object: readinto works."""
        data = random_bytes(10_000, "readinto")
        driver.put_content("/readinto/object", data)
        with driver.reader("/readinto/object", 100) as reader:
            buffer = bytearray(4096)
            got = bytearray()
            while n := reader.readinto(buffer):  # type: ignore[attr-defined]
                got += buffer[:n]
        assert_bytes_equal(bytes(got), data[100:])
        self.remove(driver, "/readinto")

    def test_read_nonexistent_stream(self, driver: StorageDriver, rng: random.Random) -> None:
        path = random_path(rng)
        self.assert_not_found(driver, lambda: driver.reader(path, 0))
        self.assert_not_found(driver, lambda: driver.reader(path, 64))


def _write_cycling(writer: FileWriter, payload: Payload, pieces: tuple[int, ...]) -> int:
    """Write `payload` in writes whose sizes cycle through `pieces`."""
    buffer = bytearray()
    total = 0
    turn = 0
    for chunk in payload.chunks():
        buffer += chunk
        while len(buffer) >= pieces[turn % len(pieces)]:
            size = pieces[turn % len(pieces)]
            total += writer.write(bytes(buffer[:size]))
            del buffer[:size]
            turn += 1
    if buffer:
        total += writer.write(bytes(buffer))
    return total
