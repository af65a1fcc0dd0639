"""Making a driver's storage steps fail on demand, for the failure cases.

The suite's failure cases need one way, whatever the driver, to say "let
the next N steps through, then fail every step" (to reach each failure point
of an operation in turn) and "fail steps at random at this rate" (a harsh
environment). A `FaultInjector` says exactly that; three kinds implement it:

- `ProxyFaults`: drivers that speak HTTP (s3, azure, gcs) declare the
  parameter holding their endpoint (`DriverSpec.endpoint_parameter`); the
  suite points it at a loopback `FaultProxy` and a step is one request.
  Faults are 500s and connections reset mid-request or mid-response (the
  request may then have taken effect: a lost reply).
- `OSFaults`: local drivers declare the modules through whose `os` name
  they change storage (`DriverSpec.fault_modules`); the suite swaps that
  name for a stand-in whose mutating calls (open for writing, write, fsync,
  truncate, rename, mkdir, unlink, ...) fail with ENOSPC or EIO, or write
  only part of the bytes, so the driver's real code meets a full disk.
- `OperationFaults`: any driver, at the boundary of its methods (the
  suite wraps the driver): a step is one call of a driver or writer method;
  the fault either refuses the call or lets it run and then raises (the
  reply was lost). It is the fallback for drivers that declare neither of
  the above, and it checks the caller-visible rules for every driver.

Injectors count `steps` (what they could have failed since arming) and
`injected` (what they did fail), so a test can prove it reached the failure
it meant to.
"""

from __future__ import annotations

import errno
import importlib
import json
import random
import threading
import types
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from regstore.driver import Buffer, FileInfo, FileWriter, StorageDriver, UploadInfo
from regstore.testing.faults import FaultProxy

__all__ = [
    "FaultInjector",
    "InjectedFaultError",
    "OSFaults",
    "OperationFaults",
    "ProxyFaults",
]


class InjectedFaultError(Exception):
    """What `OperationFaults` raises in place of a driver's own failure."""

    body: bytes = b""


class FaultInjector:
    """Fails a driver's storage steps on demand (see the module docstring).

    Unarmed it lets everything through. `fail_after(n)` lets the next `n`
    steps through and fails every later one until `disarm()`;
    `fail_once_at(n)` fails only the step after those `n`;
    `fail_randomly(rate, seed)` fails each step with probability `rate`.
    """

    #: The kinds of fault this injector can make; `fail_after` and
    #: `fail_randomly` take one of them, or None for the default mix.
    kinds: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode: str | None = None  # None, "after", "random"
        self._allowed = 0
        self._rate = 0.0
        self._rng = random.Random(0)
        self._kind: str | None = None
        self.steps = 0
        self.injected = 0

    # -- arming -------------------------------------------------------------

    def fail_after(self, steps: int, kind: str | None = None) -> None:
        """Let `steps` steps through, then fail every step with `kind`."""
        self._check_kind(kind)
        with self._lock:
            self._mode, self._allowed, self._kind = "after", steps, kind
            self.steps = self.injected = 0

    def fail_once_at(self, steps: int, kind: str | None = None) -> None:
        """Let `steps` steps through, fail the next one with `kind`, then let
        everything through again: a single transient fault, which a driver
        must either survive exactly or report."""
        self._check_kind(kind)
        with self._lock:
            self._mode, self._allowed, self._kind = "once", steps, kind
            self.steps = self.injected = 0

    def fail_randomly(self, rate: float, seed: int, kind: str | None = None) -> None:
        """Fail each step with probability `rate` (repeatably, by `seed`)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], not {rate}")
        self._check_kind(kind)
        with self._lock:
            self._mode, self._rate, self._kind = "random", rate, kind
            self._rng = random.Random(seed)
            self.steps = self.injected = 0

    def disarm(self) -> None:
        """Let everything through again (counts are kept)."""
        with self._lock:
            self._mode = None

    def _check_kind(self, kind: str | None) -> None:
        if kind is not None and kind not in self.kinds:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(self.kinds)}")

    def choose(self) -> str | None:
        """Count one step and decide its fate: a fault kind, or None."""
        with self._lock:
            if self._mode is None:
                return None
            self.steps += 1
            if self._mode == "after":
                fail = self.steps > self._allowed
            elif self._mode == "once":
                fail = self.steps == self._allowed + 1
            else:
                fail = self._rng.random() < self._rate
            if not fail:
                return None
            self.injected += 1
            return self._kind or self._rng.choice(self.kinds)

    # -- lifecycle ----------------------------------------------------------

    def install(self) -> None:
        """Put the injector in place (before the driver is created)."""

    def uninstall(self) -> None:
        """Remove it again."""

    def wrap(self, driver: StorageDriver) -> StorageDriver:
        """The driver as the test should use it (the inner driver, before
        the contract's wrapper is applied)."""
        return driver

    def params(self, params: dict[str, object]) -> dict[str, object]:
        """The parameters a driver under this injector is created with."""
        return params


# -- HTTP: the fault proxy -------------------------------------------------------


class ProxyFaults(FaultInjector):
    """Faults on the requests between a driver and its service."""

    kinds = ("500", "reset-request", "reset-response")

    def __init__(self, parameter: str, upstream: str) -> None:
        super().__init__()
        self.parameter = parameter
        self.upstream = upstream
        self.proxy = FaultProxy(upstream, rate=0.0, stall_seconds=1.0)
        self.proxy.decide = self.choose

    def install(self) -> None:
        self.proxy.start()

    def uninstall(self) -> None:
        self.proxy.stop()

    def params(self, params: dict[str, object]) -> dict[str, object]:
        # The upstream's path is kept: an endpoint may name more than a host
        # (Azurite's path-style `http://127.0.0.1:PORT/devstoreaccount1`), and
        # the proxy forwards request targets unchanged.
        path = urllib.parse.urlsplit(self.upstream).path.rstrip("/")
        return {**params, self.parameter: self.proxy.endpoint + path}


# -- local: the os module as a driver sees it --------------------------------------

_WRITE_FLAGS = 0
for _flag in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"):
    _WRITE_FLAGS |= getattr(__import__("os"), _flag, 0)

#: The os functions that change storage, by what a full disk does to them.
_MUTATING = (
    "write",
    "pwrite",
    "writev",
    "fsync",
    "fdatasync",
    "ftruncate",
    "truncate",
    "replace",
    "rename",
    "link",
    "mkdir",
    "makedirs",
    "unlink",
    "remove",
    "rmdir",
    "posix_fallocate",
)


class OSFaults(FaultInjector):
    """Faults in the `os` calls of named modules.

    Kinds: ``enospc`` (the call fails with ENOSPC, fsync with EIO as a
    kernel reports a failed writeback), ``eio`` (EIO), ``short-write`` (a
    write or pwrite stores only half of its bytes and says so, as the OS may;
    other calls fail with ENOSPC).
    """

    kinds = ("enospc", "eio", "short-write")

    def __init__(self, modules: tuple[str, ...]) -> None:
        super().__init__()
        if not modules:
            raise ValueError("OSFaults needs at least one module")
        self.module_names = modules
        self._saved: list[tuple[types.ModuleType, Any]] = []

    def install(self) -> None:
        for name in self.module_names:
            module = importlib.import_module(name)
            real = getattr(module, "os", None)
            if not isinstance(real, types.ModuleType):
                raise RuntimeError(f"{name} has no 'os' module to intercept")
            self._saved.append((module, real))
            module.os = _FaultyOS(real, self)  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        while self._saved:
            module, real = self._saved.pop()
            module.os = real  # type: ignore[attr-defined]


class _FaultyOS(types.ModuleType):
    """Stands in for `os` in a driver module: the mutating calls ask the
    injector first; everything else is the real module's."""

    def __init__(self, real: types.ModuleType, injector: OSFaults) -> None:
        super().__init__("os")
        self._real = real
        self._injector = injector
        for name in _MUTATING:
            function = getattr(real, name, None)
            if function is not None:
                setattr(self, name, self._guarded(name, function))
        self.open = self._guarded_open(real.open)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _fail(self, name: str, kind: str) -> OSError:
        code = errno.EIO if kind == "eio" or name in ("fsync", "fdatasync") else errno.ENOSPC
        return OSError(code, f"{self._real.strerror(code)} (injected into os.{name})")

    def _guarded(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            kind = self._injector.choose()
            if kind is None:
                return function(*args, **kwargs)
            if kind == "short-write" and name in ("write", "pwrite") and len(args) >= 2:
                data = memoryview(args[1]).cast("B")
                if len(data) > 1:
                    return function(args[0], data[: len(data) // 2], *args[2:], **kwargs)
            raise self._fail(name, kind)

        call.__name__ = name
        return call

    def _guarded_open(self, function: Callable[..., int]) -> Callable[..., int]:
        def call(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & _WRITE_FLAGS:
                kind = self._injector.choose()
                if kind is not None:
                    raise self._fail("open", kind)
            return function(path, flags, *args, **kwargs)

        return call


# -- any driver: the method boundary ----------------------------------------------------


class OperationFaults(FaultInjector):
    """Faults at the boundary of a driver's methods. ``refuse``: the call
    raises before the driver sees it; ``lost-reply``: the driver does the
    work, then the call raises as if the reply never came."""

    kinds = ("refuse", "lost-reply")

    def __init__(self, detail: str = "") -> None:
        super().__init__()
        #: Put into every fault's message (raw, repr and JSON-escaped) and
        #: into its chained cause: the suite's secrets check passes a
        #: secret here to see that none of its shapes reaches a user.
        self.detail = detail

    def wrap(self, driver: StorageDriver) -> StorageDriver:
        return _FaultingDriver(driver, self)

    def _fault(self, what: str) -> InjectedFaultError:
        if not self.detail:
            return InjectedFaultError(f"injected fault: {what}")
        detail = self.detail
        shapes = (
            f"{detail} {detail!r} {json.dumps(detail)} {json.dumps(detail, ensure_ascii=False)}"
        )
        fault = InjectedFaultError(f"injected fault: {what}: {shapes}")
        fault.body = self.detail.encode()  # an attribute, as SDK errors carry responses
        fault.__cause__ = OSError(errno.EIO, self.detail)
        return fault

    def run(self, call: Callable[[], Any]) -> Any:
        """`call()` as this injector decides."""
        kind = self.choose()
        if kind == "refuse":
            raise self._fault("call refused")
        result = call()
        if kind == "lost-reply":
            raise self._fault("the reply was lost")
        return result


class _FaultingDriver(StorageDriver):
    """Each storage call of `inner` goes through the injector."""

    def __init__(self, inner: StorageDriver, injector: OperationFaults) -> None:
        self._inner = inner
        self._faults = injector
        self.capabilities = inner.capabilities

    def get_content(self, path: str) -> bytes:
        return self._faults.run(lambda: self._inner.get_content(path))  # type: ignore[no-any-return]

    def put_content(self, path: str, data: Buffer) -> None:
        self._faults.run(lambda: self._inner.put_content(path, data))

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return self._faults.run(lambda: self._inner.reader(path, offset))  # type: ignore[no-any-return]

    def writer(self, path: str, append: bool = False) -> FileWriter:
        inner = self._faults.run(lambda: self._inner.writer(path, append=append))
        return _FaultingWriter(inner, self._faults)

    def stat(self, path: str) -> FileInfo:
        return self._faults.run(lambda: self._inner.stat(path))  # type: ignore[no-any-return]

    def list(self, path: str) -> list[str]:
        return self._faults.run(lambda: self._inner.list(path))  # type: ignore[no-any-return]

    def move(self, source: str, dest: str) -> None:
        self._faults.run(lambda: self._inner.move(source, dest))

    def delete(self, path: str) -> None:
        self._faults.run(lambda: self._inner.delete(path))

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return self._inner.redirect_url(path, method)

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        return self._inner.walk(path, start_after=start_after, prune=prune)

    def purge_uploads(self, older_than: Any, **options: Any) -> int:
        return self._inner.purge_uploads(older_than, **options)

    def list_uploads(self) -> Iterator[UploadInfo]:
        return self._inner.list_uploads()


class _FaultingWriter(FileWriter):
    """A writer whose calls go through the injector. A close, commit or
    cancel that ran but "lost its reply" did finish the driver's writer:
    later calls get what a driver's own bookkeeping would give (close is a
    no-op, the rest raise), as the wrapper would have enforced had it known."""

    def __init__(self, inner: FileWriter, injector: OperationFaults) -> None:
        self._inner = inner
        self._faults = injector
        self._finished: str | None = None

    @property
    def size(self) -> int:
        return self._inner.size

    def _finish(self, state: str, call: Callable[[], None]) -> None:
        if self._finished is not None:
            if state == "closed":
                return
            raise InjectedFaultError(f"the writer was {self._finished} already (reply lost)")

        def run() -> None:
            call()
            self._finished = state

        self._faults.run(run)

    def write(self, data: Buffer) -> int:
        if self._finished is not None:
            raise InjectedFaultError(f"the writer was {self._finished} already (reply lost)")
        return self._faults.run(lambda: self._inner.write(data))  # type: ignore[no-any-return]

    def close(self) -> None:
        self._finish("closed", self._inner.close)

    def commit(self) -> None:
        self._finish("committed", self._inner.commit)

    def cancel(self) -> None:
        self._finish("cancelled", self._inner.cancel)
