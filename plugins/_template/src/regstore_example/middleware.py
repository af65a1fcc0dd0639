"""The `example` storage middleware: a driver that wraps another driver.

Middleware is configured in a registry's config.yml under `middleware:
storage:`, a list of `{name, options}` entries applied in order around the
configured driver, the last one outermost. regstore finds each by name in the
entry-point group `registry.storage_middleware` (see pyproject.toml and
`plugin.MIDDLEWARE`), checks its options against the declared `Parameter`s
and calls the factory below with the driver to wrap and the coerced options.

This one guards paths against deletion: `delete` and `move` of a protected
path, of anything below it, or of a directory above it (which would take it
along) raise `ProtectedPathError`. Option `protect`: comma-separated path
prefixes. Everything else, `redirect_url` and its keyword-only `client_ip`
included, goes to the wrapped driver unchanged: `DriverMiddleware` forwards
every call a subclass does not override, and attribute access too (a
driver's own extras stay reachable).

```yaml
storage:
  example:
    rootdirectory: /srv/registry
middleware:
  storage:
    - name: example
      options:
        protect: /docker/registry/v2/blobs
```

A middleware package needs no driver of its own: keep this file, the
`MIDDLEWARE` spec in plugin.py and the entry point, and drop the driver's
(or the other way round: delete this file, `MIDDLEWARE` and its entry point
if your package is only a driver).
"""

from __future__ import annotations

from typing import Any

from regstore import InvalidParameterError, StorageDriver, StorageDriverError, validate_path
from regstore.middleware import DriverMiddleware

__all__ = ["ExampleMiddleware", "ProtectedPathError", "create"]


class ProtectedPathError(StorageDriverError, PermissionError):
    """A delete or move that would remove a protected path."""


class ExampleMiddleware(DriverMiddleware):
    """Refuses deletes and moves that would remove a protected path."""

    def __init__(self, inner: StorageDriver, protect: tuple[str, ...]) -> None:
        super().__init__(inner)  # sets .inner, .name and .capabilities from inner
        self.protect = protect

    def _guard(self, operation: str, path: str) -> str:
        path = validate_path(path, driver_name=self.name)
        for prefix in self.protect:
            if path == prefix or path.startswith(prefix + "/") or prefix.startswith(path + "/"):
                raise ProtectedPathError(
                    f"{operation} {path}: {prefix} is protected (middleware example)",
                    driver_name=self.name,
                )
        return path

    def delete(self, path: str) -> None:
        self.inner.delete(self._guard("delete", path))

    def move(self, source: str, dest: str) -> None:
        self.inner.move(self._guard("move", source), dest)


def create(driver: StorageDriver, options: dict[str, Any]) -> StorageDriver:
    """The factory `plugin.MIDDLEWARE` names: `options` are already checked
    against its parameters (unknown keys, missing required ones, bad values
    fail before this runs). Check what the declarations cannot say here,
    with an `InvalidParameterError` naming the option."""
    prefixes = tuple(p.strip().rstrip("/") for p in options["protect"].split(",") if p.strip())
    if not prefixes:
        raise InvalidParameterError("middleware example", "protect", "names no path")
    for prefix in prefixes:
        try:
            validate_path(prefix)
        except StorageDriverError as err:
            raise InvalidParameterError(
                "middleware example", "protect", f"{prefix!r} is not a path: {err}"
            ) from None
    return ExampleMiddleware(driver, prefixes)
