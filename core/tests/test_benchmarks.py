"""The benchmark cases: they measure, verify what the driver did, and
clean up; and `BenchmarkTests` works as a mixin with the suite's fixtures."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest

from regstore import DriverRegistry, ManagedDriver, PathNotFoundError, StorageDriver
from regstore.testing import benchmarks
from regstore.testing._data import Payload
from regstore.testing.benchmarks import (
    CASES,
    BenchCase,
    BenchmarkMismatchError,
    BenchmarkTests,
    CaseResult,
    find_case,
)
from regstore_inmemory.driver import InMemoryDriver


def _store_is_empty(driver: StorageDriver) -> bool:
    try:
        return driver.list("/") == []
    except PathNotFoundError:
        return True


@pytest.fixture
def inmemory() -> Iterator[StorageDriver]:
    driver = DriverRegistry().create("inmemory")
    yield driver
    assert _store_is_empty(driver)


def test_case_names_follow_distribution() -> None:
    names = [case.name for case in CASES]
    for size in ("Empty", "1KB", "1MB", "1GB"):
        assert f"PutGet{size}Files" in names
        assert f"Stream{size}Files" in names
    for count in (5, 50):
        assert f"List{count}Files" in names
        assert f"Delete{count}Files" in names
    assert len(set(names)) == len(names)


def test_amounts_per_mode() -> None:
    big = find_case("stream1gbfiles")
    assert (big.amount("quick"), big.amount("default"), big.amount("full")) == (
        4 * 1024**2,
        64 * 1024**2,
        1024**3,
    )
    assert big.amount("default", size=123) == 123  # --size sets the large cases
    small = find_case("PutGet1KBFiles")
    assert small.amount("full", size=123) == 1024  # and only those
    assert find_case("List50Files").amount("quick") == 50
    with pytest.raises(KeyError):
        find_case("nope")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_on_inmemory(inmemory: StorageDriver, case: BenchCase) -> None:
    amount = case.amount("quick")
    result = case(inmemory, amount, repeat=3)
    assert isinstance(result, CaseResult)
    assert result.ops == 3
    assert result.seconds > 0
    assert result.ops_per_s is not None
    assert result.ops_per_s > 0
    if case.unit == "bytes":
        assert result.nbytes == 3 * amount
        assert (result.mb_per_s is None) == (amount == 0)
    else:
        assert result.nbytes == 0
        assert result.mb_per_s is None
    assert _store_is_empty(inmemory)


def test_stream_of_odd_size_spans_chunks(inmemory: StorageDriver) -> None:
    size = 2 * benchmarks.CHUNK + 7
    assert benchmarks.stream_files(inmemory, size).nbytes == size


def test_payload_blocks_are_chunked_and_all_different() -> None:
    """The generator the cases share with the suite: pieces of the asked
    size, the same bytes however they are cut, and no two blocks alike (so a
    reordered or repeated chunk cannot pass for the right one)."""
    payload = Payload("bench", 3 * benchmarks.CHUNK + 40)
    pieces = list(payload.chunks(piece=benchmarks.CHUNK))
    assert [len(p) for p in pieces] == [benchmarks.CHUNK] * 3 + [40]
    assert b"".join(pieces) == payload.read() == bytes(payload.buffer())
    assert b"".join(payload.chunks(piece=1000)) == payload.read()
    assert len({p[:64] for p in pieces[:3]}) == 3
    assert list(Payload("bench", 0).chunks()) == []


# -- broken drivers are caught ---------------------------------------------------


class _Truncating(InMemoryDriver):
    """Drops the last byte of every object on read."""

    def get_content(self, path: str) -> bytes:
        data = super().get_content(path)
        return data[:-1] if data else data

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return io.BytesIO(self.get_content(path)[offset:])


class _Swapping(InMemoryDriver):
    """Returns an object's chunks in the wrong order (same bytes overall)."""

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        data = self.get_content(path)
        chunk = benchmarks.CHUNK
        parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        return io.BytesIO(b"".join(reversed(parts))[offset:])


class _ShortList(InMemoryDriver):
    def list(self, path: str) -> list[str]:
        return super().list(path)[1:]


class _LazyDelete(InMemoryDriver):
    """Deletes only the first file of a directory."""

    def delete(self, path: str) -> None:
        if path in self._dirs:
            super().delete(super().list(path)[0])
        else:
            super().delete(path)


class _DoubleWalk(InMemoryDriver):
    def walk(self, path: str, **kwargs: Any) -> Iterator[Any]:
        entries = list(super().walk(path, **kwargs))
        return iter(entries + entries[-1:])


DIFFERS = "differs from the written payload at offset"


@pytest.mark.parametrize(
    ("inner", "case_name", "amount", "message"),
    [
        (_Truncating, "PutGet1KBFiles", 1024, "differ from the 1024 bytes put"),
        (_Truncating, "Stream1KBFiles", 1024, DIFFERS),
        (
            _Swapping,
            "Stream1GBFiles",
            3 * 1024 * 1024,
            "differs from the written payload at offset",
        ),
        (_ShortList, "List5Files", 5, "returned 4 paths"),
        (_LazyDelete, "Delete5Files", 5, "left 4 of 5 files behind"),
        (_DoubleWalk, "Walk100Files", 20, "yielded 23 entries (22 distinct), expected 22"),
    ],
)
def test_broken_driver_detected_and_cleaned_up(
    inner: type[InMemoryDriver], case_name: str, amount: int, message: str
) -> None:
    raw = inner()
    driver = ManagedDriver(raw, name="broken")
    with pytest.raises(BenchmarkMismatchError, match=re.escape(message)):
        find_case(case_name)(driver, amount)
    # Even a failing case leaves nothing behind (the lazy delete aside,
    # whose cleanup goes through the same broken delete).
    if inner is not _LazyDelete:
        assert InMemoryDriver.list(raw, "/") == []


def test_mismatch_is_an_assertion_error() -> None:
    assert issubclass(BenchmarkMismatchError, AssertionError)


# -- the mixin -------------------------------------------------------------------


class TestBenchmarkMixin(BenchmarkTests):
    """BenchmarkTests with the two fixtures the suite provides."""

    @pytest.fixture
    def driver(self) -> Iterator[StorageDriver]:
        driver = DriverRegistry().create("inmemory")
        yield driver
        assert _store_is_empty(driver)

    @pytest.fixture
    def full_mode(self) -> bool:
        return False


def test_mixin_fails_on_broken_driver() -> None:
    mixin = BenchmarkTests()
    driver = ManagedDriver(_Truncating(), name="broken")
    with pytest.raises(BenchmarkMismatchError):
        mixin.test_benchmark_case(driver, False, find_case("Stream1MBFiles"))
