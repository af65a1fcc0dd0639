"""Shared fixtures for core's unit tests.

Discovery is tested the way pluggy tests its own: fake installed
distributions, served by monkeypatching `importlib.metadata.distributions`,
whose entry points name modules written to a temporary directory on
sys.path. No real install, and every test gets a fresh `DriverRegistry`.

For tests that run the CLI in a child process, `installed_fakes` writes real
`.dist-info` directories instead (found through PYTHONPATH), since a
monkeypatch does not cross a process boundary.
"""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from regstore import DRIVER_GROUP, DriverRegistry

#: A plugin module: adds one driver whose class lives in another module.
PLUGIN_SOURCE = """
from regstore import DriverSpec, Parameter, hookimpl

@hookimpl
def regstore_add_drivers(registry):
    registry.add(DriverSpec(
        name={name!r},
        factory={factory!r},
        parameters=(
            Parameter("accountkey", secret=True),
            Parameter("region", default="here"),
        ),
        api_version={api_version!r},
    ))
"""

#: A driver module: the real inmemory driver under another class name.
DRIVER_SOURCE = """
from regstore_inmemory.driver import InMemoryDriver

class Driver(InMemoryDriver):
    @classmethod
    def from_parameters(cls, params):
        driver = cls()
        driver.params = params
        return driver
"""


class FakeDistribution(importlib.metadata.Distribution):
    """An installed distribution that exists only in memory."""

    def __init__(self, name: str, version: str, entry_points: Mapping[str, str]) -> None:
        self._files = {
            "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            "entry_points.txt": f"[{DRIVER_GROUP}]\n"
            + "".join(f"{k} = {v}\n" for k, v in entry_points.items()),
        }

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path: str | os.PathLike[str]) -> pathlib.Path:
        return pathlib.Path(path)


@dataclass
class FakeEnvironment:
    """Fake installed distributions plus the modules they name."""

    directory: pathlib.Path
    distributions: list[FakeDistribution] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def module(self, stem: str, source: str) -> str:
        """Write a module; returns its unique import name."""
        name = f"fake_{stem}_{self.tag}"
        (self.directory / f"{name}.py").write_text(textwrap.dedent(source))
        self.modules.append(name)
        return name

    def driver_plugin(
        self, driver_name: str, *, api_version: str = "1.0", stem: str | None = None
    ) -> tuple[str, str]:
        """A plugin module and a driver module for `driver_name`; returns
        (plugin module, driver module)."""
        stem = stem or driver_name
        driver_module = self.module(f"{stem}_driver", DRIVER_SOURCE)
        plugin_module = self.module(
            f"{stem}_plugin",
            PLUGIN_SOURCE.format(
                name=driver_name,
                factory=f"{driver_module}:Driver.from_parameters",
                api_version=api_version,
            ),
        )
        return plugin_module, driver_module

    def distribution(
        self, name: str, entry_points: Mapping[str, str], version: str = "1.2.3"
    ) -> None:
        self.distributions.append(FakeDistribution(name, version, entry_points))


@pytest.fixture
def fake_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEnvironment]:
    """Only the fake distributions are installed while the test runs."""
    env = FakeEnvironment(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        importlib.metadata, "distributions", lambda **kwargs: iter(list(env.distributions))
    )
    yield env
    for name in env.modules:
        sys.modules.pop(name, None)


@pytest.fixture
def registry(fake_env: FakeEnvironment) -> DriverRegistry:
    """A fresh registry that sees only the fake distributions."""
    return DriverRegistry()


@pytest.fixture
def real_registry() -> DriverRegistry:
    """A fresh registry over the real installed distributions (inmemory)."""
    return DriverRegistry()


# -- real, installed fakes for child processes --------------------------------

BROKEN_PLUGIN = """
from regstore import DriverSpec, Parameter, hookimpl

@hookimpl
def regstore_add_drivers(registry):
    registry.add(DriverSpec(
        name="brokenfake",
        factory="regstore_brokenfake.driver:BrokenDriver.from_parameters",
        parameters=(Parameter("secretkey", secret=True),),
    ))
"""

BROKEN_DRIVER = """
from regstore_inmemory.driver import InMemoryDriver

class BrokenDriver(InMemoryDriver):
    '''Loses the last byte of every object longer than one byte: a subtle
    corruption the conformance suite and the benchmarks must catch.'''

    @classmethod
    def from_parameters(cls, params):
        driver = cls()
        driver.secret = params.get("secretkey")
        return driver

    def get_content(self, path):
        data = super().get_content(path)
        return data[:-1] if len(data) > 1 else data

    def reader(self, path, offset=0):
        import io
        return io.BytesIO(self.get_content(path)[offset:])
"""

UNLOADABLE_PLUGIN = """
from regstore import DriverSpec, hookimpl

@hookimpl
def regstore_add_drivers(registry):
    registry.add(DriverSpec(
        name="unloadablefake",
        factory="regstore_unloadablefake.driver:Driver.from_parameters",
    ))
"""

UNLOADABLE_DRIVER = """
raise ImportError("the SDK of unloadablefake is not installed")
"""


def _write_installed(root: pathlib.Path, dist: str, driver: str, plugin: str, module: str) -> None:
    package = root / f"regstore_{driver}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(textwrap.dedent(plugin))
    (package / "driver.py").write_text(textwrap.dedent(module))
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{DRIVER_GROUP}]\n{driver} = regstore_{driver}.plugin\n"
    )


@pytest.fixture(scope="session")
def installed_fakes(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A directory that, on PYTHONPATH, installs two extra drivers:
    `brokenfake` (corrupts content; takes a secret `secretkey`) and
    `unloadablefake` (its driver module fails to import)."""
    root = tmp_path_factory.mktemp("installed")
    _write_installed(root, "regstore-brokenfake", "brokenfake", BROKEN_PLUGIN, BROKEN_DRIVER)
    _write_installed(
        root, "regstore-unloadablefake", "unloadablefake", UNLOADABLE_PLUGIN, UNLOADABLE_DRIVER
    )
    return root
