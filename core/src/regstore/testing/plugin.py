"""The pytest plugin (`pytest11` entry point `regstore`).

pytest loads it in every session wherever regstore is installed, so it does
nothing unless asked: it adds command-line options and markers, and it
checks the store after a test only when the test used the suite's `driver`
fixture. No collection, no fixtures.

Options:

- `--regstore-driver NAME`: the driver `regstore.testing.check` tests
  (without it that module skips itself).
- `--regstore-param KEY=VALUE` (repeatable): its parameters; values are
  strings, coerced by the factory as config.yml values are.
- `--regstore-root-param NAME`: the parameter that receives the per-test
  random root (default: `rootdirectory` if the driver declares it; `none`
  for no root parameter).
- `--regstore-local-root`: put the random root under pytest's tmp dir (the
  default for a driver whose spec says `local_root` when no root value is
  given).
- `--regstore-full`: distribution's full sizes (also REGSTORE_FULL=1).
- `--regstore-faults RATE`: the fault rate of the random-fault cases (also
  REGSTORE_FAULTS=RATE; default 0.1).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from regstore.params import parse_assignments
from regstore.testing._state import STORE_GUARD

if TYPE_CHECKING:
    from regstore.config import StorageConfig

__all__ = ["CheckSettings", "active_config", "check_settings"]

MARKERS = (
    "regstore_heavy: a conformance case whose size grows in full mode (--regstore-full)",
    "regstore_process: a conformance case that starts child processes",
)

_configs: list[pytest.Config] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("regstore", "regstore storage-driver conformance suite")
    group.addoption(
        "--regstore-driver",
        metavar="NAME",
        default=None,
        help="driver for regstore.testing.check (skipped without it)",
    )
    group.addoption(
        "--regstore-param",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a driver parameter for regstore.testing.check (repeatable)",
    )
    group.addoption(
        "--regstore-config",
        metavar="FILE",
        default=None,
        help="a distribution config.yml for regstore.testing.check: its storage driver, "
        "parameters and middleware (REGISTRY_* variables applied); --regstore-param "
        "values override its parameters",
    )
    group.addoption(
        "--regstore-root-param",
        metavar="NAME",
        default=None,
        help="parameter receiving the per-test random root "
        "(default: rootdirectory if the driver has it; 'none' for none)",
    )
    group.addoption(
        "--regstore-local-root",
        action="store_true",
        default=False,
        help="create the per-test random root under pytest's tmp dir",
    )
    group.addoption(
        "--regstore-faults",
        metavar="RATE",
        default=None,
        help="fault rate (0-1) of the random-fault conformance cases (or REGSTORE_FAULTS)",
    )
    group.addoption(
        "--regstore-full",
        action="store_true",
        default=False,
        help="run heavy conformance cases at distribution's sizes (or REGSTORE_FULL=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    _configs.append(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _configs:
        _configs.remove(config)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Right after a suite test passes, fail it if it left the store
    non-empty (the `driver` fixture's teardown then only cleans up)."""
    guard = pyfuncitem.stash.get(STORE_GUARD, None)
    try:
        result = yield
    except BaseException:
        if guard is not None:
            guard.checked = True  # the test failed already; teardown just cleans
        raise
    if guard is not None:
        guard.verify()
    return result


FAULTS_ENV = "REGSTORE_FAULTS"


def fault_rate(config: pytest.Config) -> float | None:
    """`--regstore-faults RATE` or REGSTORE_FAULTS; None when neither is
    given. A value outside [0, 1] is a usage error."""
    raw = config.getoption("regstore_faults", default=None) or os.environ.get(FAULTS_ENV)
    if raw is None or not str(raw).strip():
        return None
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise pytest.UsageError(f"--regstore-faults expects a rate from 0 to 1, not {raw!r}")
    return rate


def active_config() -> pytest.Config | None:
    """The config of the running pytest session, for `regstore.testing.check`
    (a test module has no other way to read options at import time)."""
    return _configs[-1] if _configs else None


@dataclass(frozen=True)
class CheckSettings:
    """What `regstore.testing.check` tests, from the command line."""

    driver: str
    params: dict[str, object] = field(default_factory=dict)
    root_parameter: str | None = "rootdirectory"
    local_root: bool = False
    #: From `--regstore-config`: the drivers are made through it, so its
    #: middleware and settings apply.
    config: StorageConfig | None = None


def parse_params(pairs: list[str]) -> dict[str, object]:
    """`["k=v", ...]` to a dict; a pair without `=` is a usage error."""
    try:
        return dict(parse_assignments(pairs))
    except ValueError as err:
        raise pytest.UsageError(f"--regstore-param expects KEY=VALUE: {err}") from None


def check_settings(config: pytest.Config) -> CheckSettings | None:
    """The settings from the options, or None without `--regstore-driver`."""
    name = config.getoption("regstore_driver", default=None)
    config_file = config.getoption("regstore_config", default=None)
    if not name and not config_file:
        return None
    params = parse_params(list(config.getoption("regstore_param", default=[]) or []))
    import regstore  # noqa: PLC0415  (only when a check is asked for)
    from regstore.config import load_config  # noqa: PLC0415

    storage: StorageConfig | None = None
    if config_file:
        try:
            storage = load_config(config_file)
        except regstore.RegstoreError as err:
            raise pytest.UsageError(f"--regstore-config: {err}") from None
        if name and name != storage.driver:
            raise pytest.UsageError(
                f"--regstore-driver {name} does not match the driver of {config_file} "
                f"({storage.driver})"
            )
        name = storage.driver
        params = {**storage.parameters, **params}
    from regstore.testing.roots import scratch_root  # noqa: PLC0415

    root, local = scratch_root(regstore.default_registry().spec(name), params)
    chosen: str | None = config.getoption("regstore_root_param", default=None)
    if chosen is not None:
        root = None if chosen.strip().lower() in {"", "none"} else chosen
    local = root is not None and (
        local or bool(config.getoption("regstore_local_root", default=False))
    )
    return CheckSettings(name, params, root, local, storage)
