"""The wrapper the factory applies to every driver it creates.

It is where the contract's cross-cutting rules live once, instead of in each
driver: path and offset validation, the driver's name in every error,
backend exceptions wrapped with their cause chained, the finished-writer
rules, credentials scrubbed from messages, and the `regstore_operation`
hook around every call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from regstore.driver import Buffer, FileInfo, FileWriter, StorageDriver, UploadInfo
from regstore.errors import (
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriverError,
    UnsupportedMethodError,
    WriterFailedError,
    WriterFinishedError,
)
from regstore.hooks import OperationCall
from regstore.paths import validate_path
from regstore.scrub import Scrubber

if TYPE_CHECKING:
    import pluggy

__all__ = ["ManagedDriver", "ManagedReader", "ManagedWriter"]

T = TypeVar("T")
REDIRECT_METHODS = ("GET", "HEAD")


class _Guard:
    """Runs operations for one driver: the hook, error wrapping, scrubbing."""

    def __init__(self, name: str, hook: pluggy.HookRelay | None, secrets: Sequence[str]) -> None:
        self.name = name
        self._hook = hook
        self._scrubber = Scrubber(secrets)

    def call(
        self,
        operation: str,
        path: str | None,
        run: Callable[[], T],
        count_bytes: Callable[[T], int | None] | None = None,
    ) -> T:
        hook = self._hook
        failure: BaseException | None = None
        if hook is None or len(hook.regstore_operation.get_hookimpls()) <= 1:
            # Only core's runner is registered: skip pluggy on the hot path.
            try:
                return run()
            except Exception as err:  # noqa: BLE001  (translated and raised below)
                failure = err
        else:
            call = OperationCall(self.name, operation, path, run, count_bytes)
            hook.regstore_operation(call=call)
            if call.error is None:
                return call.result  # type: ignore[no-any-return]
            failure = call.error
        raise self.translate(failure, operation, path)

    def translate(self, err: BaseException, operation: str, path: str | None) -> BaseException:
        """The error to raise for `err`: a `StorageDriverError` naming this
        driver, its cause chained, every credential scrubbed from it and
        from the chain. Raise the result outside the `except` block that
        caught `err` (or the chain gains an unscrubbed `__context__`)."""
        unsupported = isinstance(err, NotImplementedError)
        err = self._scrubber.exception(err)
        if isinstance(err, StorageDriverError):
            if not err.driver_name:
                err.driver_name = self.name
            err.detail = self.scrub(err.detail)
            return err
        if unsupported:
            translated: StorageDriverError = UnsupportedMethodError(
                operation, driver_name=self.name
            )
        else:
            where = f" {path}" if path else ""
            detail = f"{operation}{where} failed: {type(err).__name__}: {err}"
            translated = StorageDriverError(self.scrub(detail), driver_name=self.name)
        translated.__cause__ = err
        return translated

    def scrub(self, text: str) -> str:
        return self._scrubber.text(text)

    def run(self, operation: str, path: str, call: Callable[[], T]) -> T:
        """`call()` with its error translated, without the hook (per-byte
        calls: write, read)."""
        try:
            return call()
        except Exception as err:  # noqa: BLE001  (translated and raised below)
            failure: BaseException = err
        raise self.translate(failure, operation, path)


class ManagedDriver(StorageDriver):
    """A driver as the factory returns it: `inner` with the contract's
    checks around every call. Third-party code can wrap its own driver the
    same way with `ManagedDriver(driver, name=...)` (the suite does)."""

    def __init__(
        self,
        inner: StorageDriver,
        *,
        name: str,
        hook: pluggy.HookRelay | None = None,
        params: dict[str, object] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self._inner = inner
        self.name = name
        inner.name = name
        self.capabilities = inner.capabilities
        self._guard = _Guard(name, hook, secrets)
        self._shown_params = params or {}

    @property
    def inner(self) -> StorageDriver:
        """The driver behind the checks (for driver-specific methods)."""
        return self._inner

    def __getattr__(self, attr: str) -> Any:
        # Driver-specific extras (an s3 driver's abort of stale uploads, say)
        # stay reachable through the wrapper.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._inner, attr)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self._shown_params.items()))
        return f"<{type(self._inner).__name__} {self.name!r} {shown}>".replace(" >", ">")

    def _path(self, path: object, *, allow_root: bool = False) -> str:
        return validate_path(path, allow_root=allow_root, driver_name=self.name)

    def _kind(self, path: str) -> str | None:
        """ "file", "directory" or None (absent, or stat failed): for the
        messages of errors that would otherwise only say "not found"."""
        try:
            info = self._inner.stat(path)
        except Exception:  # noqa: BLE001  (only a better message is at stake)
            return None
        return "directory" if info.is_dir else "file"

    def _not_a(self, err: PathNotFoundError, operation: str, path: str, wanted: str) -> None:
        """Raise a `PathNotFoundError` that says what is wrong when `path`
        exists but is not a `wanted` ("list /a: /a is a file, not a
        directory"), the same words whatever the driver; else return."""
        kind = self._kind(path)
        if kind is not None and kind != wanted:
            raise PathNotFoundError(
                path,
                driver_name=self.name,
                detail=f"{operation} {path}: {path} is a {kind}, not a {wanted}",
            ) from err

    def get_content(self, path: str) -> bytes:
        path = self._path(path)
        try:
            return self._guard.call("get_content", path, lambda: self._inner.get_content(path), len)
        except PathNotFoundError as err:
            self._not_a(err, "get_content", path, "file")
            raise

    def put_content(self, path: str, data: Buffer) -> None:
        path = self._path(path)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise StorageDriverError(
                f"put_content {path}: data must be bytes-like, not {type(data).__name__}",
                driver_name=self.name,
            )
        size = memoryview(data).nbytes
        self._guard.call(
            "put_content", path, lambda: self._inner.put_content(path, data), lambda _: size
        )

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        path = self._path(path)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidOffsetError(path, offset, driver_name=self.name)
        try:
            stream = self._guard.call("reader", path, lambda: self._inner.reader(path, offset))
        except PathNotFoundError as err:
            self._not_a(err, "reader", path, "file")
            raise

        def reopen(position: int) -> BinaryIO:
            return self._guard.call("reader", path, lambda: self._inner.reader(path, position))

        def size() -> int:
            return self._guard.call("stat", path, lambda: self._inner.stat(path)).size

        return ManagedReader(  # type: ignore[return-value]
            stream, path, self._guard, offset=offset, reopen=reopen, size=size
        )

    def writer(self, path: str, append: bool = False) -> FileWriter:
        path = self._path(path)
        inner = self._guard.call("writer", path, lambda: self._inner.writer(path, append=append))
        return ManagedWriter(inner, path, self._guard)

    def stat(self, path: str) -> FileInfo:
        path = self._path(path, allow_root=True)
        return self._guard.call("stat", path, lambda: self._inner.stat(path))

    def list(self, path: str) -> list[str]:
        path = self._path(path, allow_root=True)
        try:
            return self._guard.call("list", path, lambda: self._inner.list(path))
        except PathNotFoundError as err:
            if path != "/":
                self._not_a(err, "list", path, "directory")
            raise

    def move(self, source: str, dest: str) -> None:
        source = self._path(source)
        dest = self._path(dest)
        try:
            self._guard.call("move", source, lambda: self._inner.move(source, dest))
        except StorageDriverError as err:
            if self._kind(source) == "directory":
                # Each driver refuses in its own words; say it one way, and
                # keep the class the driver chose (a PathNotFoundError for
                # "no file there" stays one, for callers that catch it).
                detail = f"move {source}: {source} is a directory; only files can be moved"
                if isinstance(err, PathNotFoundError):
                    raise PathNotFoundError(source, driver_name=self.name, detail=detail) from err
                raise StorageDriverError(detail, driver_name=self.name) from err
            raise

    def delete(self, path: str) -> None:
        path = self._path(path)
        self._guard.call("delete", path, lambda: self._inner.delete(path))

    def redirect_url(
        self, path: str, method: str = "GET", *, client_ip: str | None = None
    ) -> str | None:
        # client_ip is for middleware; the driver never sees it.
        del client_ip
        path = self._path(path)
        if method not in REDIRECT_METHODS:
            raise StorageDriverError(
                f"redirect_url {path}: method must be GET or HEAD, not {method!r}",
                driver_name=self.name,
            )
        return self._guard.call(
            "redirect_url", path, lambda: self._inner.redirect_url(path, method=method)
        )

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        if not isinstance(older_than, dt.timedelta) or older_than < dt.timedelta(0):
            raise StorageDriverError(
                f"purge_uploads: older_than must be a non-negative timedelta, not {older_than!r}",
                driver_name=self.name,
            )
        return self._guard.call(
            "purge_uploads",
            None,
            lambda: self._inner.purge_uploads(
                older_than, include_foreign=include_foreign, dry_run=dry_run
            ),
        )

    def list_uploads(self) -> Iterator[UploadInfo]:
        uploads = self._guard.call("list_uploads", None, lambda: iter(self._inner.list_uploads()))
        return self._iterate("list_uploads", uploads, None)

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        path = self._path(path, allow_root=True)
        if start_after is not None:
            start_after = self._path(start_after)
        entries = self._guard.call(
            "walk",
            path,
            lambda: iter(self._inner.walk(path, start_after=start_after, prune=prune)),
        )
        return self._iterate("walk", entries, path)

    def _iterate(self, operation: str, items: Iterator[T], path: str | None) -> Iterator[T]:
        # Generators raise lazily: translate what they raise while iterating.
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001  (translated and raised below)
                failure: BaseException = err
            else:
                yield item
                continue
            raise self._guard.translate(failure, operation, path)


#: Positions passed on to a driver's own seek are capped here: files and
#: BytesIO refuse offsets beyond what off_t holds, and no object is this
#: large, so a read there is empty either way. `tell()` keeps the real one.
_SEEK_CAP = 1 << 62


class ManagedReader(io.BufferedIOBase):
    """A driver's reader with errors translated and bytes counted (the
    `reader.close` operation reports the bytes read), and seekable.

    Seeking: where the driver's stream is seekable itself (a local file, the
    s3 driver's ranged stream, which keeps its version pin), the seek goes
    to it. Otherwise the stream is closed and a new one opened at the new
    position, lazily, on the next read: a remote driver then sends one
    ranged request, never a re-download from the start. Such a reopen can
    see a newer version of the object, so drivers whose reader pins a
    version should make their stream seekable.
    """

    def __init__(
        self,
        inner: BinaryIO,
        path: str,
        guard: _Guard,
        *,
        offset: int = 0,
        reopen: Callable[[int], BinaryIO] | None = None,
        size: Callable[[], int] | None = None,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._path = path
        self._guard = guard
        self._nbytes = 0
        self._pos = offset
        #: Where the inner stream stands, when it differs from _pos (a seek
        #: not yet carried out); None when they agree.
        self._pending: int | None = None
        self._reopen = reopen
        self._size = size
        self._native = self._inner_seekable()

    def _inner_seekable(self) -> bool:
        try:
            return bool(self._inner.seekable())
        except (AttributeError, ValueError):
            return False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"seek offset must be an int, not {type(offset).__name__}")
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._end() + offset
        else:
            raise ValueError(f"seek: whence must be SEEK_SET, SEEK_CUR or SEEK_END, not {whence!r}")
        if target < 0:
            raise ValueError(f"seek {self._path}: negative position {target}")
        if target != self._pos:
            self._pending = target
            self._pos = target
        return target

    def _end(self) -> int:
        """The object's size, for SEEK_END: from the driver's own stream
        where it can seek, otherwise one `stat`."""
        if self._native:

            def size_from_stream() -> int:
                end = int(self._inner.seek(0, io.SEEK_END))
                self._pending = self._pos  # the stream moved; go back on read
                return end

            return self._guard.run("seek", self._path, size_from_stream)
        if self._size is None:
            raise io.UnsupportedOperation("seek from the end needs the object's size")
        return self._size()

    def _settle(self) -> None:
        """Carry out a pending seek before reading."""
        target = self._pending
        if target is None:
            return
        if self._native:
            self._guard.run("seek", self._path, lambda: self._seek_inner(target))
        elif self._reopen is not None:
            reopen = self._reopen
            old = self._inner
            self._inner = reopen(target)
            with contextlib.suppress(Exception):
                old.close()
        else:
            raise io.UnsupportedOperation(f"{self._path}: this reader cannot seek")
        self._pending = None

    def _seek_inner(self, target: int) -> None:
        """Move the driver's own stream. A file refuses positions past what
        its filesystem can hold (EINVAL, OverflowError): a read there is
        empty, as it is at the end, so go to the end instead."""
        try:
            self._inner.seek(min(target, _SEEK_CAP))
        except (OverflowError, OSError):
            end = int(self._inner.seek(0, io.SEEK_END))
            if target < end:
                raise

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed reader")

    def read(self, size: int | None = -1) -> bytes:
        self._settle()
        data = self._guard.run(
            "read", self._path, lambda: self._inner.read(-1 if size is None else size)
        )
        self._nbytes += len(data)
        self._pos += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        self._settle()
        n = self._guard.run("read", self._path, lambda: self._inner.readinto(buffer))  # type: ignore[attr-defined]
        count = int(n or 0)
        self._nbytes += count
        self._pos += count
        return count

    def readinto1(self, buffer: Buffer) -> int:  # type: ignore[override]
        return self.readinto(buffer)

    def close(self) -> None:
        if self.closed:
            return
        nbytes = self._nbytes
        try:
            self._guard.call("reader.close", self._path, self._inner.close, lambda _: nbytes)
        finally:
            super().close()


class ManagedWriter(FileWriter):
    """A driver's writer with the finished-writer rules enforced: after
    commit, cancel or close, write/commit/cancel raise
    `WriterFinishedError`; close after any of them is a no-op.

    Failures: a `commit()`, `close()` or `cancel()` that raises leaves the
    writer as it was, so the caller may call it again (drivers keep what a
    retry needs until the call succeeds). A `write()` that raises may have
    stored part of its bytes, so nothing written after it could be trusted:
    the writer then refuses `write()` and `commit()` (`WriterFailedError`);
    `close()` keeps what reached storage and `writer(path, append=True)`
    reports exactly how much in `size`, as a registry's client asks for the
    offset after a failed PATCH; or `cancel()` discards the upload.
    """

    def __init__(self, inner: FileWriter, path: str, guard: _Guard) -> None:
        self._inner = inner
        self._path = path
        self._guard = guard
        self._state: str | None = None  # None while open
        self._failed = False

    @property
    def size(self) -> int:
        return self._inner.size

    def _check_open(self) -> None:
        if self._state is not None:
            raise WriterFinishedError(self._path, self._state, driver_name=self._guard.name)

    def _check_usable(self) -> None:
        self._check_open()
        if self._failed:
            raise WriterFailedError(self._path, driver_name=self._guard.name)

    def write(self, data: Buffer) -> int:
        self._check_usable()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise StorageDriverError(
                f"write {self._path}: data must be bytes-like, not {type(data).__name__}",
                driver_name=self._guard.name,
            )
        try:
            return self._guard.run("write", self._path, lambda: self._inner.write(data))
        except BaseException:
            self._failed = True
            raise

    def commit(self) -> None:
        self._check_usable()
        self._guard.call("writer.commit", self._path, self._inner.commit, lambda _: self.size)
        self._state = "committed"

    def cancel(self) -> None:
        self._check_open()
        self._guard.call("writer.cancel", self._path, self._inner.cancel)
        self._state = "cancelled"

    def close(self) -> None:
        if self._state is not None:
            return
        self._guard.call("writer.close", self._path, self._inner.close, lambda _: self.size)
        self._state = "closed"
