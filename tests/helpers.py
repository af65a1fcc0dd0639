"""Helpers for the cross-package tests: commands, pins, wheels, fresh venvs.

These tests install real packages with plain pip into fresh virtual
environments, as a user or a third party would. `make test-integration`
runs them in a venv holding the core and plugin wheels and points
REGSTORE_DIST at dist/; run from the dev venv (`.venv/bin/pytest tests`)
they build the core wheel themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(
    argv: Sequence[str | Path], *, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; on an unexpected failure the
    assertion message carries that output."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.pop("PYTHONPATH", None)  # nothing of the repository sneaks in
    result = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"{argv} exited {result.returncode}\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}"
        )
    return result


def pins() -> dict[str, str]:
    """requirements/dev.txt as {lowercase name: "name==version"}."""
    found: dict[str, str] = {}
    for raw in (REPO / "requirements" / "dev.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            found[line.split("==", 1)[0].lower()] = line
    return found


def build_wheel(source: Path, out: Path) -> Path:
    """Build `source` into a wheel in `out` with this interpreter's hatchling
    (no build isolation: no download of build tools per test)."""
    before = set(out.glob("*.whl"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", out, source])  # fmt: skip
    (wheel,) = set(out.glob("*.whl")) - before
    return wheel


@dataclass
class Venv:
    """A fresh virtual environment, installed into with this interpreter's
    pip (`pip --python`), so making one costs no pip bootstrap."""

    path: Path

    @classmethod
    def create(cls, path: Path) -> Venv:
        run([sys.executable, "-m", "venv", "--without-pip", path])
        return cls(path)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def install(self, *requirements: str | Path) -> None:
        run([sys.executable, "-m", "pip", "--python", self.python, "install", "--quiet",
             *requirements])  # fmt: skip
