"""The suite's foundation: how a test gets its driver, its sizes and its root.

Every themed mixin (`_content`, `_streams`, ...) subclasses `SuiteBase`;
`StorageDriverSuite` combines them. A third party sets class attributes and,
when a value is only known at run time (an emulator's port), overrides the
`driver_base_params` fixture or `make_driver`.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import pytest

import regstore
from regstore.driver import StorageDriver
from regstore.errors import PathNotFoundError
from regstore.managed import ManagedDriver
from regstore.testing._state import STORE_GUARD, StoreGuard

__all__ = ["FULL", "SHORT", "Sizes", "SuiteBase", "is_full_mode"]

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

#: The name of every random root begins with this.
ROOT_PREFIX = "regstore-suite-"
#: The environment variable that turns on full mode, like `--regstore-full`.
FULL_ENV = "REGSTORE_FULL"


@dataclass(frozen=True)
class Sizes:
    """The sizes of the heavy cases. Short and full mode run the same cases;
    only these numbers differ."""

    #: TestWriteReadLargeStreams (distribution: 5 GiB).
    large_stream: int
    #: TestConcurrentStreamReads file size (distribution: 128 MiB) and readers.
    concurrent_read: int
    concurrent_readers: int
    #: TestConcurrentFileStreams: streams, each of this size (distribution: 32 x 32 MiB).
    file_streams: int
    file_stream_size: int
    #: TestContinueStreamAppendLarge chunk (distribution: 10 MiB).
    append_large_chunk: int
    #: Bytes a crashed writer wrote after its last close (above S3's 5 MiB
    #: part size, so a part-uploading driver has really sent some of them).
    crash_tail: int
    #: Sleep between two puts before comparing mod_time (distribution: 10 s).
    mod_time_sleep: float


SHORT = Sizes(
    large_stream=32 * MiB,
    concurrent_read=8 * MiB,
    concurrent_readers=10,
    file_streams=8,
    file_stream_size=1 * MiB,
    append_large_chunk=6 * MiB + 7,
    crash_tail=6 * MiB + 3,
    mod_time_sleep=1.1,
)
FULL = Sizes(
    large_stream=5 * GiB,
    concurrent_read=128 * MiB,
    concurrent_readers=10,
    file_streams=32,
    file_stream_size=32 * MiB,
    append_large_chunk=10 * MiB,
    crash_tail=12 * MiB + 3,
    mod_time_sleep=10.0,
)


def is_full_mode(config: pytest.Config) -> bool:
    """`--regstore-full` or REGSTORE_FULL=1 (the option may be absent when
    the plugin is disabled; the environment still works then)."""
    if config.getoption("regstore_full", default=False):
        return True
    return os.environ.get(FULL_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _remove_empty_local_root(root: object) -> None:
    """A local driver (filesystem) leaves its emptied root directory behind;
    `regstore check filesystem -p rootdirectory=D` would leave one
    `regstore-suite-*` directory in D per test. Remove it when it is a local,
    empty directory of ours; anything else (a bucket prefix) is left alone."""
    if not isinstance(root, str) or not os.path.basename(root).startswith(ROOT_PREFIX):
        return
    with contextlib.suppress(OSError):  # absent, not empty or not local: not ours to remove
        os.rmdir(root)


class SuiteBase:
    """Fixtures and helpers shared by every part of the suite."""

    #: The driver to test, created with `regstore.create(driver_name, params)`.
    driver_name: ClassVar[str] = ""
    #: Parameters for the driver (the random root is added to them).
    driver_params: ClassVar[Mapping[str, object]] = {}
    #: The parameter that receives a per-test random root, so runs never
    #: collide; None when the driver has no such parameter.
    root_parameter: ClassVar[str | None] = "rootdirectory"
    #: True: the random root is a fresh directory under pytest's tmp dir
    #: (local drivers such as filesystem). False: `regstore-suite-<hex>` is
    #: joined onto `driver_params[root_parameter]` (or used alone).
    local_root: ClassVar[bool] = False

    # -- hooks for subclasses ---------------------------------------------

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        """Create one driver instance from `params`. Override to build a
        driver without the factory; the suite wraps the result in
        `ManagedDriver` unless it already is one."""
        if not self.driver_name:
            raise pytest.UsageError(
                f"{type(self).__name__}: set driver_name or override make_driver"
            )
        return regstore.create(self.driver_name, params)

    # -- fixtures ---------------------------------------------------------

    @pytest.fixture
    def full_mode(self, request: pytest.FixtureRequest) -> bool:
        """Whether the heavy cases run at distribution's sizes."""
        return is_full_mode(request.config)

    @pytest.fixture
    def sizes(self, full_mode: bool) -> Sizes:
        """The sizes for this run's mode."""
        return FULL if full_mode else SHORT

    @pytest.fixture
    def driver_base_params(self) -> dict[str, object]:
        """The parameters before the random root is added. Override this
        fixture when they are only known at run time."""
        return dict(self.driver_params)

    @pytest.fixture
    def suite_root(
        self, driver_base_params: dict[str, object], tmp_path_factory: pytest.TempPathFactory
    ) -> str | None:
        """This test's random root (None without a root parameter). A local
        root's directory is not created: a new store must work without it."""
        if self.root_parameter is None:
            return None
        token = f"{ROOT_PREFIX}{secrets.token_hex(6)}"
        if self.local_root:
            return str(tmp_path_factory.mktemp("regstore") / token)
        base = driver_base_params.get(self.root_parameter)
        if base:
            return f"{str(base).rstrip('/')}/{token}"
        return f"/{token}"

    @pytest.fixture
    def suite_params(
        self, driver_base_params: dict[str, object], suite_root: str | None
    ) -> dict[str, object]:
        """The parameters every driver instance of this test is made with."""
        params = dict(driver_base_params)
        if self.root_parameter is not None and suite_root is not None:
            params[self.root_parameter] = suite_root
        return params

    @pytest.fixture
    def new_driver(self, suite_params: dict[str, object]) -> Callable[[], StorageDriver]:
        """Make another, independent instance over the same store."""
        return lambda: self._create(suite_params)

    @pytest.fixture
    def driver(
        self, request: pytest.FixtureRequest, suite_params: dict[str, object]
    ) -> Iterator[StorageDriver]:
        """A fresh driver under a fresh random root. The store must be empty
        when the test ends: a test that leaves entries behind fails (the
        plugin checks right after the test; without the plugin, teardown
        does), and the store is emptied either way."""
        drv = self._create(suite_params)
        guard = StoreGuard(drv)
        request.node.stash[STORE_GUARD] = guard
        yield drv
        guard.finish()
        _remove_empty_local_root(suite_params.get(self.root_parameter or ""))

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> random.Random:
        """Random numbers seeded by the test's id, so a failure reproduces."""
        return random.Random(request.node.nodeid)

    # -- helpers ----------------------------------------------------------

    def _create(self, params: Mapping[str, object]) -> StorageDriver:
        drv = self.make_driver(dict(params))
        if not isinstance(drv, ManagedDriver):
            drv = ManagedDriver(drv, name=self.driver_name or type(drv).__name__)
        return drv

    @staticmethod
    def remove(driver: StorageDriver, *paths: str) -> None:
        """Delete `paths`, ignoring those already gone (distribution's
        deferred `deletePath`)."""
        for path in paths:
            with contextlib.suppress(PathNotFoundError):
                driver.delete(path)

    @staticmethod
    def assert_not_found(driver: StorageDriver, call: Callable[[], object]) -> PathNotFoundError:
        """Assert that `call` raises PathNotFoundError naming the driver."""
        with pytest.raises(PathNotFoundError) as info:
            call()
        assert driver.name in str(info.value), f"error lacks the driver name: {info.value}"
        return info.value
