"""The wrapper every created driver wears: paths, offsets, error wrapping,
scrubbing, finished writers, redirect methods, repr."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pytest

from regstore import (
    DriverRegistry,
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    InvalidPathError,
    ManagedDriver,
    Parameter,
    PathNotFoundError,
    StorageDriver,
    StorageDriverError,
    UnsupportedMethodError,
    WriterFinishedError,
)
from regstore_inmemory.driver import InMemoryDriver

SECRET = "s3cr3t-Value-42"


class RecordingDriver(InMemoryDriver):
    """The real inmemory driver, recording which paths reach it and
    raising `fail` (if set) from every operation."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []
        self.fail: BaseException | None = None

    def _note(self, op: str, path: str) -> None:
        self.seen.append((op, path))
        if self.fail is not None:
            raise self.fail

    def get_content(self, path: str) -> bytes:
        self._note("get_content", path)
        return super().get_content(path)

    def put_content(self, path: str, data: Any) -> None:
        self._note("put_content", path)
        super().put_content(path, data)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        self._note("reader", path)
        return super().reader(path, offset)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        self._note("writer", path)
        return super().writer(path, append)

    def stat(self, path: str) -> FileInfo:
        self._note("stat", path)
        return super().stat(path)

    def list(self, path: str) -> list[str]:
        self._note("list", path)
        return super().list(path)

    def move(self, source: str, dest: str) -> None:
        self._note("move", source)
        super().move(source, dest)

    def delete(self, path: str) -> None:
        self._note("delete", path)
        super().delete(path)

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        self._note("redirect_url", path)
        return None

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        self._note("walk", path)
        return super().walk(path, start_after=start_after, prune=prune)


@pytest.fixture
def inner() -> RecordingDriver:
    return RecordingDriver()


@pytest.fixture
def driver(inner: RecordingDriver) -> ManagedDriver:
    return ManagedDriver(inner, name="rec", secrets=[SECRET])


CALLS: dict[str, Callable[[StorageDriver, Any], object]] = {
    "get_content": lambda d, p: d.get_content(p),
    "put_content": lambda d, p: d.put_content(p, b"x"),
    "reader": lambda d, p: d.reader(p),
    "writer": lambda d, p: d.writer(p),
    "stat": lambda d, p: d.stat(p),
    "list": lambda d, p: d.list(p),
    "move source": lambda d, p: d.move(p, "/ok"),
    "move dest": lambda d, p: d.move("/ok", p),
    "delete": lambda d, p: d.delete(p),
    "redirect_url": lambda d, p: d.redirect_url(p),
    "walk": lambda d, p: list(d.walk(p)),
}
ROOT_ALLOWED = {"stat", "list", "walk"}


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("path", ["", "a", "/a/", "//", "/a/../b", "/.", "/a b", None])
def test_invalid_paths_never_reach_driver(
    driver: ManagedDriver, inner: RecordingDriver, method: str, path: object
) -> None:
    inner.put_content("/ok", b"1")
    inner.seen.clear()
    with pytest.raises(InvalidPathError) as info:
        CALLS[method](driver, path)
    assert str(info.value).startswith("rec: ")
    assert inner.seen == []


@pytest.mark.parametrize("method", sorted(CALLS))
def test_root_only_for_list_stat_walk(
    driver: ManagedDriver, inner: RecordingDriver, method: str
) -> None:
    inner.put_content("/ok", b"1")
    inner.seen.clear()
    if method in ROOT_ALLOWED:
        CALLS[method](driver, "/")
        assert inner.seen
        assert inner.seen[0][1] == "/"
    else:
        with pytest.raises(InvalidPathError, match="root is not allowed"):
            CALLS[method](driver, "/")
        assert inner.seen == []


def test_walk_start_after_validated(driver: ManagedDriver) -> None:
    driver.put_content("/a/b", b"1")
    with pytest.raises(InvalidPathError):
        list(driver.walk("/", start_after="a/b"))
    assert [i.path for i in driver.walk("/", start_after="/a")] == ["/a/b"]


@pytest.mark.parametrize("offset", [-1, -(2**40), 1.5, "3", True, None])
def test_bad_offsets(driver: ManagedDriver, inner: RecordingDriver, offset: Any) -> None:
    driver.put_content("/f", b"0123")
    inner.seen.clear()
    with pytest.raises(InvalidOffsetError) as info:
        driver.reader("/f", offset)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == "/f"
    assert err.offset == offset
    assert str(err).startswith("rec: ")
    assert inner.seen == []


def test_offsets_at_and_past_end(driver: ManagedDriver) -> None:
    driver.put_content("/f", b"0123")
    with driver.reader("/f", 2) as r:
        assert r.read() == b"23"
    with driver.reader("/f", 4) as r:
        assert r.read() == b""
    with driver.reader("/f", 100) as r:
        assert r.read() == b""


def test_backend_exception_wrapped_with_cause(
    driver: ManagedDriver, inner: RecordingDriver
) -> None:
    cause = ConnectionResetError("peer went away")
    inner.fail = cause
    with pytest.raises(StorageDriverError) as info:
        driver.get_content("/x")
    err = info.value
    assert err.__cause__ is cause
    assert err.driver_name == "rec"
    assert str(err) == "rec: get_content /x failed: ConnectionResetError: peer went away"


def test_driver_error_gets_name(driver: ManagedDriver) -> None:
    with pytest.raises(PathNotFoundError) as info:
        driver.get_content("/absent")
    assert info.value.driver_name == "rec"
    assert str(info.value) == "rec: path not found: /absent"
    assert info.value.path == "/absent"


def test_secrets_scrubbed_from_wrapped_messages(
    driver: ManagedDriver, inner: RecordingDriver
) -> None:
    inner.fail = PermissionError(f"signature mismatch for key {SECRET} (and {SECRET})")
    with pytest.raises(StorageDriverError) as info:
        driver.stat("/x")
    assert SECRET not in str(info.value)
    assert "signature mismatch for key *** (and ***)" in str(info.value)

    inner.fail = StorageDriverError(f"denied: {SECRET}")
    with pytest.raises(StorageDriverError) as info2:
        driver.list("/")
    assert SECRET not in str(info2.value)
    assert str(info2.value) == "rec: denied: ***"


def test_not_implemented_becomes_unsupported(driver: ManagedDriver, inner: RecordingDriver) -> None:
    inner.fail = NotImplementedError()
    with pytest.raises(UnsupportedMethodError) as info:
        driver.move("/a", "/b")
    assert isinstance(info.value, NotImplementedError)
    assert info.value.method == "move"
    assert str(info.value) == "rec: unsupported method: move"


def test_walk_errors_translated_lazily(driver: ManagedDriver) -> None:
    with pytest.raises(PathNotFoundError) as info:
        list(driver.walk("/absent"))
    assert info.value.driver_name == "rec"


class _FailingStream(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise TimeoutError(f"read timed out using {SECRET}")


class _StreamDriver(InMemoryDriver):
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return _FailingStream()  # type: ignore[return-value]


def test_reader_errors_translated() -> None:
    driver = ManagedDriver(_StreamDriver(), name="strm", secrets=[SECRET])
    with driver.reader("/x") as stream:
        with pytest.raises(StorageDriverError) as info:
            stream.read(10)
        assert isinstance(info.value.__cause__, TimeoutError)
        assert str(info.value).startswith("strm: read /x failed: TimeoutError")
        assert SECRET not in str(info.value)
        with pytest.raises(StorageDriverError):
            stream.readinto(bytearray(4))  # type: ignore[attr-defined]


def test_put_content_rejects_non_bytes(driver: ManagedDriver, inner: RecordingDriver) -> None:
    with pytest.raises(StorageDriverError, match="data must be bytes-like, not str"):
        driver.put_content("/x", "text")  # type: ignore[arg-type]
    assert inner.seen == []
    driver.put_content("/mv", memoryview(b"abc"))
    driver.put_content("/ba", bytearray(b"abc"))
    assert driver.get_content("/mv") == driver.get_content("/ba") == b"abc"


# -- finished writers ---------------------------------------------------------


def _finish(writer: FileWriter, how: str) -> None:
    getattr(writer, how)()


@pytest.mark.parametrize(
    ("how", "state"), [("commit", "committed"), ("cancel", "cancelled"), ("close", "closed")]
)
@pytest.mark.parametrize("then", ["write", "commit", "cancel"])
def test_finished_writer_refuses(driver: ManagedDriver, how: str, state: str, then: str) -> None:
    writer = driver.writer("/w")
    writer.write(b"abc")
    _finish(writer, how)
    action = (lambda: writer.write(b"more")) if then == "write" else getattr(writer, then)
    with pytest.raises(WriterFinishedError) as info:
        action()
    assert info.value.state == state
    assert info.value.path == "/w"
    assert str(info.value) == f"rec: writer for /w is already {state}"
    writer.close()  # close after anything is a no-op


def test_writer_lifecycle(driver: ManagedDriver) -> None:
    with driver.writer("/w") as writer:
        assert writer.write(b"abc") == 3
        assert writer.size == 3
    with pytest.raises(PathNotFoundError):
        driver.get_content("/w")  # closed, not committed: nothing visible
    resumed = driver.writer("/w", append=True)
    assert resumed.size == 3
    resumed.write(b"def")
    resumed.commit()
    resumed.close()
    assert driver.get_content("/w") == b"abcdef"


def test_writer_rejects_non_bytes(driver: ManagedDriver) -> None:
    writer = driver.writer("/w")
    with pytest.raises(StorageDriverError, match="must be bytes-like"):
        writer.write("text")  # type: ignore[arg-type]
    writer.cancel()


# -- redirect, repr -------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "get", ""])
def test_redirect_method_must_be_get_or_head(
    driver: ManagedDriver, inner: RecordingDriver, method: str
) -> None:
    with pytest.raises(StorageDriverError, match="method must be GET or HEAD") as info:
        driver.redirect_url("/x", method=method)
    assert str(info.value).startswith("rec: ")
    assert inner.seen == []


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_redirect_get_head(driver: ManagedDriver, method: str) -> None:
    assert driver.redirect_url("/x", method=method) is None


def test_created_driver_repr_and_errors_hide_secret() -> None:
    registry = DriverRegistry()

    class LeakyDriver(InMemoryDriver):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

        def get_content(self, path: str) -> bytes:
            raise RuntimeError(f"auth header was 'Bearer {self.key}'")

    registry.register(
        "leaky",
        lambda params: LeakyDriver(params["accountkey"]),
        parameters=(Parameter("accountkey", secret=True), Parameter("region")),
    )
    driver = registry.create("leaky", {"accountkey": SECRET, "region": "eu-1"})
    assert SECRET not in repr(driver)
    assert "region='eu-1'" in repr(driver)
    assert "accountkey='***'" in repr(driver)
    with pytest.raises(StorageDriverError) as info:
        driver.get_content("/x")
    assert SECRET not in str(info.value)
    assert "Bearer ***" in str(info.value)


def test_extras_reachable_through_wrapper(driver: ManagedDriver, inner: RecordingDriver) -> None:
    assert driver.seen is inner.seen
    assert driver.inner is inner
    with pytest.raises(AttributeError):
        driver._private_thing  # noqa: B018
