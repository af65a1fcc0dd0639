"""Deliberately broken drivers under the conformance suite.

Not collected by a plain `pytest` run (the name does not match test_*.py):
`test_suite_detects.py` runs this file in a child pytest and checks that
each breakage fails exactly the tests meant to catch it. Each driver is the
reference inmemory driver with one contract rule broken, the way real
drivers break it.
"""

from __future__ import annotations

import datetime as dt
import errno
from collections.abc import Callable, Iterator
from typing import ClassVar

from regstore import FileInfo, FileWriter, PathNotFoundError, StorageDriver
from regstore.driver import Buffer
from regstore.testing import ForwardingWriter, StorageDriverSuite
from regstore.testing.injection import FaultInjector
from regstore.walk import walk_listing
from regstore_inmemory.driver import InMemoryDriver


class UnsortedList(InMemoryDriver):
    """list() in reverse order."""

    def list(self, path: str) -> list[str]:
        return sorted(super().list(path), reverse=True)


class _PublishingWriter(ForwardingWriter):
    """Publishes every write at once: the upload is visible before commit."""

    def __init__(self, driver: InMemoryDriver, inner: FileWriter, path: str) -> None:
        super().__init__(inner)
        self._driver = driver
        self._path = path
        self._data = bytearray()

    def write(self, data: Buffer) -> int:
        n = self._inner.write(data)
        self._data += data
        self._driver.put_content(self._path, bytes(self._data))
        return n


class VisibleUploads(InMemoryDriver):
    def writer(self, path: str, append: bool = False) -> FileWriter:
        return _PublishingWriter(self, super().writer(path, append), path)


class PrefixStat(InMemoryDriver):
    """stat() falls back to a prefix match without a trailing slash (the
    S3 driver's bug): `/a` looks like a directory when `/ab` exists."""

    def stat(self, path: str) -> FileInfo:
        try:
            return super().stat(path)
        except PathNotFoundError:
            with self._lock:
                if any(p.startswith(path) for p in self._files):
                    return FileInfo(path, 0, dt.datetime.now(dt.UTC), True)
            raise


class MoveKeepsSource(InMemoryDriver):
    """move() copies and leaves the source behind."""

    def move(self, source: str, dest: str) -> None:
        self.put_content(dest, self.get_content(source))


class PrefixDelete(InMemoryDriver):
    """delete() removes every file whose path merely starts with the path."""

    def delete(self, path: str) -> None:
        with self._lock:
            doomed = [p for p in self._files if p.startswith(path)]
            if not doomed:
                raise PathNotFoundError(path)
            for p in doomed:
                self._unlink(p)


class KeepsUnclosedWrites(InMemoryDriver):
    """A resume keeps what an abandoned writer wrote after the last close."""

    def writer(self, path: str, append: bool = False) -> FileWriter:
        with self._lock:
            upload = self._uploads.get(path)
            if append and upload is not None:
                upload.persisted = len(upload.data)
            return super().writer(path, append)


class CancelKeeps(InMemoryDriver):
    """cancel() keeps the upload around (it can still be resumed)."""

    def writer(self, path: str, append: bool = False) -> FileWriter:
        inner = super().writer(path, append)
        inner.cancel = inner.close  # type: ignore[method-assign]
        return inner


class NaiveModTime(InMemoryDriver):
    """stat() reports a naive local datetime."""

    def stat(self, path: str) -> FileInfo:
        info = super().stat(path)
        return FileInfo(info.path, info.size, info.mod_time.replace(tzinfo=None), info.is_dir)


class WrongWalkOrder(InMemoryDriver):
    """Declares "tree" order but walks in plain key order."""

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        with self._lock:
            if path not in self._dirs:
                raise PathNotFoundError(path)
            files = [
                FileInfo(p, len(self._files[p].data), self._files[p].mod_time, False)
                for p in sorted(self._files_below(path))
            ]
        is_after = None if start_after is None else (lambda i: i.path > start_after)
        return walk_listing(path, files, is_after=is_after, prune=prune)


class _Steps(FaultInjector):
    """The storage steps of the buffering drivers below, made to fail by
    the suite's failure cases as a disk or a network would."""

    kinds = ("eio",)

    def step(self) -> None:
        if self.choose() is not None:
            raise OSError(errno.EIO, "injected: the storage step failed")


STEPS = _Steps()


class _BufferingWriter(FileWriter):
    """Holds writes in memory and hands them to the upload in pieces, each
    hand-over a storage step that may fail: the shape of a driver that
    buffers a part before sending it. `lose_on_failure` frees the buffer
    in a `finally`, failure or not (the s3 writer's old bug)."""

    piece = 64 * 1024

    def __init__(self, inner: FileWriter, *, lose_on_failure: bool) -> None:
        self._inner = inner
        self._lose = lose_on_failure
        self._buffer = bytearray()

    @property
    def size(self) -> int:
        return self._inner.size + len(self._buffer)

    def _hand_over(self) -> None:
        try:
            STEPS.step()
            self._inner.write(self._buffer)
            self._buffer = bytearray()
        finally:
            if self._lose:
                self._buffer = bytearray()

    def write(self, data: Buffer) -> int:
        self._buffer += data
        if len(self._buffer) >= self.piece:
            self._hand_over()
        return memoryview(data).nbytes

    def close(self) -> None:
        self._hand_over()
        STEPS.step()
        self._inner.close()

    def commit(self) -> None:
        self._hand_over()
        STEPS.step()
        self._inner.commit()

    def cancel(self) -> None:
        self._inner.cancel()


class Buffering(InMemoryDriver):
    """inmemory behind a correct buffering writer with failing steps."""

    lose_on_failure = False

    def put_content(self, path: str, data: Buffer) -> None:
        STEPS.step()
        super().put_content(path, data)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        return _BufferingWriter(super().writer(path, append), lose_on_failure=self.lose_on_failure)


class LosesBufferOnFailedCommit(Buffering):
    """A commit that fails has already dropped its buffer: the retried
    commit publishes short data and reports success."""

    lose_on_failure = True


class SharedResumers(InMemoryDriver):
    """Two resumers of one upload share it: their bytes interleave."""

    def writer(self, path: str, append: bool = False) -> FileWriter:
        with self._lock:
            upload = self._uploads.get(path)
            if append and upload is not None:
                upload.holder = None  # never refuse a second resumer
            return super().writer(path, append)


class _Broken(StorageDriverSuite):
    """The suite over one broken driver, wrapped by the suite itself."""

    driver_name = "inmemory"
    root_parameter = None
    broken: ClassVar[type[InMemoryDriver]] = Buffering

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        return self.broken()

    def storage_faults(self, params: dict[str, object]) -> FaultInjector | None:
        return STEPS


class TestReference(_Broken):
    broken = Buffering


class TestLosesBufferOnFailedCommit(_Broken):
    broken = LosesBufferOnFailedCommit


class TestSharedResumers(_Broken):
    broken = SharedResumers


class TestUnsortedList(_Broken):
    broken = UnsortedList


class TestVisibleUploads(_Broken):
    broken = VisibleUploads


class TestPrefixStat(_Broken):
    broken = PrefixStat


class TestMoveKeepsSource(_Broken):
    broken = MoveKeepsSource


class TestPrefixDelete(_Broken):
    broken = PrefixDelete


class TestKeepsUnclosedWrites(_Broken):
    broken = KeepsUnclosedWrites


class TestCancelKeeps(_Broken):
    broken = CancelKeeps


class TestNaiveModTime(_Broken):
    broken = NaiveModTime


class TestWrongWalkOrder(_Broken):
    broken = WrongWalkOrder


class TestLeavesFiles(_Broken):
    """A correct driver, one test that forgets to clean up, and one shared
    store: the leak fails its test, and the next test finds the store
    emptied again."""

    shared: ClassVar[InMemoryDriver | None] = None

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        if TestLeavesFiles.shared is None:
            TestLeavesFiles.shared = InMemoryDriver()
        return TestLeavesFiles.shared

    def test_a_leaky(self, driver: StorageDriver) -> None:
        driver.put_content("/forgotten/file", b"left behind")

    def test_b_after_leak(self, driver: StorageDriver) -> None:
        assert driver.list("/") == []
