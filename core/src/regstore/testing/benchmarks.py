"""distribution's storage-driver benchmarks, as plain functions.

Each case is `run(driver, size_or_count, *, repeat=1) -> CaseResult`: it
works below a random top-level directory of its own, times only the
operation it measures, checks that the driver did it right (content read back
equals content written, listings hold the right count) and deletes what it
made, so a case leaves the store as it found it. `regstore bench` runs every
case of `CASES` in a child process of its own and reports throughput and peak
memory; `BenchmarkTests` runs each case once at small sizes inside the
conformance suite, where only correctness is asserted, never timing.

The cases follow distribution's `benchsuites.go` (PutGet*, Stream*, List*,
Delete*) plus a walk case. Where distribution only opens and closes the
reader after a streamed write, we read the object back and compare it: a
benchmark of a driver that returns the wrong bytes measures nothing.

Data comes from `regstore.testing._data.Payload`, the suite's generator:
chunk by chunk, every block different, so a driver that reorders or repeats
chunks is caught; memory stays at a few chunks whatever the object's size. PutGet
cases hold one object in memory by nature (`put_content` takes bytes).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pytest

from regstore.errors import PathNotFoundError
from regstore.testing._data import BLOCK, Payload, assert_stream_equals

if TYPE_CHECKING:
    from regstore.driver import StorageDriver

__all__ = [
    "CASES",
    "BenchCase",
    "BenchmarkMismatchError",
    "BenchmarkTests",
    "CaseResult",
    "Mode",
    "delete_files",
    "find_case",
    "list_files",
    "put_get_files",
    "stream_files",
    "walk_files",
]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
#: Streams are written and read in chunks of this size (or smaller).
CHUNK = BLOCK

Mode = Literal["quick", "default", "full"]


class BenchmarkMismatchError(AssertionError):
    """The driver did the operation wrong (different bytes, wrong count).

    An `AssertionError`, so pytest reports it as a failure of the driver."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one run of a case measured: the payload `nbytes` moved (per
    distribution's `b.SetBytes`: one object's size per put+get or
    write+read round trip), the number of timed operations, and the seconds
    spent in them (setup and cleanup excluded)."""

    nbytes: int
    ops: int
    seconds: float

    @property
    def mb_per_s(self) -> float | None:
        """Payload megabytes (10^6, as Go's benchmarks print) per second;
        None for cases that move no payload."""
        if self.nbytes == 0 or self.seconds <= 0:
            return None
        return self.nbytes / self.seconds / 1e6

    @property
    def ops_per_s(self) -> float | None:
        """Timed operations per second."""
        if self.seconds <= 0:
            return None
        return self.ops / self.seconds


CaseFunction = Callable[..., CaseResult]


@dataclass(frozen=True, slots=True)
class BenchCase:
    """One benchmark case: a function and the amounts it runs at.

    `amount` is a size in bytes (`unit == "bytes"`) or a number of files
    (`unit == "files"`). Three modes: `quick` (seconds, for CI and the
    suite's short mode), `default` (what `regstore bench` runs) and `full`
    (distribution's own sizes, 1 GiB objects included)."""

    name: str
    run: CaseFunction
    unit: Literal["bytes", "files"]
    quick: int
    default: int
    full: int
    #: How many times the timed operation runs per mode (quick, other).
    quick_repeat: int
    repeat: int
    #: True for the cases whose size `regstore bench --size` overrides.
    large: bool = False

    def amount(self, mode: Mode = "default", size: int | None = None) -> int:
        """The size or count to run at in `mode`; `size` overrides the
        large-object cases' size."""
        if size is not None and self.large:
            return size
        return {"quick": self.quick, "default": self.default, "full": self.full}[mode]

    def repeats(self, mode: Mode = "default") -> int:
        """How many timed operations to run in `mode`."""
        return self.quick_repeat if mode == "quick" else self.repeat

    def __call__(self, driver: StorageDriver, amount: int, *, repeat: int = 1) -> CaseResult:
        return self.run(driver, amount, repeat=repeat)


# -- helpers -----------------------------------------------------------------


def _random_dir() -> str:
    # Random like distribution's randomPath, and recognisable if left behind.
    return f"/bench-{secrets.token_hex(6)}"


def _random_name() -> str:
    return secrets.token_hex(16)


def _cleanup(driver: StorageDriver, directory: str, *, must_exist: bool) -> None:
    """Delete a case's directory. Absent is fine only where the case itself
    deleted it (or never got to write anything)."""
    try:
        driver.delete(directory)
    except PathNotFoundError:
        if must_exist:
            raise


# -- the cases ---------------------------------------------------------------


def put_get_files(driver: StorageDriver, size: int, *, repeat: int = 1) -> CaseResult:
    """`put_content` then `get_content` of a `size`-byte object, `repeat`
    times, each to a new path (distribution's benchmarkPutGetFiles)."""
    directory = _random_dir()
    content = Payload(_random_name(), size).buffer()
    elapsed = 0.0
    try:
        for _ in range(repeat):
            path = f"{directory}/{_random_name()}"
            start = time.perf_counter()
            driver.put_content(path, content)
            got = driver.get_content(path)
            elapsed += time.perf_counter() - start
            if got != content:
                raise BenchmarkMismatchError(
                    f"{path}: get_content returned {len(got)} bytes that differ from the "
                    f"{size} bytes put"
                )
            del got
    finally:
        _cleanup(driver, directory, must_exist=False)
    return CaseResult(size * repeat, repeat, elapsed)


def stream_files(driver: StorageDriver, size: int, *, repeat: int = 1) -> CaseResult:
    """A `size`-byte object written through `writer` in chunks, committed,
    and read back through `reader`, `repeat` times (distribution's
    benchmarkStreamFiles, with the read-back compared)."""
    directory = _random_dir()
    payload = Payload(directory, size)
    payload.read(0, 1)  # makes the payload's random block before any timing
    elapsed = 0.0
    try:
        for _ in range(repeat):
            path = f"{directory}/{_random_name()}"
            start = time.perf_counter()
            writer = driver.writer(path)
            try:
                for chunk in payload.chunks(piece=CHUNK):
                    written = writer.write(chunk)
                    if written != len(chunk):
                        raise BenchmarkMismatchError(
                            f"{path}: write took {written} of {len(chunk)} bytes"
                        )
                if writer.size != size:
                    raise BenchmarkMismatchError(
                        f"{path}: writer.size is {writer.size} after writing {size} bytes"
                    )
                writer.commit()
            finally:
                writer.close()
            with driver.reader(path) as stream:
                try:
                    assert_stream_equals(stream, payload)
                except AssertionError as err:
                    raise BenchmarkMismatchError(f"{path}: {err}") from err
            elapsed += time.perf_counter() - start
    finally:
        _cleanup(driver, directory, must_exist=False)
    return CaseResult(size * repeat, repeat, elapsed)


def _make_files(driver: StorageDriver, directory: str, count: int) -> list[str]:
    paths = sorted(f"{directory}/{_random_name()}" for _ in range(count))
    for path in paths:
        driver.put_content(path, b"")
    return paths


def list_files(driver: StorageDriver, count: int, *, repeat: int = 1) -> CaseResult:
    """`list` of a directory holding `count` empty files, `repeat` times
    (distribution's benchmarkListFiles)."""
    directory = _random_dir()
    elapsed = 0.0
    try:
        expected = _make_files(driver, directory, count)
        for _ in range(repeat):
            start = time.perf_counter()
            listed = driver.list(directory)
            elapsed += time.perf_counter() - start
            if listed != expected:
                raise BenchmarkMismatchError(
                    f"list({directory}) returned {len(listed)} paths, expected the {count} "
                    "files written, sorted"
                )
    finally:
        _cleanup(driver, directory, must_exist=False)
    return CaseResult(0, repeat, elapsed)


def delete_files(driver: StorageDriver, count: int, *, repeat: int = 1) -> CaseResult:
    """`delete` of a directory holding `count` empty files, `repeat` times,
    each on a freshly filled directory (distribution's
    benchmarkDeleteFiles)."""
    elapsed = 0.0
    for _ in range(repeat):
        directory = _random_dir()
        try:
            _make_files(driver, directory, count)
            start = time.perf_counter()
            driver.delete(directory)
            elapsed += time.perf_counter() - start
            try:
                left = driver.list(directory)
            except PathNotFoundError:
                left = []
            if left:
                raise BenchmarkMismatchError(
                    f"delete({directory}) left {len(left)} of {count} files behind"
                )
        finally:
            _cleanup(driver, directory, must_exist=False)
    return CaseResult(0, repeat, elapsed)


def walk_files(driver: StorageDriver, count: int, *, repeat: int = 1) -> CaseResult:
    """`walk` of a two-level tree of `count` empty files (ten per
    subdirectory), `repeat` times; each walk must yield every file and
    directory exactly once."""
    directory = _random_dir()
    elapsed = 0.0
    try:
        files = [f"{directory}/d{i // 10:04d}/f{i:06d}" for i in range(count)]
        for path in files:
            driver.put_content(path, b"")
        expected = set(files) | {p.rsplit("/", 1)[0] for p in files}
        for _ in range(repeat):
            start = time.perf_counter()
            walked = [info.path for info in driver.walk(directory)]
            elapsed += time.perf_counter() - start
            if len(walked) != len(expected) or set(walked) != expected:
                raise BenchmarkMismatchError(
                    f"walk({directory}) yielded {len(walked)} entries ({len(set(walked))} "
                    f"distinct), expected {len(expected)}"
                )
    finally:
        _cleanup(driver, directory, must_exist=False)
    return CaseResult(0, repeat, elapsed)


def _bytes_case(name: str, run: CaseFunction, size: int, *, full: int | None = None) -> BenchCase:
    large = size >= GiB
    return BenchCase(
        name=name,
        run=run,
        unit="bytes",
        quick=min(size, 4 * MiB),
        default=min(size, 64 * MiB),
        full=size if full is None else full,
        quick_repeat=1 if large else (3 if size >= MiB else 10),
        repeat=1 if large else (20 if size >= MiB else 200),
        large=large,
    )


def _files_case(name: str, run: CaseFunction, count: int, repeat: int) -> BenchCase:
    return BenchCase(name, run, "files", count, count, count, max(1, repeat // 10), repeat)


#: Every case, in the order `regstore bench` runs them.
CASES: tuple[BenchCase, ...] = (
    _bytes_case("PutGetEmptyFiles", put_get_files, 0),
    _bytes_case("PutGet1KBFiles", put_get_files, KiB),
    _bytes_case("PutGet1MBFiles", put_get_files, MiB),
    _bytes_case("PutGet1GBFiles", put_get_files, GiB),
    _bytes_case("StreamEmptyFiles", stream_files, 0),
    _bytes_case("Stream1KBFiles", stream_files, KiB),
    _bytes_case("Stream1MBFiles", stream_files, MiB),
    _bytes_case("Stream1GBFiles", stream_files, GiB),
    _files_case("List5Files", list_files, 5, 100),
    _files_case("List50Files", list_files, 50, 100),
    _files_case("Delete5Files", delete_files, 5, 20),
    _files_case("Delete50Files", delete_files, 50, 10),
    _files_case("Walk100Files", walk_files, 100, 20),
)


def find_case(name: str) -> BenchCase:
    """The case called `name` (case-insensitive); `KeyError` if none."""
    for case in CASES:
        if case.name.lower() == name.lower():
            return case
    raise KeyError(name)


class BenchmarkTests:
    """Runs every benchmark case once against the suite's `driver` fixture,
    asserting correctness, never timing: a driver that passes the suite can
    be benchmarked without surprises. Short mode runs the quick amounts; full
    mode the default ones (64 MiB for the 1 GB cases).

    Needs the fixtures `driver` (a fresh StorageDriver under a random root,
    whose teardown checks the store is empty) and `full_mode` (bool)."""

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_benchmark_case(self, driver: StorageDriver, full_mode: bool, case: BenchCase) -> None:
        amount = case.amount("default" if full_mode else "quick")
        repeat = 2
        result = case(driver, amount, repeat=repeat)
        assert result.ops == repeat
        assert result.seconds >= 0
        if case.unit == "bytes":
            assert result.nbytes == amount * repeat
        else:
            assert result.nbytes == 0
        # The case must clean up after itself: nothing of it is left.
        assert not [p for p in driver.list("/") if p.startswith("/bench-")]
