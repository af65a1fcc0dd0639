"""A third party's driver, start to finish, outside this repository: the
core wheel alone in a fresh venv makes the package (`regstore new-driver
acme DIR`: the template ships in the wheel), which is built and pip
installed next to it; regstore finds it, `regstore check acme` passes on it
with no parameter and with `-p rootdirectory=DIR` (leaving DIR empty), and
its own tests pass, the five-line suite included."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Venv, build_wheel, run

pytestmark = pytest.mark.slow


@dataclass
class ThirdParty:
    project: Path
    venv: Venv


@pytest.fixture(scope="module")
def acme(
    tmp_path_factory: pytest.TempPathFactory, core_wheel: Path, tool_pins: dict[str, str]
) -> ThirdParty:
    venv = Venv.create(tmp_path_factory.mktemp("acme-venv"))
    venv.install(core_wheel)  # no checkout of this repository needed from here on
    project = tmp_path_factory.mktemp("thirdparty") / "regstore-acme"
    made = run([venv.bin("regstore"), "new-driver", "acme", project], cwd=project.parent)
    assert f"created {project}" in made.stdout
    wheel = build_wheel(project, tmp_path_factory.mktemp("acme-dist"))
    # Its `test` extra (regstore[testing]: pytest) is what its CI installs.
    venv.install(core_wheel, f"{wheel}[test]", tool_pins["pytest"], tool_pins["pytest-timeout"])
    return ThirdParty(project, venv)


def code_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_suite_file_is_at_most_five_lines(acme: ThirdParty) -> None:
    lines = code_lines(acme.project / "tests" / "test_suite.py")
    assert len(lines) <= 5, lines
    assert "from regstore.testing import StorageDriverSuite" in lines
    assert 'driver_name = "acme"' in lines


def test_regstore_drivers_lists_acme_with_its_distribution(acme: ThirdParty) -> None:
    output = run([acme.venv.bin("regstore"), "drivers"]).stdout
    rows = [line for line in output.splitlines() if re.search(r"\bacme\b", line)]
    assert any("regstore-acme" in row for row in rows), output
    code = "import regstore; print([(d.name, d.distribution) for d in regstore.drivers()])"
    listed = run([acme.venv.python, "-c", code])
    assert "('acme', 'regstore-acme')" in listed.stdout


def passed(output: str) -> int:
    """The number of passed tests in a `regstore check` or pytest summary."""
    found = re.search(r"(\d+) passed", output)
    assert found is not None, output
    return int(found.group(1))


def test_regstore_check_passes_on_acme_with_no_parameter(acme: ThirdParty) -> None:
    """Its rootdirectory is local (DriverSpec.local_root) and not required:
    check runs it in a temporary directory of its own."""
    result = run([acme.venv.bin("regstore"), "check", "acme"], cwd=acme.project)
    assert passed(result.stdout) >= 30, result.stdout  # the whole suite, not a stub
    assert " 0 failed" in result.stdout


def test_regstore_check_below_a_given_root_leaves_it_empty(
    acme: ThirdParty, tmp_path: Path
) -> None:
    """Each test makes its store under a random root below the given one and
    empties it; an empty store is no file, so nothing is left (the template
    used to leave one database a test: 110 of them, 106 MB)."""
    root = tmp_path / "store"
    result = run([acme.venv.bin("regstore"), "check", "acme", "-p", f"rootdirectory={root}"])
    assert passed(result.stdout) >= 30, result.stdout
    assert " 0 failed" in result.stdout
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
    assert left == [], f"check left {len(left)} paths behind: {left[:10]}"


def test_the_generated_project_has_its_own_readme_gitignore_and_ci(acme: ThirdParty) -> None:
    readme = (acme.project / "README.md").read_text()
    assert readme.startswith("# regstore-acme\n")
    assert "regstore check acme" in readme
    assert "__pycache__/" in (acme.project / ".gitignore").read_text().splitlines()
    ci = (acme.project / ".github" / "workflows" / "ci.yml").read_text()
    assert 'pip install -e ".[test]"' in ci
    assert "pytest" in ci
    assert "regstore check acme" in ci


def test_the_five_line_suite_passes_under_pytest(acme: ThirdParty) -> None:
    result = run(
        [acme.venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_suite.py"],
        cwd=acme.project,
    )
    assert passed(result.stdout) >= 30, result.stdout  # the whole suite, not a stub
    assert " failed" not in result.stdout


def test_its_own_driver_tests_pass_too(acme: ThirdParty) -> None:
    result = run(
        [acme.venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
         "--ignore=tests/test_suite.py"],
        cwd=acme.project,
    )  # fmt: skip
    assert re.search(r"\b[1-9]\d* passed", result.stdout), result.stdout
