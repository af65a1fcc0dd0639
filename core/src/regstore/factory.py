"""The factory: find drivers by name and create them from a parameter map.

Drivers are discovered through the `registry.storage_drivers` entry-point
group and registered with a pluggy `PluginManager`. Discovery is lazy:
`drivers()` reads installed distributions' metadata and imports nothing;
`create(name)` imports only the plugin that provides `name`. pluggy's own
`load_setuptools_entrypoints` would import a whole group and silently keep
the first of two plugins with one name, so the registry checks the metadata
for duplicates first (an error naming both distributions) and then asks
pluggy to load just that one name.

There is no module-global plugin manager that tests must share: every
`DriverRegistry` has its own. The module-level `create`, `register` and
`drivers` use a default registry made on first use.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from regstore.driver import API_VERSION, Capabilities, StorageDriver
from regstore.errors import (
    DriverConflictError,
    DriverNotFoundError,
    IncompatibleDriverError,
    InvalidParameterError,
    RegstoreError,
)
from regstore.hooks import PROJECT_NAME, DriverHookSpecs, OperationRunner
from regstore.managed import ManagedDriver
from regstore.params import Parameter, coerce_params, redact, secret_values
from regstore.scrub import Scrubber, attach_filter, register_secrets

__all__ = [
    "DRIVER_GROUP",
    "HOOK_GROUP",
    "MIDDLEWARE_GROUP",
    "DriverFactory",
    "DriverInfo",
    "DriverRegistry",
    "DriverSpec",
    "create",
    "default_registry",
    "drivers",
    "register",
]

DRIVER_GROUP = "registry.storage_drivers"
MIDDLEWARE_GROUP = "registry.storage_middleware"
#: Instrumentation plugins (implementing `regstore_operation`) installed as
#: packages are loaded from this group when a registry is made.
HOOK_GROUP = "regstore.hooks"

#: Our own drivers: an unknown name among these gets the pip line.
OWN_DRIVERS = {
    name: f"pip install regstore-{name}"
    for name in ("inmemory", "filesystem", "s3", "azure", "gcs")
}

DriverFactory = Callable[[dict[str, Any]], StorageDriver]


@dataclass(frozen=True)
class DriverSpec:
    """Everything core needs to know about a driver before importing it.

    `factory` is a callable taking the coerced parameters, or a
    "module:attribute.path" string imported only when the driver is created,
    so a plugin's entry-point module stays free of its SDK.
    """

    name: str
    factory: str | DriverFactory
    parameters: tuple[Parameter, ...] = ()
    #: The core API version the driver targets (Major.Minor).
    api_version: str = API_VERSION
    summary: str = ""
    #: The driver's capabilities, for listings that must not import the
    #: driver's SDK (`regstore drivers`). Optional: without it they are read
    #: from the driver class the factory names. A driver declaring both should
    #: take its class attribute from here (one source of truth).
    capabilities: Capabilities | None = None
    #: The driver's `rootdirectory` names a local directory (filesystem,
    #: the SQLite template): tools that need a scratch root (`regstore
    #: check`, `regstore bench`) give it a fresh temporary directory when the
    #: user names none, rather than a path at the top of the file system.
    local_root: bool = False
    #: The parameter holding the driver's HTTP endpoint URL (s3:
    #: `regionendpoint`). The conformance suite's failure cases (and
    #: `regstore check --faults`) point it at `regstore.testing.faults`'
    #: loopback fault proxy in front of the configured endpoint.
    endpoint_parameter: str | None = None
    #: Modules of a local driver through whose `os` module the driver makes
    #: every change to storage (`os.open`, `os.write`, `os.fsync`,
    #: `os.replace`, ...). The suite's failure cases swap that name for one
    #: whose calls fail on demand (`regstore.testing.injection.OSFaults`), so
    #: the driver's real code paths meet ENOSPC and EIO.
    fault_modules: tuple[str, ...] = ()
    #: Parameters the suite's failure cases add, as (name, value) pairs:
    #: typically retries off (s3: `maxattempts=1`), so a single injected
    #: fault reaches the driver's own recovery instead of an SDK's retry
    #: loop, and each failure point takes milliseconds rather than backoffs.
    fault_parameters: tuple[tuple[str, object], ...] = ()

    def load_factory(self) -> DriverFactory:
        """Import the factory if it was given by dotted path."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, qualname = self.factory.partition(":")
        if not module_name or not qualname:
            raise RegstoreError(
                f"driver {self.name!r}: factory {self.factory!r} is not 'module:attribute'"
            )
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
        if not callable(target):
            raise RegstoreError(f"driver {self.name!r}: factory {self.factory!r} is not callable")
        return target  # type: ignore[no-any-return]


@dataclass(frozen=True)
class DriverInfo:
    """An installed or registered driver, as `drivers()` lists it."""

    name: str
    #: The distribution providing it, or "<code>" for `register()`.
    distribution: str
    version: str
    #: The entry point's value ("module:object"), or the factory's repr.
    target: str


@dataclass
class _EntryPointSource:
    entry_point: importlib.metadata.EntryPoint
    distribution: str
    version: str


@dataclass
class _Registrar:
    """The object `regstore_add_drivers` receives."""

    registry: DriverRegistry
    source: str = field(default="<code>")

    def add(self, spec: DriverSpec) -> None:
        self.registry._add_spec(spec, self.source)


def _entry_points(group: str) -> dict[str, list[_EntryPointSource]]:
    """Every entry point of `group` in the installed distributions, by name,
    read from metadata only. A distribution seen twice on sys.path (an
    editable install beside a wheel, say) counts once."""
    found: dict[str, list[_EntryPointSource]] = {}
    seen: set[tuple[str, str, str]] = set()
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "<unknown>"
        for ep in dist.entry_points:
            if ep.group != group:
                continue
            key = (dist_name.lower(), ep.name, ep.value)
            if key in seen:
                continue
            seen.add(key)
            found.setdefault(ep.name, []).append(
                _EntryPointSource(ep, dist_name, dist.version or "0")
            )
    return found


def _describe(source: _EntryPointSource) -> str:
    return f"{source.distribution} {source.version} ({source.entry_point.value})"


class DriverRegistry:
    """Drivers by name: installed plugins plus those registered in code."""

    def __init__(self, *, load_hooks: bool = True) -> None:
        self.plugin_manager = pluggy.PluginManager(PROJECT_NAME)
        self.plugin_manager.add_hookspecs(DriverHookSpecs)
        self.plugin_manager.register(OperationRunner(), name="regstore.core")
        self._lock = threading.RLock()
        self._specs: dict[str, tuple[DriverSpec, str]] = {}
        self._adding_from = "<code>"
        self.plugin_manager.hook.regstore_add_drivers.call_historic(
            kwargs={"registry": _Registrar(self)}
        )
        if load_hooks:
            self.plugin_manager.load_setuptools_entrypoints(HOOK_GROUP)

    # -- registration -----------------------------------------------------

    def register(
        self,
        name: str,
        factory: str | DriverFactory,
        *,
        parameters: tuple[Parameter, ...] = (),
        api_version: str = API_VERSION,
    ) -> None:
        """Register a driver in code. A name already registered, or provided
        by an installed plugin, raises `DriverConflictError`."""
        spec = DriverSpec(name, factory, parameters, api_version)
        with self._lock:
            installed = _entry_points(DRIVER_GROUP).get(name)
            if installed:
                raise DriverConflictError(name, _describe(installed[0]), "register() in code")
            self._add_spec(spec, "<code>")

    def _add_spec(self, spec: DriverSpec, source: str) -> None:
        with self._lock:
            source = self._adding_from if source == "<code>" else source
            if spec.name in self._specs:
                raise DriverConflictError(spec.name, self._specs[spec.name][1], source)
            _check_api_version(spec, source)
            self._specs[spec.name] = (spec, source)

    # -- discovery --------------------------------------------------------

    def drivers(self) -> list[DriverInfo]:
        """Installed and registered drivers, sorted by name, without
        importing any of them. Two distributions claiming one name raise
        `DriverConflictError`."""
        result: dict[str, DriverInfo] = {}
        for name, sources in _entry_points(DRIVER_GROUP).items():
            if len(sources) > 1:
                raise DriverConflictError(name, _describe(sources[0]), _describe(sources[1]))
            src = sources[0]
            result[name] = DriverInfo(name, src.distribution, src.version, src.entry_point.value)
        with self._lock:
            for name, (spec, source) in self._specs.items():
                if name not in result:
                    target = spec.factory if isinstance(spec.factory, str) else repr(spec.factory)
                    result[name] = DriverInfo(name, source, "", target)
        return [result[name] for name in sorted(result)]

    def spec(self, name: str) -> DriverSpec:
        """The spec of driver `name`, importing only the plugin providing it."""
        with self._lock:
            if name in self._specs:
                return self._specs[name][0]
            sources = _entry_points(DRIVER_GROUP).get(name, [])
            if len(sources) > 1:
                raise DriverConflictError(name, _describe(sources[0]), _describe(sources[1]))
            if not sources:
                installed = [info.name for info in self.drivers()]
                raise DriverNotFoundError(name, installed, OWN_DRIVERS.get(name))
            self._load_entry_point(name, sources[0])
            if name not in self._specs:
                raise RegstoreError(
                    f"entry point {name!r} of {_describe(sources[0])} did not provide "
                    f"a driver named {name!r}"
                )
            return self._specs[name][0]

    def _load_entry_point(self, name: str, source: _EntryPointSource) -> None:
        described = _describe(source)
        self._adding_from = described
        try:
            # pluggy imports the entry point and registers it; its historic
            # regstore_add_drivers hook then adds the spec right away.
            self.plugin_manager.load_setuptools_entrypoints(DRIVER_GROUP, name=name)
            plugin = self.plugin_manager.get_plugin(name)
            if isinstance(plugin, DriverSpec):  # an entry point may name a spec directly
                self._add_spec(plugin, described)
        except RegstoreError:
            raise
        except Exception as err:
            raise RegstoreError(
                f"could not load storage driver {name!r} from {described}: {err}"
            ) from err
        finally:
            self._adding_from = "<code>"

    # -- creation ---------------------------------------------------------

    def create(self, name: str, params: Mapping[str, object] | None = None) -> StorageDriver:
        """A ready driver, wrapped so it keeps the contract's rules."""
        spec = self.spec(name)
        if params is not None and not isinstance(params, Mapping):
            raise InvalidParameterError(
                name,
                "params",
                f"must be a mapping of parameter names to values, not {type(params).__name__}",
            )
        coerced = coerce_params(name, spec.parameters, params)
        secrets = secret_values(spec.parameters, coerced)
        register_secrets(secrets)
        factory = spec.load_factory()
        attach_filter("regstore")
        module = getattr(factory, "__module__", None)
        if isinstance(module, str) and module:
            attach_filter(module.partition(".")[0])  # the plugin's loggers
        driver = _construct(name, factory, coerced, Scrubber(secrets))
        if not isinstance(driver, StorageDriver):
            raise RegstoreError(
                f"driver {name!r}: factory returned {type(driver).__name__}, not a StorageDriver"
            )
        return ManagedDriver(
            driver,
            name=name,
            hook=self.plugin_manager.hook,
            params=redact({k: v for k, v in coerced.items() if v is not None}, spec.parameters),
            secrets=secrets,
        )


def _construct(
    name: str, factory: DriverFactory, params: dict[str, Any], scrubber: Scrubber
) -> StorageDriver:
    """Run a driver's factory. A driver should raise `InvalidParameterError`
    for a value it cannot use; anything else it raises (an SDK's own
    ValueError for a malformed URL, say) still reaches the user as one
    regstore error, scrubbed, never as a bare traceback."""
    try:
        return factory(dict(params))
    except RegstoreError as err:
        failure: BaseException = scrubber.exception(err)
    except Exception as err:  # noqa: BLE001  (re-raised as a regstore error below)
        cause = scrubber.exception(err)
        failure = RegstoreError(
            f"cannot create storage driver {name!r} with these parameters: "
            f"{type(err).__name__}: {scrubber.text(str(err))}"
        )
        failure.__cause__ = cause
    raise failure


def _check_api_version(spec: DriverSpec, source: str) -> None:
    have_major, have_minor = (int(x) for x in API_VERSION.split("."))
    try:
        major_s, _, minor_s = spec.api_version.partition(".")
        major, minor = int(major_s), int(minor_s or 0)
    except ValueError:
        raise IncompatibleDriverError(spec.name, source, spec.api_version, API_VERSION) from None
    if major != have_major or minor > have_minor:
        raise IncompatibleDriverError(spec.name, source, spec.api_version, API_VERSION)


_default: DriverRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> DriverRegistry:
    """The registry behind the module-level functions, made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = DriverRegistry()
        return _default


def create(name: str, params: Mapping[str, object] | None = None) -> StorageDriver:
    """Create driver `name` from `params` (lowercase keys, values coerced)."""
    return default_registry().create(name, params)


def register(name: str, factory: str | DriverFactory, **kwargs: Any) -> None:
    """Register a driver in code; a second registration of a name raises."""
    default_registry().register(name, factory, **kwargs)


def drivers() -> list[DriverInfo]:
    """The installed and registered drivers, importing none of them."""
    return default_registry().drivers()
