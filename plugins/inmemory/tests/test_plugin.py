"""The suite's pytest plugin and check module, seen from a child pytest:
inert unless asked, and `regstore.testing.check` runs the suite for the
driver named on the command line (what `regstore check` does)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plugin_is_inert_for_other_projects(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "def test_fixture_names(request):\n"
        "    assert 'driver' not in request.fixturenames\n"
        "    assert request.config.getoption('regstore_driver') is None\n"
    )
    run = _pytest(tmp_path, "-q", "--fixtures")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "suite_params" not in run.stdout  # no fixture leaks into other projects
    run = _pytest(tmp_path, "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_plugin_adds_options(tmp_path: Path) -> None:
    run = _pytest(tmp_path, "--help")
    for option in ("--regstore-driver", "--regstore-param", "--regstore-full"):
        assert option in run.stdout


def test_check_module_skips_without_driver(tmp_path: Path) -> None:
    run = _pytest(tmp_path, "-q", "-rs", "--pyargs", "regstore.testing.check")
    assert "1 skipped" in run.stdout, run.stdout + run.stderr
    assert "--regstore-driver" in run.stdout


def test_check_module_runs_the_suite(tmp_path: Path) -> None:
    run = _pytest(
        tmp_path,
        "-q",
        "--pyargs",
        "regstore.testing.check",
        "--regstore-driver",
        "inmemory",
        "-k",
        "test_list or test_walk",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout
    assert "failed" not in run.stdout


def test_check_module_rejects_bad_param(tmp_path: Path) -> None:
    run = _pytest(
        tmp_path,
        "-q",
        "--pyargs",
        "regstore.testing.check",
        "--regstore-driver",
        "inmemory",
        "--regstore-param",
        "novalue",
    )
    assert run.returncode != 0
    assert "KEY=VALUE" in run.stdout + run.stderr
