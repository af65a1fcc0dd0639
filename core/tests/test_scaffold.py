"""`regstore new-driver NAME [DIR]` and `regstore.scaffold`: the template
ships with core (from the wheel as from a checkout), every spelling of its
name is replaced, and the package made is a project of its own (README,
.gitignore, CI workflow)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
import yaml

from regstore import scaffold
from regstore.cli import main


def files_below(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_template_ships_with_core() -> None:
    template = scaffold.template_dir()
    shipped = files_below(template)
    for required in (
        "pyproject.toml",
        "README.md",
        ".gitignore",
        ".github/workflows/ci.yml",
        "src/regstore_example/plugin.py",
        "src/regstore_example/driver.py",
        "tests/test_suite.py",
    ):
        assert required in shipped, shipped


def test_new_driver_makes_a_project_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "work" / "regstore-object-vault"
    assert main(["new-driver", "object_vault", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"created {target}" in out
    assert "regstore check object_vault" in out
    # Every file of the template, renamed; nothing else (no caches, no
    # staging). pip compiles an installed template's .py files beside them:
    # those caches are not part of the template.
    expected = sorted(
        scaffold.render(name, "object_vault")
        for name in files_below(scaffold.template_dir())
        if "__pycache__" not in Path(name).parts
    )
    assert files_below(target) == expected
    assert [p.name for p in target.parent.iterdir()] == ["regstore-object-vault"]
    project = tomllib.loads((target / "pyproject.toml").read_text())
    assert project["project"]["name"] == "regstore-object-vault"
    assert project["project"]["entry-points"]["registry.storage_drivers"] == {
        "object_vault": "regstore_object_vault.plugin:SPEC"
    }
    assert project["project"]["optional-dependencies"]["test"] == ["regstore[testing]>=0.1,<0.2"]
    package = target / "src" / "regstore_object_vault"
    assert "class ObjectVaultDriver(StorageDriver)" in (package / "driver.py").read_text()
    for path in target.rglob("*"):
        assert "example" not in path.name.lower()
        if path.is_file():
            text = path.read_text()
            assert "example" not in text.lower(), path
            if path.suffix == ".py":
                ast.parse(text, filename=str(path))
    readme = (target / "README.md").read_text()
    assert readme.startswith("# regstore-object-vault\n")
    assert "regstore new-driver object_vault" in readme
    ignored = (target / ".gitignore").read_text().splitlines()
    assert {"__pycache__/", "dist/", "*.egg-info/", ".venv/"} <= set(ignored)


def test_the_ci_workflow_runs_the_tests_on_push(tmp_path: Path) -> None:
    target = scaffold.create("acme", tmp_path / "acme")
    workflow = yaml.safe_load((target / ".github" / "workflows" / "ci.yml").read_text())
    assert "push" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert 'python -m pip install -e ".[test]"' in steps
    assert "python -m pytest tests" in steps
    assert "regstore check acme" in steps


def test_default_folder_is_the_distribution_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new-driver", "acme_store"]) == 0
    assert (tmp_path / "regstore-acme-store" / "src" / "regstore_acme_store").is_dir()


def test_an_empty_folder_is_used_a_full_one_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["new-driver", "acme", str(empty)]) == 0
    assert (empty / "pyproject.toml").is_file()
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    capsys.readouterr()
    assert main(["new-driver", "acme", str(full)]) == 2
    assert "already exists; not overwriting it" in capsys.readouterr().err
    assert [p.name for p in full.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("name", ["Acme", "1acme", "ac-me", "_acme", "acme_", "ac__me", "class"])
def test_bad_names_are_refused_and_nothing_is_made(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-driver", name, str(tmp_path / "out")]) == 2
    assert "invalid NAME" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_package_inside_a_repository_gets_no_ci_workflow(tmp_path: Path) -> None:
    """`make new-plugin NAME=x` (plugins/x in this repository, whose CI
    tests it) leaves out what only a standalone project needs."""
    target = scaffold.create("acme", tmp_path / "acme", standalone=False)
    assert not (target / ".github").exists()
    assert (target / ".gitignore").is_file()
    assert (target / "README.md").is_file()
