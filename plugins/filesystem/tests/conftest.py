"""Fixtures: a filesystem driver, as users get it from the factory, on a
fresh root under pytest's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

import regstore
from regstore import StorageDriver


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The driver's root directory (not created: the driver creates it)."""
    return tmp_path / "store"


@pytest.fixture
def driver(root: Path) -> StorageDriver:
    """The managed driver the factory returns, over `root`."""
    return regstore.create("filesystem", {"rootdirectory": str(root)})
