"""regstore.transfer: copy and sync between real drivers (inmemory and
filesystem), with counting and failing wrappers (middleware around the real
driver) to see what was read and written, interrupt runs and corrupt data."""

from __future__ import annotations

import gc
import io
import pathlib
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, TypedDict, cast

import pytest

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

import regstore
from regstore import (
    FileWriter,
    InvalidPathError,
    PathNotFoundError,
    StorageDriver,
    StorageDriverError,
)
from regstore.driver import Buffer
from regstore.middleware import DriverMiddleware
from regstore.testing.wrappers import ForwardingWriter
from regstore.transfer import (
    SourceNotFoundError,
    TransferError,
    TransferEvent,
    TransferSummary,
    VerificationError,
    copy,
    sync,
)

KiB = 1024
MiB = 1024 * KiB


class Sizes(TypedDict):
    chunk_size: int
    small_file_size: int
    checkpoint_size: int


#: Small sizes so the writer path, checkpoints and resumes run in milliseconds.
SIZES: Sizes = {"chunk_size": 256 * KiB, "small_file_size": 512 * KiB, "checkpoint_size": 1 * MiB}


class Crash(BaseException):
    """What a killed process looks like to the code it was running."""


class Counting(DriverMiddleware):
    """A real driver, counted; optionally failing or corrupting.

    - `fail_write_at`: a writer's write that would pass this many bytes (in
      total over the wrapper's life) raises `fail_with`; with `Crash`, the
      writer also drops its close() (a dead process closes nothing).
    - `fail_puts_after`: put_content calls after this many raise.
    - `corrupt`: paths whose stored bytes get one byte flipped.
    - `slow`: seconds each read sleeps (to make workers overlap).
    """

    def __init__(self, inner: StorageDriver) -> None:
        super().__init__(inner)
        self.lock = threading.Lock()
        self.readers = 0
        self.get_contents = 0
        self.puts = 0
        self.writers: list[tuple[str, bool]] = []
        self.commits = 0
        self.deletes = 0
        self.written = 0
        self.max_read = 0
        self.max_write = 0
        self.open_readers = 0
        self.max_open_readers = 0
        self.fail_write_at: int | None = None
        self.fail_with: type[BaseException] = StorageDriverError
        self.fail_puts_after: int | None = None
        self.corrupt: set[str] = set()
        self.slow = 0.0

    def get_content(self, path: str) -> bytes:
        with self.lock:
            self.get_contents += 1
        return self.inner.get_content(path)

    def put_content(self, path: str, data: Buffer) -> None:
        with self.lock:
            self.puts += 1
            if self.fail_puts_after is not None and self.puts > self.fail_puts_after:
                raise StorageDriverError("injected put failure", driver_name=self.name)
        if path in self.corrupt and len(data):
            flipped = bytearray(data)
            flipped[0] ^= 0xFF
            data = flipped
        self.inner.put_content(path, data)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        with self.lock:
            self.readers += 1
            self.open_readers += 1
            self.max_open_readers = max(self.max_open_readers, self.open_readers)
        return cast(BinaryIO, _CountingReader(self, self.inner.reader(path, offset)))

    def writer(self, path: str, append: bool = False) -> FileWriter:
        with self.lock:
            self.writers.append((path, append))
        return _CountingWriter(self, path, self.inner.writer(path, append=append))

    def delete(self, path: str) -> None:
        with self.lock:
            self.deletes += 1
        self.inner.delete(path)

    def changes(self) -> int:
        """Every call that changes the store."""
        return self.puts + len(self.writers) + self.commits + self.deletes


class _CountingReader(io.RawIOBase):
    def __init__(self, owner: Counting, inner: BinaryIO) -> None:
        self._owner = owner
        self._inner = inner

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        owner = self._owner
        if size is None or size < 0:
            size = 2**62  # "everything" is the largest request there is
        with owner.lock:
            owner.max_read = max(owner.max_read, size)
        if owner.slow:
            time.sleep(owner.slow)
        return self._inner.read(size)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(view.nbytes)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with self._owner.lock:
                self._owner.open_readers -= 1
            self._inner.close()
        super().close()


class _CountingWriter(ForwardingWriter):
    def __init__(self, owner: Counting, path: str, inner: FileWriter) -> None:
        super().__init__(inner)
        self._owner = owner
        self._path = path
        self._dead = False

    def write(self, data: Buffer) -> int:
        owner = self._owner
        n = memoryview(data).nbytes
        with owner.lock:
            limit = owner.fail_write_at
            if limit is not None and owner.written + n > limit:
                if owner.fail_with is Crash:
                    self._dead = True
                    raise Crash
                raise owner.fail_with("injected write failure")
            owner.written += n
            owner.max_write = max(owner.max_write, n)
        if self._path in owner.corrupt:
            flipped = bytearray(data)
            flipped[-1] ^= 0xFF
            data = flipped
        return super().write(data)

    def close(self) -> None:
        if not self._dead:  # a dead process closes nothing
            super().close()

    def commit(self) -> None:
        with self._owner.lock:
            self._owner.commits += 1
        super().commit()


# -- helpers -----------------------------------------------------------------


@pytest.fixture
def fs(tmp_path: pathlib.Path) -> Callable[[str], StorageDriver]:
    def make(name: str) -> StorageDriver:
        root = tmp_path / name
        root.mkdir()
        return regstore.create("filesystem", {"rootdirectory": str(root)})

    return make


def mem() -> StorageDriver:
    return regstore.create("inmemory")


def tree(driver: StorageDriver, root: str = "/") -> dict[str, bytes]:
    """Every file below `root` with its content, keyed relative to it."""
    try:
        infos = [i for i in driver.walk(root) if not i.is_dir]
    except PathNotFoundError:
        return {}
    cut = 0 if root == "/" else len(root)
    return {i.path[cut:]: driver.get_content(i.path) for i in infos}


def populate(driver: StorageDriver, root: str, *, small: int = 120, large: int = 3) -> None:
    rng = random.Random(7)
    for n in range(small):
        driver.put_content(f"{root}/d{n % 7}/s{n}", rng.randbytes(rng.randrange(0, 3000)))
    for n in range(large):
        driver.put_content(f"{root}/big/l{n}", rng.randbytes(2 * MiB + 12345 * n))


def big_file(driver: StorageDriver, path: str, size: int, seed: int = 1) -> bytes:
    data = random.Random(seed).randbytes(size)
    driver.put_content(path, data)
    return data


# -- copying -----------------------------------------------------------------


@pytest.mark.parametrize("direction", ["fs-to-mem", "mem-to-fs"])
def test_copy_tree(fs: Callable[[str], StorageDriver], direction: str) -> None:
    src, dst = (fs("src"), mem()) if direction == "fs-to-mem" else (mem(), fs("dst"))
    populate(src, "/a")
    summary = copy(src, "/a", dst, "/b", **SIZES)
    assert summary.ok, [e.message for e in summary.errors]
    assert tree(dst, "/b") == tree(src, "/a")
    assert summary.files_copied == 123
    assert summary.bytes_copied == summary.bytes_written == sum(map(len, tree(src).values()))
    assert (summary.files_skipped, summary.files_failed, summary.files_resumed) == (0, 0, 0)


def test_contents_go_into_the_destination_as_rclone() -> None:
    src, dst = mem(), mem()
    src.put_content("/a/x", b"x")
    src.put_content("/a/y/z", b"z")
    copy(src, "/a", dst, "/b")
    assert tree(dst) == {"/b/x": b"x", "/b/y/z": b"z"}
    copy(src, "/", dst, "/")
    assert tree(dst)["/a/y/z"] == b"z"
    summary = copy(src, "/a/y/z", dst, "/c/file")  # a file copies to a file path
    assert summary.files_copied == 1
    assert dst.get_content("/c/file") == b"z"


def test_bad_shapes_are_clear_errors() -> None:
    src, dst = mem(), mem()
    src.put_content("/a/x", b"x")
    dst.put_content("/file", b"f")
    with pytest.raises(TransferError, match="destination /file is a file"):
        copy(src, "/a", dst, "/file")
    with pytest.raises(TransferError, match="a file copies to a file path"):
        copy(src, "/a/x", dst, "/")
    with pytest.raises(TransferError, match="overlap"):
        copy(src, "/a", src, "/a/sub")
    with pytest.raises(TransferError, match="jobs must be an int from 1"):
        copy(src, "/a", dst, "/b", jobs=0)
    with pytest.raises(InvalidPathError):
        copy(src, "a", dst, "/b")


def test_missing_source_is_a_path_not_found_error() -> None:
    src, dst = mem(), mem()
    with pytest.raises(
        SourceNotFoundError, match="inmemory: transfer source not found: /nope"
    ) as info:
        copy(src, "/nope", dst, "/b")
    assert isinstance(info.value, PathNotFoundError)
    assert info.value.path == "/nope"
    assert copy(src, "/", dst, "/").files_copied == 0  # an empty store's root is no error


def test_uploads_in_flight_are_never_copied(fs: Callable[[str], StorageDriver]) -> None:
    src, dst = fs("src"), mem()
    src.put_content("/a/done", b"done")
    with src.writer("/a/pending") as w:  # closed, never committed
        w.write(b"half")
    with src.writer("/only-upload/x") as w:
        w.write(b"half")
    summary = copy(src, "/", dst, "/")
    assert tree(dst) == {"/a/done": b"done"}
    assert summary.files_copied == 1
    assert [u.path for u in src.list_uploads()] != []  # still there, untouched


def test_force_sends_finished_files_again() -> None:
    src, dst = mem(), Counting(mem())
    populate(src, "/a", small=5, large=0)
    copy(src, "/a", dst, "/a")
    puts = dst.puts
    assert copy(src, "/a", dst, "/a").files_skipped == 5
    assert dst.puts == puts
    assert copy(src, "/a", dst, "/a", force=True).files_copied == 5
    assert dst.puts == 2 * puts


# -- interruption and resume ---------------------------------------------------


def test_failed_files_are_reported_and_resume_sends_only_them(
    fs: Callable[[str], StorageDriver],
) -> None:
    src, dst = mem(), Counting(fs("dst"))
    populate(src, "/a", small=40, large=0)
    dst.fail_puts_after = 15
    first = copy(src, "/a", dst, "/a", jobs=1, **SIZES)
    assert (first.files_copied, first.files_failed) == (15, 25)
    assert all("injected put failure" in e.message for e in first.errors)
    assert {e.path for e in first.errors} == set(tree(src)) - set(tree(dst))

    again = Counting(dst.inner)
    second = copy(src, "/a", again, "/a", jobs=3, **SIZES)
    assert second.ok
    assert (second.files_copied, second.files_skipped) == (25, 15)
    assert again.puts == 25  # the 15 finished files were not sent again
    assert tree(dst, "/a") == tree(src, "/a")


def test_interrupted_run_resumes_without_resending(fs: Callable[[str], StorageDriver]) -> None:
    """An interrupt (Ctrl-C, a callback raising) stops the workers at their
    next chunk with their uploads closed; a rerun resumes them."""
    src, dst = fs("src"), Counting(fs("dst"))
    populate(src, "/a", small=30, large=0)
    for n in range(2):
        big_file(src, f"/a/z/big{n}", 3 * MiB, seed=n)  # walked after the small files
    sent: dict[str, int] = {}

    def interrupt(event: TransferEvent) -> None:
        if event.kind == "progress":
            sent[event.path] = sent.get(event.path, 0) + event.nbytes
            if sent[event.path] >= 3 * MiB // 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy(src, "/a", dst, "/a", jobs=2, progress=interrupt, **SIZES)
    done = tree(dst, "/a")
    assert "/z/big0" not in done
    assert len(done) >= 28  # the small files before it (one may still be in flight)
    missing = {k: v for k, v in tree(src, "/a").items() if k not in done}

    again = Counting(dst.inner)
    summary = copy(src, "/a", again, "/a", jobs=2, **SIZES)
    assert summary.ok
    assert summary.files_skipped == len(done)
    assert summary.files_copied == len(missing)
    assert again.puts + again.commits == len(missing)  # finished files were not sent again
    assert summary.files_resumed >= 1  # the large file cut mid-way
    assert summary.bytes_written <= sum(map(len, missing.values())) - 3 * MiB // 2
    assert tree(dst, "/a") == tree(src, "/a")


@pytest.mark.parametrize("kind", ["error", "crash"])
def test_large_file_resumes_through_the_writer(
    fs: Callable[[str], StorageDriver], kind: str
) -> None:
    """Cut a 4 MiB file at 2.5 MiB: after an error the writer is closed with
    everything sent; after a crash (no close) the upload keeps what the last
    checkpoint (every 1 MiB) closed. The rerun sends only the rest."""
    src, dst = mem(), Counting(fs("dst"))
    data = big_file(src, "/a/big", 4 * MiB)
    dst.fail_write_at = 5 * MiB // 2
    dst.fail_with = Crash if kind == "crash" else StorageDriverError
    if kind == "crash":
        with pytest.raises(Crash):
            copy(src, "/a", dst, "/b", **SIZES)
        gc.collect()  # the dead process's writer is gone
        kept = 2 * MiB
    else:
        summary = copy(src, "/a", dst, "/b", **SIZES)
        assert summary.files_failed == 1
        assert "injected write failure" in summary.errors[0].message
        kept = 5 * MiB // 2 - (5 * MiB // 2) % SIZES["chunk_size"]
    assert tree(dst) == {}  # nothing published

    again = Counting(dst.inner)
    events: list[TransferEvent] = []
    summary = copy(src, "/a", again, "/b", progress=events.append, **SIZES)
    assert summary.ok, [e.message for e in summary.errors]
    assert summary.files_resumed == 1
    assert again.writers[0] == ("/b/big", True)
    assert [e.offset for e in events if e.kind == "started"] == [kept]
    assert again.written == summary.bytes_written == len(data) - kept < len(data)
    assert dst.get_content("/b/big") == data


def test_resume_after_the_source_changed_sends_it_whole(
    fs: Callable[[str], StorageDriver],
) -> None:
    """The source changed after the upload was last touched (the filesystem
    driver lists its uploads with their times): the upload is discarded."""
    src, dst = fs("src"), Counting(fs("dst"))
    big_file(src, "/a/big", 3 * MiB, seed=1)
    dst.fail_write_at = 2 * MiB
    assert copy(src, "/a", dst, "/b", **SIZES).files_failed == 1
    time.sleep(0.02)  # past the filesystem's clock tick
    new = big_file(src, "/a/big", 3 * MiB, seed=2)  # same size, other bytes

    again = Counting(dst.inner)
    summary = copy(src, "/a", again, "/b", **SIZES)
    assert summary.ok
    assert summary.files_resumed == 0
    assert summary.bytes_written == 3 * MiB
    assert dst.get_content("/b/big") == new


@pytest.mark.parametrize("where", ["inmemory", "touched"])
def test_a_resume_the_times_cannot_catch_is_redone_after_verification(
    fs: Callable[[str], StorageDriver], where: str
) -> None:
    """inmemory cannot list its uploads; "touched": the upload was reopened
    after the source changed. Either way the resumed file holds a mix, does
    not verify, and is sent again whole: the final content is the source's."""
    src = fs("src")
    dst = Counting(mem() if where == "inmemory" else fs("dst"))
    big_file(src, "/a/big", 3 * MiB, seed=1)
    dst.fail_write_at = 2 * MiB
    assert copy(src, "/a", dst, "/b", **SIZES).files_failed == 1
    new = big_file(src, "/a/big", 3 * MiB, seed=2)  # same size, other bytes
    if where == "touched":
        time.sleep(0.02)
        dst.inner.writer("/b/big", append=True).close()

    again = Counting(dst.inner)
    summary = copy(src, "/a", again, "/b", **SIZES)
    assert summary.ok
    assert dst.get_content("/b/big") == new
    assert summary.files_resumed == 1
    # The resumed 1 MiB did not verify, so the whole file went again.
    assert summary.bytes_written == 1 * MiB + 3 * MiB


def test_resume_when_the_source_shrank_sends_it_whole(fs: Callable[[str], StorageDriver]) -> None:
    src, dst = mem(), Counting(fs("dst"))
    big_file(src, "/a/big", 3 * MiB)
    dst.fail_write_at = 2 * MiB
    copy(src, "/a", dst, "/b", **SIZES)
    new = big_file(src, "/a/big", 1 * MiB + 5, seed=3)

    summary = copy(src, "/a", dst.inner, "/b", **SIZES)
    assert summary.ok
    assert summary.files_resumed == 0
    assert summary.bytes_written == len(new)
    assert dst.get_content("/b/big") == new


def test_without_verify_a_leftover_upload_is_not_trusted(
    fs: Callable[[str], StorageDriver],
) -> None:
    src, dst = mem(), Counting(fs("dst"))
    data = big_file(src, "/a/big", 3 * MiB)
    dst.fail_write_at = 2 * MiB
    copy(src, "/a", dst, "/b", **SIZES)
    again = Counting(dst.inner)
    summary = copy(src, "/a", again, "/b", verify=False, **SIZES)
    assert summary.ok
    assert again.writers[0] == ("/b/big", False)
    assert summary.bytes_written == len(data)
    assert dst.get_content("/b/big") == data
    assert list(dst.list_uploads()) == []


# -- sync ----------------------------------------------------------------------


def test_sync_with_nothing_to_do_reads_no_contents(fs: Callable[[str], StorageDriver]) -> None:
    src, dst = Counting(fs("src")), Counting(mem())
    populate(src.inner, "/a")
    copy(src, "/a", dst, "/a", **SIZES)
    src.readers = dst.readers = src.get_contents = dst.get_contents = 0
    writes = dst.changes()
    summary = sync(src, "/a", dst, "/a", delete=True, **SIZES)
    assert summary.ok
    assert summary.files_skipped == 123
    assert summary.files_copied == summary.files_deleted == summary.bytes_written == 0
    assert (src.readers, src.get_contents, dst.readers, dst.get_contents) == (0, 0, 0, 0)
    assert dst.changes() == writes


def test_sync_copies_what_changed() -> None:
    src, dst = mem(), mem()
    src.put_content("/a/x", b"one")
    src.put_content("/a/y", b"same")
    sync(src, "/a", dst, "/a")
    src.put_content("/a/x", b"three")  # another size
    summary = sync(src, "/a", dst, "/a")
    assert (summary.files_copied, summary.files_skipped) == (1, 1)
    assert dst.get_content("/a/x") == b"three"


def test_checksum_detects_same_size_newer_destination_with_other_content() -> None:
    src, dst = Counting(mem()), mem()
    src.put_content("/a/x", b"source!")
    src.put_content("/a/same", b"equal")
    time.sleep(0.002)
    dst.put_content("/a/x", b"dest!!!")  # same size, newer
    dst.put_content("/a/same", b"equal")

    assert sync(src, "/a", dst, "/a").files_skipped == 2  # the default rule sees no change
    assert dst.get_content("/a/x") == b"dest!!!"

    events: list[TransferEvent] = []
    summary = sync(src, "/a", dst, "/a", checksum=True, progress=events.append)
    assert summary.ok
    assert (summary.files_copied, summary.files_skipped) == (1, 1)
    assert dst.get_content("/a/x") == b"source!"
    assert [(e.path, e.reason) for e in events if e.kind == "skipped"] == [
        ("/a/same", "same content")
    ]


def test_delete_removes_extras_and_what_is_in_the_way() -> None:
    src, dst = mem(), Counting(mem())
    src.put_content("/a/keep", b"k")
    src.put_content("/a/f", b"a file here")
    src.put_content("/a/d/inner", b"a directory here")
    dst.put_content("/b/keep", b"k")
    dst.put_content("/b/extra", b"e")
    dst.put_content("/b/deep/er/extra", b"e")
    dst.put_content("/b/f/below", b"in the way of the file /b/f")
    dst.put_content("/b/d", b"in the way of the directory /b/d")
    dst.put_content("/outside", b"not below /b")

    assert tree(dst, "/b") != tree(src, "/a")
    kept = sync(src, "/a", dst, "/b")  # no delete: the conflicts fail, extras stay
    assert kept.files_failed == 2
    assert tree(dst, "/b")["/extra"] == b"e"

    summary = sync(src, "/a", dst, "/b", delete=True)
    assert summary.ok, [e.message for e in summary.errors]
    assert summary.files_deleted == 4
    assert tree(dst, "/b") == tree(src, "/a")
    assert dst.get_content("/outside") == b"not below /b"


def test_delete_is_skipped_when_a_file_failed() -> None:
    src, dst = mem(), Counting(mem())
    src.put_content("/a/new", b"n")
    dst.put_content("/a/extra", b"e")
    dst.fail_puts_after = 0
    summary = sync(src, "/a", dst, "/a", delete=True)
    assert summary.files_failed == 1
    assert summary.deletions_skipped
    assert summary.files_deleted == 0
    assert dst.get_content("/a/extra") == b"e"


def test_dry_run_lists_actions_and_writes_nothing() -> None:
    src, dst = mem(), Counting(mem())
    src.put_content("/a/new", b"n")
    src.put_content("/a/big", b"b" * (2 * MiB))
    src.put_content("/a/same", b"s")
    copy(src, "/a/same", dst.inner, "/a/same")
    dst.inner.put_content("/a/extra", b"e")
    before = tree(dst)

    events: list[TransferEvent] = []
    summary = sync(src, "/a", dst, "/a", delete=True, dry_run=True, progress=events.append, **SIZES)
    assert summary.dry_run
    assert [(a.action, a.dest) for a in summary.actions] == [
        ("copy", "/a/big"),
        ("copy", "/a/new"),
        ("delete", "/a/extra"),
    ]
    assert [(e.action, e.dest) for e in events if e.kind == "planned"] == [
        (a.action, a.dest) for a in summary.actions
    ]
    assert summary.files_skipped == 1
    assert summary.files_copied == summary.files_deleted == summary.bytes_written == 0
    assert dst.changes() == 0
    assert tree(dst) == before


def test_dry_run_with_checksum_compares_but_writes_nothing() -> None:
    src, dst = mem(), Counting(mem())
    for name in ("same", "other"):
        src.put_content(f"/a/{name}", b"source")
    time.sleep(0.002)
    dst.inner.put_content("/a/same", b"source")
    dst.inner.put_content("/a/other", b"dest!!")  # same size, newer, other content
    summary = sync(src, "/a", dst, "/a", checksum=True, dry_run=True)
    assert [(a.action, a.dest) for a in summary.actions] == [("copy", "/a/other")]
    assert summary.files_skipped == 1
    assert dst.readers == 2  # both compared
    assert dst.changes() == 0
    assert dst.get_content("/a/other") == b"dest!!"


# -- verification --------------------------------------------------------------


def test_verify_catches_a_corrupting_destination(fs: Callable[[str], StorageDriver]) -> None:
    src, dst = mem(), Counting(fs("dst"))
    src.put_content("/a/small", b"small content")
    big_file(src, "/a/big", 2 * MiB)
    src.put_content("/a/fine", b"fine")
    dst.corrupt = {"/b/small", "/b/big"}
    summary = copy(src, "/a", dst, "/b", **SIZES)
    assert summary.files_failed == 2
    assert summary.files_copied == 1
    assert {e.dest for e in summary.errors} == {"/b/small", "/b/big"}
    assert all(isinstance(e.error, VerificationError) for e in summary.errors)
    messages = {e.dest: e.message for e in summary.errors}
    assert messages["/b/big"].startswith("verification failed for filesystem:/b/big: sha256 ")
    assert messages["/b/big"].endswith("the destination file was removed")
    # Removed, so a rerun cannot take them for finished copies.
    assert tree(dst, "/b") == {"/fine": b"fine"}

    unverified = copy(src, "/a", dst, "/b", verify=False, **SIZES)
    assert unverified.ok  # what verify=False gives up
    assert dst.get_content("/b/small") != b"small content"


# -- parallelism, memory, progress ---------------------------------------------


def test_parallelism_is_bounded_by_jobs() -> None:
    src, dst = Counting(mem()), mem()
    populate(src.inner, "/a", small=30, large=0)
    src.slow = 0.003
    summary = copy(src, "/a", dst, "/a", jobs=3)
    assert summary.ok
    assert src.max_open_readers == 3
    src.max_open_readers = 0
    copy(src, "/a", dst, "/b", jobs=1)
    assert src.max_open_readers == 1


def test_memory_is_bounded_by_the_chunk_size(fs: Callable[[str], StorageDriver]) -> None:
    src, dst = Counting(fs("src")), Counting(mem())
    big_file(src.inner, "/a/huge", 6 * MiB)
    populate(src.inner, "/a", small=10, large=1)
    summary = copy(src, "/a", dst, "/a", **SIZES)
    assert summary.ok
    assert src.max_read <= SIZES["chunk_size"]
    assert dst.max_read <= SIZES["chunk_size"]  # verification reads too
    assert 0 < dst.max_write <= SIZES["chunk_size"]
    assert dst.puts == 10  # only the small files went whole


def test_progress_events_add_up_to_the_summary(fs: Callable[[str], StorageDriver]) -> None:
    src, dst = fs("src"), mem()
    populate(src, "/a", small=20, large=2)
    copy(src, "/a/d1", dst, "/a/d1")  # some already there
    events: list[TransferEvent] = []
    summary = copy(src, "/a", dst, "/a", progress=events.append, **SIZES)

    def count(kind: str) -> int:
        return sum(e.kind == kind for e in events)

    scanned = [e for e in events if e.kind == "scanned"]
    assert len(scanned) == 1
    assert events[0] is scanned[0]
    assert scanned[0].files == summary.files_copied
    assert scanned[0].size == summary.bytes_copied
    assert sum(e.nbytes for e in events if e.kind == "progress") == summary.bytes_written
    assert count("finished") == summary.files_copied == 22 - summary.files_skipped
    assert count("skipped") == summary.files_skipped > 0
    assert count("started") == summary.files_copied
    assert sum(e.size for e in events if e.kind == "skipped") == summary.bytes_skipped
    assert count("failed") == summary.files_failed == 0
    assert isinstance(summary, TransferSummary)
    assert summary.elapsed > 0


def test_a_failing_callback_stops_the_transfer_resumably() -> None:
    src, dst = mem(), Counting(mem())
    data = big_file(src, "/a/big", 3 * MiB)
    src.put_content("/a/small", b"s")

    def broken(event: TransferEvent) -> None:
        if event.kind == "progress" and event.size > MiB:
            raise ValueError("the display broke")

    with pytest.raises(ValueError, match="the display broke"):
        copy(src, "/a", dst, "/b", jobs=1, progress=broken, **SIZES)
    summary = copy(src, "/a", dst, "/b", **SIZES)
    assert summary.ok
    assert summary.files_resumed == 1
    # The first chunk was kept; the small file (walked after) had not started.
    assert summary.bytes_written == (len(data) - SIZES["chunk_size"]) + len(b"s")
    assert dst.get_content("/b/big") == data


def test_failed_events_carry_the_error() -> None:
    src, dst = mem(), Counting(mem())
    src.put_content("/a/x", b"x")
    dst.fail_puts_after = 0
    events: list[TransferEvent] = []
    summary = copy(src, "/a", dst, "/a", progress=events.append)
    failed = [e for e in events if e.kind == "failed"]
    assert len(failed) == 1
    assert failed[0].error is summary.errors[0].error
    assert failed[0].reason == "inmemory: injected put failure"
