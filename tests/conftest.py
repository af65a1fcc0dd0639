"""Session fixtures for the cross-package tests (helpers live in
`tests.helpers`): the wheels to install and the tool pins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import REPO, build_wheel, pins


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the core wheel is: REGSTORE_DIST (make's dist/), else built now."""
    given = os.environ.get("REGSTORE_DIST")
    if given and list(Path(given).glob("regstore-[0-9]*.whl")):
        return Path(given)
    try:
        import hatchling  # noqa: F401
    except ImportError:
        pytest.fail("set REGSTORE_DIST to a folder of wheels, or install hatchling to build them")
    out = tmp_path_factory.mktemp("dist")
    build_wheel(REPO / "core", out)
    return out


@pytest.fixture(scope="session")
def core_wheel(dist_dir: Path) -> Path:
    (wheel,) = dist_dir.glob("regstore-[0-9]*.whl")
    return wheel


@pytest.fixture(scope="session")
def tool_pins() -> dict[str, str]:
    return pins()
