"""`make new-plugin` / scripts/new_plugin.py: names, refusals, renaming; and
the one template they and `regstore new-driver` copy: plugins/_template,
carried unchanged in the core wheel. (The wheel's `regstore new-driver`,
start to finish in a fresh venv: test_third_party.py.)"""

from __future__ import annotations

import ast
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO, run

SCRIPT = REPO / "scripts" / "new_plugin.py"


def new_plugin(*args: str | Path, check: bool = True) -> str:
    result = run([sys.executable, SCRIPT, *args], check=check)
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    "name", ["Acme", "1acme", "ac-me", "_acme", "acme_", "ac__me", "class", ""]
)
def test_refuses_names_that_are_not_lowercase_identifiers(name: str, tmp_path: Path) -> None:
    result = run([sys.executable, SCRIPT, name, "--dest", tmp_path], check=False)
    assert result.returncode == 2
    assert "invalid NAME" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing half-made


def test_refuses_an_existing_destination(tmp_path: Path) -> None:
    (tmp_path / "regstore-acme").mkdir()
    (tmp_path / "regstore-acme" / "keep.txt").write_text("mine")
    result = run([sys.executable, SCRIPT, "acme", "--dest", tmp_path], check=False)
    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "regstore-acme").iterdir()] == ["keep.txt"]


def test_renames_every_spelling_of_the_placeholder(tmp_path: Path) -> None:
    new_plugin("object_vault", "--dest", tmp_path)
    root = tmp_path / "regstore-object-vault"
    package = root / "src" / "regstore_object_vault"
    assert sorted(p.name for p in package.iterdir()) == sorted(
        p.name
        for p in (REPO / "plugins" / "_template" / "src" / "regstore_example").iterdir()
        if p.name != "__pycache__"
    )
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "regstore-object-vault"
    entry_points = project["project"]["entry-points"]["registry.storage_drivers"]
    assert entry_points == {"object_vault": "regstore_object_vault.plugin:SPEC"}
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/regstore_object_vault"
    ]
    plugin = (package / "plugin.py").read_text()
    assert 'name="object_vault"' in plugin
    assert "regstore_object_vault.driver:ObjectVaultDriver.from_parameters" in plugin
    assert "class ObjectVaultDriver(StorageDriver)" in (package / "driver.py").read_text()
    assert "class TestObjectVaultConformance" in (root / "tests" / "test_suite.py").read_text()
    # A project of its own: README, .gitignore and CI workflow come along.
    for extra in ("README.md", ".gitignore", ".github/workflows/ci.yml"):
        assert (root / extra).is_file(), extra
    assert "regstore check object_vault" in (root / ".github/workflows/ci.yml").read_text()
    for path in root.rglob("*"):
        assert "example" not in path.name.lower()
        if path.is_file():
            text = path.read_text()
            assert "example" not in text.lower(), path
            if path.suffix == ".py":
                ast.parse(text, filename=str(path))  # still valid Python


def test_make_target_needs_a_name_and_passes_dest(tmp_path: Path) -> None:
    result = run(["make", "-s", "-C", REPO, "new-plugin"], check=False)
    assert result.returncode != 0
    assert "usage: make new-plugin NAME=x" in result.stderr
    run(["make", "-s", "-C", REPO, "new-plugin", "NAME=zeta", f"DEST={tmp_path}"])
    assert (tmp_path / "regstore-zeta" / "src" / "regstore_zeta" / "driver.py").is_file()


def test_the_core_wheel_carries_the_template_unchanged(core_wheel: Path) -> None:
    """One source of truth: the template in the wheel is plugins/_template's
    tracked files, byte for byte (no copy to keep in sync by hand)."""
    tracked = run(["git", "-C", REPO, "ls-files", "plugins/_template"]).stdout.split()
    expected = {
        name.removeprefix("plugins/_template/"): (REPO / name).read_bytes() for name in tracked
    }
    prefix = "regstore/scaffold/template/"
    with zipfile.ZipFile(core_wheel) as wheel:
        shipped = {
            name.removeprefix(prefix): wheel.read(name)
            for name in wheel.namelist()
            if name.startswith(prefix) and not name.endswith("/")
        }
    stale = f"{core_wheel.name} does not carry plugins/_template as it is: rebuild it"
    assert sorted(shipped) == sorted(expected), stale
    assert shipped == expected, stale
