"""A third party's driver, start to finish, outside this repository: copy
the template with `make new-plugin`, build and pip install it next to the
core wheel in a fresh venv, and prove that regstore finds it, that
`regstore check` passes on it and that its five-line suite passes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO, Venv, build_wheel, run

pytestmark = pytest.mark.slow


@dataclass
class ThirdParty:
    project: Path
    venv: Venv


@pytest.fixture(scope="module")
def acme(
    tmp_path_factory: pytest.TempPathFactory, core_wheel: Path, tool_pins: dict[str, str]
) -> ThirdParty:
    outside = tmp_path_factory.mktemp("thirdparty")
    run(["make", "-s", "-C", REPO, "new-plugin", "NAME=acme", f"DEST={outside}"])
    project = outside / "regstore-acme"
    wheel = build_wheel(project, tmp_path_factory.mktemp("acme-dist"))
    venv = Venv.create(tmp_path_factory.mktemp("acme-venv"))
    venv.install(core_wheel, wheel, tool_pins["pytest"], tool_pins["pytest-timeout"])
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


def test_regstore_check_passes_on_acme(acme: ThirdParty, tmp_path: Path) -> None:
    root = tmp_path / "store"
    result = run([acme.venv.bin("regstore"), "check", "acme", "-p", f"rootdirectory={root}"])
    assert result.returncode == 0
    # The suite really ran against acme: each test made its store under a
    # random root below the given one.
    databases = list(root.glob("regstore-suite-*/regstore.sqlite3"))
    assert len(databases) >= 30, result.stdout


def test_the_five_line_suite_passes_under_pytest(acme: ThirdParty) -> None:
    result = run(
        [acme.venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_suite.py"],
        cwd=acme.project,
    )
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None, result.stdout
    assert int(passed.group(1)) >= 30, result.stdout  # the whole suite, not a stub
    assert " failed" not in result.stdout


def test_its_own_driver_tests_pass_too(acme: ThirdParty) -> None:
    result = run(
        [acme.venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
         "--ignore=tests/test_suite.py"],
        cwd=acme.project,
    )  # fmt: skip
    assert re.search(r"\b[1-9]\d* passed", result.stdout), result.stdout
