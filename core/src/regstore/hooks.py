"""The pluggy hooks of regstore.

Two hooks carry everything cross-cutting, so core depends on no
instrumentation library and plugins depend on nothing but these:

- `regstore_add_drivers(registry)`: a driver plugin adds its `DriverSpec`s
  (tox's `tox_register_tox_env(register)` pattern). Historic, so a plugin
  loaded late still sees the registry.
- `regstore_operation(call)`: called around every driver operation. Core's
  own implementation runs the operation; a plugin implements it as a
  `wrapper=True` hook and yields around it to time or trace the call, then
  reads `call.error`, `call.nbytes`, `call.duration`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from regstore.factory import DriverSpec

__all__ = [
    "PROJECT_NAME",
    "DriverHookSpecs",
    "DriverRegistrar",
    "OperationCall",
    "OperationRunner",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "regstore"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class DriverRegistrar(Protocol):
    """What `regstore_add_drivers` receives: a place to add driver specs."""

    def add(self, spec: DriverSpec) -> None:
        """Add a driver; a name already taken raises `DriverConflictError`."""


@dataclass(slots=True)
class OperationCall:
    """One driver operation, as hooks see it.

    Before the call: `driver_name`, `operation` (the method name, or
    `writer.commit`, `reader.close` and the like for stream objects) and
    `path`. After it: `duration` in seconds, `nbytes` moved (None where not
    meaningful) and `error` (None on success).
    """

    driver_name: str
    operation: str
    path: str | None
    run: Callable[[], Any] = field(repr=False)
    count_bytes: Callable[[Any], int | None] | None = field(default=None, repr=False)
    nbytes: int | None = None
    duration: float | None = None
    error: BaseException | None = None
    result: Any = field(default=None, repr=False)

    def execute(self) -> None:
        """Run the operation once, recording its outcome instead of raising
        (the caller re-raises `error` after every hook has seen it)."""
        start = time.perf_counter()
        try:
            self.result = self.run()
            if self.count_bytes is not None:
                self.nbytes = self.count_bytes(self.result)
        except Exception as err:  # noqa: BLE001  (recorded, re-raised by the caller)
            self.error = err
        finally:
            self.duration = time.perf_counter() - start


class DriverHookSpecs:
    """The hook specifications; plugins implement them with `@hookimpl`."""

    @hookspec(historic=True)
    def regstore_add_drivers(self, registry: DriverRegistrar) -> None:
        """Add this plugin's drivers with `registry.add(DriverSpec(...))`."""

    @hookspec
    def regstore_operation(self, call: OperationCall) -> None:
        """Called around every operation of every driver the factory made.

        Implement it with `@hookimpl(wrapper=True)` and `yield` to run code
        before and after the operation; do not run the operation yourself.
        """


class OperationRunner:
    """Core's own `regstore_operation`: runs the call. `trylast` so every
    other plain implementation sees the call before it runs."""

    @hookimpl(trylast=True)
    def regstore_operation(self, call: OperationCall) -> None:
        call.execute()
