"""The whole conformance suite against the filesystem driver, each test on a
fresh temporary root."""

from __future__ import annotations

from regstore.testing import StorageDriverSuite


class TestFilesystemConformance(StorageDriverSuite):
    driver_name = "filesystem"
    local_root = True
