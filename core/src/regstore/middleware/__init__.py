"""Storage middleware: drivers that wrap a driver to change what it does.

distribution configures middleware under `middleware: storage:` as a list of
`{name, options, disabled}` entries and wraps the driver in list order, the
last entry outermost. regstore does the same. A middleware is found by name
in the entry-point group `registry.storage_middleware`, as drivers are in
`registry.storage_drivers`; the entry point names a `MiddlewareSpec` (its
options declared as `Parameter`s, so bad options get the same clear errors as
bad driver parameters) and the spec's factory is called with the driver to
wrap and the coerced options.

`redirect` and `rewrite` ship with core and are registered through the same
group (core's own entry points); `cloudfront` is the `regstore-cloudfront`
plugin. `DriverMiddleware` is the base class to write one: it forwards every
call to the wrapped driver, so a middleware overrides only what it changes
(all of distribution's override only `redirect_url`).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from regstore.driver import Buffer, FileInfo, FileWriter, StorageDriver, UploadInfo
from regstore.errors import RegstoreError
from regstore.factory import MIDDLEWARE_GROUP
from regstore.managed import ManagedDriver
from regstore.params import Parameter, coerce_params

__all__ = [
    "MIDDLEWARE_GROUP",
    "DriverMiddleware",
    "MiddlewareFactory",
    "MiddlewareNotFoundError",
    "MiddlewareSpec",
    "apply_middleware",
    "middleware_spec",
    "middlewares",
    "redirect_through",
]

#: Called with the driver to wrap and the middleware's coerced options.
MiddlewareFactory = Callable[[StorageDriver, dict[str, Any]], StorageDriver]


@dataclass(frozen=True)
class MiddlewareSpec:
    """What an entry point in `registry.storage_middleware` names.

    `factory` is a callable or a "module:attribute" string imported only
    when the middleware is applied, so the entry point's module stays light.
    """

    name: str
    factory: str | MiddlewareFactory
    #: The options it accepts (checked like driver parameters).
    parameters: tuple[Parameter, ...] = ()
    summary: str = ""

    def load_factory(self) -> MiddlewareFactory:
        """Import the factory if it was given by dotted path."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, qualname = self.factory.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
        return target  # type: ignore[no-any-return]

    def create(self, driver: StorageDriver, options: Mapping[str, object] | None) -> StorageDriver:
        """Wrap `driver`, after checking `options`."""
        if options is not None and not isinstance(options, Mapping):
            raise RegstoreError(
                f"middleware {self.name!r}: options must be a mapping, not {type(options).__name__}"
            )
        coerced = coerce_params(f"middleware {self.name}", self.parameters, options)
        wrapped = self.load_factory()(driver, coerced)
        if not isinstance(wrapped, StorageDriver):
            raise RegstoreError(
                f"middleware {self.name!r}: factory returned {type(wrapped).__name__}, "
                "not a StorageDriver"
            )
        return wrapped


class MiddlewareNotFoundError(RegstoreError, LookupError):
    """No installed middleware has the name."""

    def __init__(self, name: str, installed: list[str]) -> None:
        self.middleware_name = name
        hint = ""
        if name == "cloudfront":
            hint = "; install it with: pip install regstore-cloudfront"
        super().__init__(
            f"no storage middleware named {name!r} is installed "
            f"(installed: {', '.join(installed) or 'none'}){hint}"
        )


_SPECS: dict[str, MiddlewareSpec] = {}
_LOCK = threading.Lock()


def _entry_points() -> dict[str, list[importlib.metadata.EntryPoint]]:
    found: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for ep in importlib.metadata.entry_points(group=MIDDLEWARE_GROUP):
        if not any(ep.value == seen.value for seen in found.get(ep.name, [])):
            found.setdefault(ep.name, []).append(ep)
    return found


def middlewares() -> list[str]:
    """The names of the installed middleware, sorted, without importing any."""
    return sorted(_entry_points())


def middleware_spec(name: str) -> MiddlewareSpec:
    """The spec of middleware `name`, importing only its entry point."""
    with _LOCK:
        if name in _SPECS:
            return _SPECS[name]
        points = _entry_points().get(name, [])
        if not points:
            raise MiddlewareNotFoundError(name, middlewares())
        if len(points) > 1:
            raise RegstoreError(
                f"storage middleware {name!r} is provided twice: {points[0].value} and "
                f"{points[1].value}; uninstall one"
            )
        try:
            spec = points[0].load()
        except Exception as err:
            raise RegstoreError(f"could not load storage middleware {name!r}: {err}") from err
        if not isinstance(spec, MiddlewareSpec) or spec.name != name:
            raise RegstoreError(
                f"entry point {name!r} in {MIDDLEWARE_GROUP} must name a MiddlewareSpec "
                f"called {name!r}, not {spec!r}"
            )
        _SPECS[name] = spec
        return spec


def apply_middleware(
    driver: StorageDriver, entries: Iterator[tuple[str, Mapping[str, object] | None]] | list[Any]
) -> StorageDriver:
    """Wrap `driver` in each (name, options) entry in order, the last one
    outermost (distribution's order)."""
    for name, options in entries:
        driver = middleware_spec(name).create(driver, options)
    return driver


def redirect_through(
    driver: StorageDriver, path: str, method: str, client_ip: str | None
) -> str | None:
    """`driver.redirect_url`, passing `client_ip` on only to the drivers
    that take it (the factory's wrapper and middleware): a driver's own
    `redirect_url` may predate the keyword, and drivers ignore it anyway."""
    if client_ip is not None and isinstance(driver, ManagedDriver | DriverMiddleware):
        return driver.redirect_url(path, method, client_ip=client_ip)
    return driver.redirect_url(path, method)


class DriverMiddleware(StorageDriver):
    """A driver that forwards every call to `inner`: subclass it and
    override what the middleware changes. Paths are checked by the wrapped
    (factory-made) driver, errors come from it, and driver-specific extras
    stay reachable through attribute access."""

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_") or attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} around {self.inner!r}>"

    def get_content(self, path: str) -> bytes:
        return self.inner.get_content(path)

    def put_content(self, path: str, data: Buffer) -> None:
        self.inner.put_content(path, data)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return self.inner.reader(path, offset)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        return self.inner.writer(path, append=append)

    def stat(self, path: str) -> FileInfo:
        return self.inner.stat(path)

    def list(self, path: str) -> list[str]:
        return self.inner.list(path)

    def move(self, source: str, dest: str) -> None:
        self.inner.move(source, dest)

    def delete(self, path: str) -> None:
        self.inner.delete(path)

    def redirect_url(
        self, path: str, method: str = "GET", *, client_ip: str | None = None
    ) -> str | None:
        return redirect_through(self.inner, path, method, client_ip)

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        return self.inner.purge_uploads(
            older_than, include_foreign=include_foreign, dry_run=dry_run
        )

    def list_uploads(self) -> Iterator[UploadInfo]:
        return self.inner.list_uploads()

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        return self.inner.walk(path, start_after=start_after, prune=prune)
