"""The per-test store guard, shared by the `driver` fixture and the plugin.

It lives in its own small module so the always-loaded pytest plugin can
reach it without importing the whole suite.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import pytest

from regstore.driver import StorageDriver
from regstore.errors import PathNotFoundError

__all__ = ["STORE_GUARD", "StoreGuard"]


@dataclass
class StoreGuard:
    """Checks that a test left its store empty, as distribution's
    `TearDownTest` does, and empties it whatever the verdict."""

    driver: StorageDriver
    #: Set once the verdict is given (by the plugin right after the test
    #: function, so a leak fails the test itself rather than its teardown).
    checked: bool = False
    leaked: list[str] = field(default_factory=list)

    def leftovers(self) -> list[str]:
        """The top-level entries still in the store."""
        try:
            return list(self.driver.list("/"))
        except PathNotFoundError:
            return []

    def verify(self) -> None:
        """Raise AssertionError when the store is not empty."""
        self.checked = True
        self.leaked = self.leftovers()
        if self.leaked:
            raise AssertionError(
                f"{self.driver.name}: the test left entries in the store "
                f"(list('/') = {self.leaked!r}); every test must leave the store empty"
            )

    def finish(self) -> None:
        """Teardown: give the verdict if nobody did, then empty the store."""
        left = self.leftovers()
        for path in left:
            with contextlib.suppress(PathNotFoundError):
                self.driver.delete(path)
        if not self.checked and left:
            self.checked = True
            pytest.fail(
                f"{self.driver.name}: the test left entries in the store "
                f"(list('/') = {left!r}); every test must leave the store empty"
            )


#: Where the `driver` fixture puts its guard on the test item.
STORE_GUARD = pytest.StashKey[StoreGuard]()
