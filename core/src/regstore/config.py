"""distribution's configuration, as operators write it: `storage:`,
`middleware: storage:` and the `REGISTRY_*` environment overrides.

    config = regstore.load_config("/etc/docker/registry/config.yml")
    driver = config.create()          # the driver, middleware applied

The whole registry configuration may be given (a path, YAML text or a parsed
mapping); only the storage parts are read. The result holds the driver's
name and parameters, the middleware entries in order, and the storage
settings that are not a driver (`maintenance`, `delete`, `redirect`,
`cache`, `tag`) as typed fields.

Environment overrides follow upstream's rules (variables applied in sorted
order; `REGISTRY_STORAGE=<driver>` replaces the whole `storage:` map;
`REGISTRY_STORAGE_<DRIVER>_<KEY>` sets a parameter; values read as YAML
scalars; `REGISTRY_MIDDLEWARE_STORAGE_<i>_NAME` / `_DISABLED` /
`_OPTIONS_<KEY>`), without upstream's traps:

- a parameter whose name holds `_` (`max_retries`) is found by matching the
  variable against the driver's declared parameters, longest name first,
  and `<PARAM>_<FIELD>` sets a field of a mapping parameter (azure
  `credentials`);
- a variable that names a driver other than the configured one is an error
  that says so, not a crash;
- `REGISTRY_STORAGE_MAINTENANCE_*` (and the other settings) work whether or
  not the YAML has the section;
- a string parameter keeps the variable's text as written (upstream's YAML
  decoding turns an access key `0123` into the number 123).

Every error is a `ConfigError` (a `RegstoreError`) naming the file, key,
variable or driver at fault, never a secret's value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from regstore.driver import StorageDriver
from regstore.errors import RegstoreError
from regstore.factory import DriverRegistry, default_registry
from regstore.params import Parameter, redact

__all__ = [
    "CacheSettings",
    "ConfigError",
    "MiddlewareEntry",
    "ReadOnlySettings",
    "StorageConfig",
    "UploadPurging",
    "from_config",
    "load_config",
    "parse_duration",
]

#: Keys of `storage:` that are settings, not a driver.
RESERVED = ("maintenance", "cache", "delete", "redirect", "tag")
#: The settings' keys, for environment variables and checks.
_SETTINGS: dict[str, dict[str, Any]] = {
    "maintenance": {
        "uploadpurging": {"enabled": None, "age": None, "interval": None, "dryrun": None},
        "readonly": {"enabled": None},
    },
    "delete": {"enabled": None},
    "redirect": {"disable": None},
    "cache": {"blobdescriptor": None, "blobdescriptorsize": None},
    "tag": {"concurrencylimit": None},
}


class ConfigError(RegstoreError, ValueError):
    """The configuration cannot be used; the message names where."""


# -- durations -------------------------------------------------------------------

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DIGITS = re.compile(r"[0-9]+")


def _nanoseconds(count: int, what: str) -> dt.timedelta:
    try:
        return dt.timedelta(microseconds=count / 1000)
    except OverflowError:
        raise ConfigError(f"{what}: {count} nanoseconds is too long a duration") from None


def parse_duration(value: object, *, what: str = "duration") -> dt.timedelta:
    """A duration as distribution writes them: Go's `168h`, `1h30m`,
    `100ms`, or an integer number of nanoseconds (YAML `age: 3600000000000`).
    A `timedelta` passes through."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, bool):
        raise ConfigError(f"{what}: {value!r} is not a duration")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{what}: {value} is negative")
        return _nanoseconds(value, what)
    if isinstance(value, str):
        text = value.strip()
        if _DIGITS.fullmatch(text):  # ASCII only: str.isdigit() takes "²"
            return _nanoseconds(int(text), what)
        position, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != position:
                break
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            position = match.end()
        if text and position == len(text):
            try:
                return dt.timedelta(seconds=seconds)
            except OverflowError:
                raise ConfigError(f"{what}: {value!r} is too long a duration") from None
    raise ConfigError(
        f"{what}: {value!r} is not a duration (write e.g. 168h, 20m, 1h30m, 500ms, "
        "or an integer number of nanoseconds)"
    )


# -- the result --------------------------------------------------------------------


@dataclass(frozen=True)
class MiddlewareEntry:
    """One `middleware: storage:` entry."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    #: Skipped when true. Upstream parses this and then ignores it; regstore
    #: honours it.
    disabled: bool = False


@dataclass(frozen=True)
class UploadPurging:
    """`maintenance: uploadpurging`, upstream's defaults."""

    enabled: bool = True
    age: dt.timedelta = dt.timedelta(hours=168)
    interval: dt.timedelta = dt.timedelta(hours=24)
    dryrun: bool = False


@dataclass(frozen=True)
class ReadOnlySettings:
    """`maintenance: readonly`."""

    enabled: bool = False


@dataclass(frozen=True)
class Maintenance:
    """`storage: maintenance`."""

    uploadpurging: UploadPurging = field(default_factory=UploadPurging)
    readonly: ReadOnlySettings = field(default_factory=ReadOnlySettings)


@dataclass(frozen=True)
class DeleteSettings:
    """`storage: delete` (whether the registry may delete blobs)."""

    enabled: bool = False


@dataclass(frozen=True)
class RedirectSettings:
    """`storage: redirect`; `disable: true` makes `redirect_url` give None."""

    disable: bool = False


@dataclass(frozen=True)
class CacheSettings:
    """`storage: cache` (the registry's blob-descriptor cache; kept for
    tools that read it, not used by a storage layer)."""

    blobdescriptor: str | None = None
    blobdescriptorsize: int | None = None


@dataclass(frozen=True)
class TagSettings:
    """`storage: tag`."""

    concurrencylimit: int | None = None


@dataclass(frozen=True)
class StorageConfig:
    """The storage part of a registry configuration, environment applied."""

    driver: str
    parameters: dict[str, Any]
    middleware: tuple[MiddlewareEntry, ...] = ()
    maintenance: Maintenance = field(default_factory=Maintenance)
    delete: DeleteSettings = field(default_factory=DeleteSettings)
    redirect: RedirectSettings = field(default_factory=RedirectSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    tag: TagSettings = field(default_factory=TagSettings)
    #: Where it came from, for messages ("config.yml", "<text>").
    source: str = "<mapping>"

    def create(self, registry: DriverRegistry | None = None) -> StorageDriver:
        """The driver, wrapped in the enabled middleware in order (the last
        outermost), then in the read-only and redirect settings, which apply
        whatever the middleware does."""
        # Imported here: middleware modules import the factory, which this
        # module's importers may still be loading.
        from regstore.middleware import apply_middleware  # noqa: PLC0415
        from regstore.middleware.settings import NoRedirectDriver, ReadOnlyDriver  # noqa: PLC0415

        driver = (registry or default_registry()).create(self.driver, self.parameters)
        driver = apply_middleware(
            driver, [(m.name, m.options) for m in self.middleware if not m.disabled]
        )
        if self.maintenance.readonly.enabled:
            driver = ReadOnlyDriver(driver)
        if self.redirect.disable:
            driver = NoRedirectDriver(driver)
        return driver

    def shown(self, registry: DriverRegistry | None = None) -> dict[str, Any]:
        """The configuration as a mapping safe to print: secrets redacted
        (declared ones, and any whose name looks secret)."""
        declared: Sequence[Parameter] = ()
        with contextlib.suppress(RegstoreError):
            declared = (registry or default_registry()).spec(self.driver).parameters
        purging = self.maintenance.uploadpurging
        return {
            "driver": self.driver,
            "parameters": redact(self.parameters, declared),
            "middleware": [
                {"name": m.name, "options": redact(m.options), "disabled": m.disabled}
                for m in self.middleware
            ],
            "maintenance": {
                "uploadpurging": {
                    "enabled": purging.enabled,
                    "age": str(purging.age),
                    "interval": str(purging.interval),
                    "dryrun": purging.dryrun,
                },
                "readonly": {"enabled": self.maintenance.readonly.enabled},
            },
            "delete": {"enabled": self.delete.enabled},
            "redirect": {"disable": self.redirect.disable},
            "cache": {
                "blobdescriptor": self.cache.blobdescriptor,
                "blobdescriptorsize": self.cache.blobdescriptorsize,
            },
            "tag": {"concurrencylimit": self.tag.concurrencylimit},
        }


# -- reading ------------------------------------------------------------------------


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    registry: DriverRegistry | None = None,
) -> StorageConfig:
    """Read a registry configuration (a YAML file's path, YAML text, or a
    parsed mapping), apply the `REGISTRY_*` variables of `environ`
    (default `os.environ`) and return its storage part. See the module
    docstring for the rules."""
    document, origin = _read(source)
    storage = _storage_map(document.get("storage"), origin)
    middleware = _middleware_list(document.get("middleware"), origin)
    env = os.environ if environ is None else environ
    overrides = _Overrides(registry or default_registry(), origin)
    storage, middleware = overrides.apply(env, storage, middleware)
    return _build(storage, middleware, origin)


def from_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    registry: DriverRegistry | None = None,
) -> StorageDriver:
    """`load_config(...).create()`: the configured driver, ready."""
    return load_config(source, environ=environ, registry=registry).create(registry)


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    if isinstance(source, Mapping):
        return _plain(dict(source), "<mapping>"), "<mapping>"
    text: str
    if isinstance(source, str) and _is_yaml_text(source):
        text, origin = source, "<text>"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{origin}: cannot read the configuration: {err.strerror}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"{origin}: the configuration is not UTF-8 text (byte {err.start})"
            ) from None
    else:
        raise ConfigError(
            f"a configuration is a file path, YAML text or a mapping, not {type(source).__name__}"
        )
    try:
        # A key given twice keeps its last value, as upstream's yaml.Unmarshal
        # (not strict) does: regstore reads what the registry reads.
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise ConfigError(f"{origin}: {problem}{where}") from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(
            f"{origin}: the configuration is a mapping, not {type(document).__name__}"
        )
    return _plain(dict(document), origin), origin


def _is_yaml_text(source: str) -> bool:
    """Whether a string source is YAML text rather than a file's path: text
    spans lines, or names no existing file and reads as a YAML mapping
    (`storage: inmemory`). A missing `conf:prod.yml` is then a path, whose
    error names the file, and text too long to be a file name is not
    mistaken for one (`Path.exists` raises on that)."""
    if "\n" in source:
        return True
    try:
        if Path(source).exists():
            return False
    except (OSError, ValueError):  # a name too long, a NUL byte: not a path
        return True
    try:
        return isinstance(yaml.safe_load(source), Mapping)
    except yaml.YAMLError:
        return False


def _plain(value: Any, origin: str, where: str = "") -> Any:
    """Mappings with string keys all the way down (YAML may give `1:` an
    int key; a parameter name is a string)."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{origin}: key {key!r} under {where or 'the top'} is not text")
            result[key] = _plain(item, origin, f"{where}.{key}" if where else key)
        return result
    if isinstance(value, list):
        return [_plain(item, origin, where) for item in value]
    return value


def _storage_map(raw: object, origin: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):  # `storage: inmemory`
        return {raw: {}}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: storage is a mapping or a driver name, not {raw!r}")
    storage: dict[str, Any] = {}
    for key, given in raw.items():
        value = {} if given is None else given
        if key in RESERVED and value == "":
            value = {}  # upstream's workaround for #1736 writes `maintenance: ""`
        if key in RESERVED:
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: storage.{key} is a mapping, not {value!r}")
        elif not isinstance(value, dict):
            raise ConfigError(
                f"{origin}: storage.{key}: a driver's parameters are a mapping, "
                f"not {type(value).__name__}"
            )
        storage[key] = dict(value)
    return storage


def _middleware_list(raw: object, origin: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: middleware is a mapping (registry, repository, storage)")
    entries = raw.get("storage")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError(f"{origin}: middleware.storage is a list of entries")
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{origin}: middleware.storage[{index}] is a mapping with a name")
        result.append(dict(entry))
    return result


def _build(storage: dict[str, Any], middleware: list[dict[str, Any]], origin: str) -> StorageConfig:
    drivers = [key for key in storage if key not in RESERVED]
    if not drivers:
        raise ConfigError(
            f"{origin}: no storage driver is configured (give storage: <driver>: ... "
            "or REGISTRY_STORAGE=<driver>)"
        )
    if len(drivers) > 1:
        raise ConfigError(
            f"{origin}: storage configures more than one driver: {', '.join(drivers)}; "
            "keep exactly one"
        )
    name = drivers[0]
    settings = {key: storage.get(key) or {} for key in RESERVED}
    for key, section in settings.items():
        _check_keys(section, _SETTINGS[key], f"storage.{key}", origin)
    maintenance = settings["maintenance"]
    purging = maintenance.get("uploadpurging") or {}
    readonly = maintenance.get("readonly") or {}
    entries = []
    for index, entry in enumerate(middleware):
        where = f"middleware.storage[{index}]"
        unknown = set(entry) - {"name", "options", "disabled"}
        if unknown:
            raise ConfigError(f"{origin}: {where}: unknown keys {sorted(unknown)}")
        entry_name = entry.get("name")
        if not isinstance(entry_name, str) or not entry_name:
            raise ConfigError(f"{origin}: {where} has no name")
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"{origin}: {where}.options is a mapping")
        entries.append(
            MiddlewareEntry(
                entry_name,
                dict(options),
                _bool(entry.get("disabled", False), f"{where}.disabled", origin),
            )
        )
    defaults = UploadPurging()
    return StorageConfig(
        driver=name,
        parameters=dict(storage[name]),
        middleware=tuple(entries),
        maintenance=Maintenance(
            UploadPurging(
                enabled=_bool(
                    purging.get("enabled", True),
                    "storage.maintenance.uploadpurging.enabled",
                    origin,
                ),
                age=_duration(purging.get("age"), defaults.age, "uploadpurging.age", origin),
                interval=_duration(
                    purging.get("interval"), defaults.interval, "uploadpurging.interval", origin
                ),
                dryrun=_bool(
                    purging.get("dryrun", False), "storage.maintenance.uploadpurging.dryrun", origin
                ),
            ),
            ReadOnlySettings(
                _bool(
                    readonly.get("enabled", False), "storage.maintenance.readonly.enabled", origin
                )
            ),
        ),
        delete=DeleteSettings(
            _bool(settings["delete"].get("enabled", False), "storage.delete.enabled", origin)
        ),
        redirect=RedirectSettings(
            _bool(settings["redirect"].get("disable", False), "storage.redirect.disable", origin)
        ),
        cache=CacheSettings(
            _optional_str(settings["cache"].get("blobdescriptor")),
            _optional_int(
                settings["cache"].get("blobdescriptorsize"),
                "storage.cache.blobdescriptorsize",
                origin,
            ),
        ),
        tag=TagSettings(
            _optional_int(
                settings["tag"].get("concurrencylimit"), "storage.tag.concurrencylimit", origin
            )
        ),
        source=origin,
    )


def _check_keys(section: dict[str, Any], known: dict[str, Any], where: str, origin: str) -> None:
    for key, value in section.items():
        if key not in known:
            raise ConfigError(
                f"{origin}: {where}.{key} is not a setting (known: {', '.join(known)})"
            )
        if isinstance(known[key], dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                # Upstream's workaround for #1736 writes `uploadpurging: ""`.
                if value == "":
                    section[key] = {}
                    continue
                raise ConfigError(f"{origin}: {where}.{key} is a mapping, not {value!r}")
            _check_keys(value, known[key], f"{where}.{key}", origin)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def _bool(value: object, where: str, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{origin}: {where}: {value!r} is not true or false")


def _duration(value: object, default: dt.timedelta, where: str, origin: str) -> dt.timedelta:
    if value is None or value == "":
        return default
    try:
        return parse_duration(value, what=f"storage.maintenance.{where}")
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from None


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: object, where: str, origin: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ConfigError(f"{origin}: {where}: {value!r} is not an integer")


# -- the environment ----------------------------------------------------------------

_PREFIX = "REGISTRY_"
_STORAGE = "REGISTRY_STORAGE"
_MIDDLEWARE = "REGISTRY_MIDDLEWARE_STORAGE_"


def _variable_order(name: str) -> tuple[str, int, str]:
    """Upstream's order (sorted by name), except that middleware indexes
    sort as numbers: `..._STORAGE_10_NAME` after `..._STORAGE_2_NAME`, or
    entry 10 would be taken for a gap."""
    if name.startswith(_MIDDLEWARE):
        index, _, rest = name[len(_MIDDLEWARE) :].partition("_")
        if index.isascii() and index.isdigit():
            return (_MIDDLEWARE, int(index), rest)
    return (name, -1, "")


def _yaml_scalar(text: str) -> Any:
    """A variable's value read as YAML, as upstream does (`true` -> True,
    `10` -> 10); text that is not a scalar stays text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if value is None else value


class _Overrides:
    """Applies `REGISTRY_*` variables to the storage map and middleware list."""

    def __init__(self, registry: DriverRegistry, origin: str) -> None:
        self._registry = registry
        self._origin = origin

    def apply(
        self,
        environ: Mapping[str, str],
        storage: dict[str, Any],
        middleware: list[dict[str, Any]],
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        for name in sorted(environ, key=_variable_order):
            if not name.startswith(_PREFIX):
                continue
            value = environ[name]
            if name == _STORAGE:
                driver = _yaml_scalar(value)
                if not isinstance(driver, str) or not driver.strip():
                    raise ConfigError(f"{name}: {value!r} is not a driver name")
                # Upstream's rule: the whole storage map is replaced, its
                # parameters and settings dropped (variables sorted after
                # this one then add to it).
                storage = {driver.strip(): {}}
            elif name.startswith(_STORAGE + "_"):
                self._storage_variable(name, value, storage)
            elif name.startswith(_MIDDLEWARE):
                self._middleware_variable(name, value, middleware)
        return storage, middleware

    def _storage_variable(self, name: str, value: str, storage: dict[str, Any]) -> None:
        rest = name[len(_STORAGE) + 1 :]
        head, _, tail = rest.partition("_")
        section = head.lower()
        if section in RESERVED:
            keys = tail.lower().split("_") if tail else []
            self._set_setting(name, section, keys, value, storage)
            return
        configured = [key for key in storage if key not in RESERVED]
        driver = self._driver_of(name, rest, configured)
        params = storage.setdefault(driver, {})
        key_text = rest[len(driver) + 1 :]
        if not key_text:
            raise ConfigError(f"{name}: names driver {driver!r} but no parameter")
        self._set_parameter(name, driver, key_text, value, params)

    def _driver_of(self, name: str, rest: str, configured: list[str]) -> str:
        for driver in configured:
            if rest.upper() == driver.upper():
                raise ConfigError(
                    f"{name}: names driver {driver!r} but no parameter "
                    f"(write REGISTRY_STORAGE_{driver.upper()}_<PARAMETER>, or "
                    f"REGISTRY_STORAGE={driver} to choose the driver)"
                )
            if rest.upper().startswith(driver.upper() + "_"):
                return driver
        try:
            installed = [info.name for info in self._registry.drivers()]
        except RegstoreError:
            installed = []
        named = sorted(
            (d for d in installed if rest.upper().startswith(d.upper() + "_")),
            key=len,
            reverse=True,
        )
        if configured:
            if named:
                raise ConfigError(
                    f"{name} sets a parameter of driver {named[0]!r}, but the configured "
                    f"driver is {configured[0]!r}; set REGISTRY_STORAGE={named[0]} to switch "
                    "drivers, or remove the variable"
                )
            # A driver that is not installed: its name is up to the first `_`.
            guess = rest.partition("_")[0].lower()
            raise ConfigError(
                f"{name} does not name the configured driver {configured[0]!r} "
                f"(it reads as a parameter of driver {guess!r}; expected "
                f"REGISTRY_STORAGE_{configured[0].upper()}_<PARAMETER>, or "
                f"REGISTRY_STORAGE={guess} to switch drivers)"
            )
        if named:
            return named[0]
        raise ConfigError(
            f"{name} names no installed driver (installed: {', '.join(installed) or 'none'})"
        )

    def _set_parameter(
        self, name: str, driver: str, key_text: str, value: str, params: dict[str, Any]
    ) -> None:
        try:
            declared = self._registry.spec(driver).parameters
        except RegstoreError:
            # Not installed, or its plugin does not load: parse anyway (the
            # names as written); create() reports the driver's problem.
            declared = ()
        if not declared:
            params[key_text.lower()] = _yaml_scalar(value)
            return
        param, field_text = _match(key_text, declared)
        if param is None:
            allowed = ", ".join(sorted(p.name for p in declared))
            raise ConfigError(
                f"{name}: driver {driver!r} has no parameter {key_text.lower()!r} "
                f"(its parameters: {allowed})"
            )
        if field_text:
            sub, rest = _match(field_text, param.fields)
            if sub is None or rest:
                fields = ", ".join(f.name for f in param.fields) or "none declared"
                raise ConfigError(
                    f"{name}: {param.name} has no field {field_text.lower()!r} (fields: {fields})"
                )
            current = params.get(param.name)
            for spelling in param.aliases:
                older = params.pop(spelling, None)
                current = older if current is None else current
            nested = dict(current) if isinstance(current, Mapping) else {}
            nested[sub.name] = _typed(sub, value)
            params[param.name] = nested
            return
        for spelling in param.aliases:
            # The variable replaces the value whatever name the YAML gave it
            # (an older name kept beside it would be "given twice").
            params.pop(spelling, None)
        params[param.name] = _typed(param, value)

    def _set_setting(
        self, name: str, section: str, keys: list[str], value: str, storage: dict[str, Any]
    ) -> None:
        known: Any = _SETTINGS[section]
        target = storage.setdefault(section, {})
        if not isinstance(target, dict):
            target = storage[section] = {}
        where = f"storage.{section}"
        if not keys:
            raise ConfigError(f"{name}: names storage.{section} but no setting in it")
        for position, key in enumerate(keys):
            if not isinstance(known, dict) or key not in known:
                choices = ", ".join(known) if isinstance(known, dict) else "none"
                raise ConfigError(f"{name}: {where} has no setting {key!r} (settings: {choices})")
            known = known[key]
            where = f"{where}.{key}"
            if position == len(keys) - 1:
                if isinstance(known, dict):
                    raise ConfigError(f"{name}: {where} is a section; name a setting in it")
                target[key] = _yaml_scalar(value)
            else:
                child = target.get(key)
                if not isinstance(child, dict):
                    # Where upstream panics (#1736): the YAML lacks the section.
                    child = target[key] = {}
                target = child

    def _middleware_variable(self, name: str, value: str, middleware: list[dict[str, Any]]) -> None:
        rest = name[len(_MIDDLEWARE) :]
        index_text, _, what = rest.partition("_")
        if not index_text.isdigit():
            raise ConfigError(f"{name}: expected {_MIDDLEWARE}<index>_NAME|DISABLED|OPTIONS_<KEY>")
        index = int(index_text)
        if index > len(middleware):
            raise ConfigError(
                f"{name}: entry {index} would leave a gap; the next entry is {len(middleware)}"
            )
        if index == len(middleware):
            middleware.append({})
        entry = middleware[index]
        if what == "NAME":
            entry["name"] = value.strip()
        elif what == "DISABLED":
            entry["disabled"] = _yaml_scalar(value)
        elif what.startswith("OPTIONS_") and len(what) > len("OPTIONS_"):
            options = entry.get("options")
            if not isinstance(options, dict):
                options = entry["options"] = {}
            options[what[len("OPTIONS_") :].lower()] = _yaml_scalar(value)
        else:
            raise ConfigError(f"{name}: expected ..._NAME, ..._DISABLED or ..._OPTIONS_<KEY>")


def _match(text: str, declared: Sequence[Parameter]) -> tuple[Parameter | None, str]:
    """The declared parameter `text` (a variable's upper-case tail) names,
    and what follows it: an exact name, or a mapping parameter's name then
    `_<FIELD>`. Longest name first, so `MAX_RETRIES` is max_retries."""
    upper = text.upper()
    candidates: list[tuple[str, Parameter]] = []
    for param in declared:
        for name in (param.name, *param.aliases):
            candidates.append((name.upper(), param))
    for name, param in sorted(candidates, key=lambda item: len(item[0]), reverse=True):
        if upper == name:
            return param, ""
        if param.kind == "mapping" and upper.startswith(name + "_"):
            return param, text[len(name) + 1 :]
    return None, ""


def _typed(param: Parameter, value: str) -> Any:
    """A variable's value for a parameter: text as written for a string
    (secrets especially: `0123` stays `0123`) and a choice (s3 `loglevel`
    `off`, which YAML 1.1 reads as false), JSON/YAML for a mapping, YAML
    scalars otherwise (`true`, `10`), as upstream."""
    if param.kind in {"str", "choice"} or (param.secret and param.kind != "mapping"):
        return value
    return _yaml_scalar(value)
