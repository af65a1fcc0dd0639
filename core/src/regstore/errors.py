"""The error hierarchy of regstore.

Reads like a table of contents: everything a driver raises is a
`StorageDriverError` carrying the driver's name; the few errors that have a
natural builtin meaning also subclass that builtin, so callers that know
nothing of regstore still catch them (`except FileNotFoundError`).

The factory's own errors (unknown driver, bad parameter, conflicting or
incompatible plugins) are `RegstoreError`s: they concern configuration, not a
driver's storage.
"""

from __future__ import annotations

__all__ = [
    "DriverConflictError",
    "DriverNotFoundError",
    "IncompatibleDriverError",
    "InvalidOffsetError",
    "InvalidParameterError",
    "InvalidPathError",
    "PathNotFoundError",
    "RegstoreError",
    "StorageDriverError",
    "UnsupportedMethodError",
    "WriterFinishedError",
]


class RegstoreError(Exception):
    """Base of every error regstore raises."""

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take other constructor arguments than the message they
        # pass to Exception, so the default pickling (cls(*args)) fails;
        # errors must cross process boundaries (pytest-xdist, the CLI's child
        # processes) intact: rebuild from args and attributes instead.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(
    cls: type[RegstoreError], args: tuple[object, ...], state: dict[str, object]
) -> RegstoreError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class StorageDriverError(RegstoreError):
    """An operation of a storage driver failed.

    The message always starts with the driver's name (distribution's
    `storagedriver.Error` does the same), so a log line says which backend
    failed. `driver_name` may be empty while the error travels inside a
    driver; the wrapper the factory applies fills it in before it reaches
    the caller.
    """

    def __init__(self, detail: str, *, driver_name: str = "") -> None:
        self.detail = detail
        self.driver_name = driver_name
        super().__init__(detail)

    def __str__(self) -> str:
        if self.driver_name:
            return f"{self.driver_name}: {self.detail}"
        return self.detail


class PathNotFoundError(StorageDriverError, FileNotFoundError):
    """No object or directory exists at `path`."""

    def __init__(self, path: str, *, driver_name: str = "", detail: str | None = None) -> None:
        self.path = path
        StorageDriverError.__init__(
            self, detail or f"path not found: {path}", driver_name=driver_name
        )

    # OSError computes its own str() from errno/strerror; ours wins.
    __str__ = StorageDriverError.__str__


class InvalidPathError(StorageDriverError, ValueError):
    """`path` breaks the path rules (see `regstore.paths`)."""

    def __init__(self, path: str, *, driver_name: str = "", reason: str = "") -> None:
        self.path = path
        self.reason = reason
        detail = f"invalid path: {path!r}"
        if reason:
            detail += f" ({reason})"
        super().__init__(detail, driver_name=driver_name)


class InvalidOffsetError(StorageDriverError, ValueError):
    """A negative (or otherwise impossible) offset for `path`."""

    def __init__(self, path: str, offset: int, *, driver_name: str = "") -> None:
        self.path = path
        self.offset = offset
        super().__init__(f"invalid offset {offset} for path {path}", driver_name=driver_name)


class UnsupportedMethodError(StorageDriverError, NotImplementedError):
    """The driver cannot do this operation (for example a redirect)."""

    def __init__(self, method: str, *, driver_name: str = "") -> None:
        self.method = method
        super().__init__(f"unsupported method: {method}", driver_name=driver_name)


class WriterFinishedError(StorageDriverError):
    """A write, commit or cancel on a writer that was already committed,
    cancelled or closed."""

    def __init__(self, path: str, state: str, *, driver_name: str = "") -> None:
        self.path = path
        self.state = state
        super().__init__(f"writer for {path} is already {state}", driver_name=driver_name)


class WriterFailedError(WriterFinishedError):
    """A write or commit on a writer whose earlier `write()` failed: part of
    those bytes may be stored, so the writer cannot go on. Close it and
    resume with `writer(path, append=True)` (its `size` says exactly what
    was kept), or cancel it."""

    def __init__(self, path: str, *, driver_name: str = "") -> None:
        self.path = path
        self.state = "failed"
        StorageDriverError.__init__(
            self,
            f"an earlier write to {path} failed: close() and resume with "
            "writer(path, append=True), whose size says what was kept, or cancel()",
            driver_name=driver_name,
        )


class UploadInUseError(StorageDriverError):
    """`writer(path, append=True)` found the upload held by another writer
    (in this process or another) that has not closed, committed or cancelled
    it yet. Two resumers of one upload would interleave their bytes, so the
    second is refused; it may retry once the first is done."""

    def __init__(self, path: str, *, driver_name: str = "") -> None:
        self.path = path
        super().__init__(
            f"the upload to {path} is in use by another writer; retry when it is closed",
            driver_name=driver_name,
        )


class DriverNotFoundError(RegstoreError, LookupError):
    """No driver is installed or registered under `name`."""

    def __init__(self, name: str, installed: list[str], install_hint: str | None = None) -> None:
        self.name = name
        self.installed = sorted(installed)
        self.install_hint = install_hint
        listed = ", ".join(self.installed) if self.installed else "none"
        message = f"no storage driver named {name!r} (installed: {listed})"
        if install_hint:
            message += f"; install it with: {install_hint}"
        super().__init__(message)

    def __str__(self) -> str:
        # LookupError's str() would quote the message like a dict key.
        return str(self.args[0])


class DriverConflictError(RegstoreError):
    """Two sources claim one driver name; regstore refuses to pick a winner."""

    def __init__(self, name: str, first: str, second: str) -> None:
        self.name = name
        self.sources = (first, second)
        super().__init__(
            f"storage driver {name!r} is provided twice: by {first} and by {second}; "
            "uninstall one of them"
        )


class IncompatibleDriverError(RegstoreError):
    """A plugin was built for a core API version this regstore cannot serve."""

    def __init__(self, name: str, source: str, wanted: str, have: str) -> None:
        self.name = name
        self.wanted = wanted
        self.have = have
        major = have.split(".", maxsplit=1)[0]
        super().__init__(
            f"storage driver {name!r} from {source} targets regstore API {wanted}, "
            f"but this regstore provides API {have}; install a release of the plugin "
            f"built for API {major}.x, or a regstore that provides {wanted}"
        )


class InvalidParameterError(RegstoreError, ValueError):
    """A driver parameter is unknown or has a value the driver cannot use.

    The message names the key and what is allowed; a secret parameter's value
    never appears in it.
    """

    def __init__(self, driver_name: str, key: str, message: str) -> None:
        self.driver_name = driver_name
        self.key = key
        #: What is wrong, without the driver and key.
        self.reason = message
        super().__init__(f"{driver_name}: parameter {key!r}: {message}")
