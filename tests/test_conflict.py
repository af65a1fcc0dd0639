"""Two installed distributions that claim one driver name: regstore refuses
to pick one, naming both, before importing either. Real packages, built
with hatchling and installed with pip into a fresh venv."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Venv, build_wheel, run

pytestmark = pytest.mark.slow

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "regstore-clash-{letter}"
version = "1.0.{letter_number}"
dependencies = ["regstore"]

[project.entry-points."registry.storage_drivers"]
clash = "clash_{letter}.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/clash_{letter}"]
"""

PLUGIN = """\
from regstore import DriverSpec, hookimpl

SPEC = DriverSpec(name="clash", factory="clash_{letter}.driver:make")


@hookimpl
def regstore_add_drivers(registry):
    registry.add(SPEC)
"""

PROBE = """
import sys
import regstore
try:
    regstore.create("clash")
except regstore.DriverConflictError as err:
    print(err)
    print(sorted(m for m in sys.modules if m.startswith("clash_")))
else:
    sys.exit("created a driver although two distributions claim its name")
"""


def make_distribution(root: Path, letter: str) -> Path:
    project = root / f"clash-{letter}"
    package = project / "src" / f"clash_{letter}"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(letter=letter, letter_number=ord(letter) - ord("a"))
    )
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(PLUGIN.format(letter=letter))
    return project


@dataclass
class Clash:
    venv: Venv
    listing_with_one: str


@pytest.fixture(scope="module")
def clash(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> Clash:
    sources = tmp_path_factory.mktemp("clash-src")
    wheels = tmp_path_factory.mktemp("clash-dist")
    first, second = (build_wheel(make_distribution(sources, x), wheels) for x in "ab")
    venv = Venv.create(tmp_path_factory.mktemp("clash-venv"))
    venv.install(core_wheel, first)
    # With one claim the name is listed normally: the setup itself is sound.
    listing = run([venv.bin("regstore"), "drivers"]).stdout
    venv.install(second)
    return Clash(venv, listing)


def test_one_distribution_alone_is_listed(clash: Clash) -> None:
    assert "clash" in clash.listing_with_one
    assert "regstore-clash-a" in clash.listing_with_one


def test_regstore_drivers_fails_naming_both(clash: Clash) -> None:
    result = run([clash.venv.bin("regstore"), "drivers"], check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "regstore-clash-a" in output
    assert "regstore-clash-b" in output


def test_create_fails_naming_both_and_imports_neither(clash: Clash) -> None:
    result = run([clash.venv.python, "-c", PROBE])
    message, modules = result.stdout.strip().splitlines()[-2:]
    assert "clash" in message
    assert "regstore-clash-a" in message
    assert "regstore-clash-b" in message
    assert modules == "[]"
    assert sys.executable != str(clash.venv.python)
