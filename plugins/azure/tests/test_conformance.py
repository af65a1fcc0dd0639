"""distribution's storage-driver test suite (regstore's conformance suite)
against the azure driver on an Azurite the tests start themselves."""

from __future__ import annotations

import pytest

from regstore.testing import StorageDriverSuite


class TestAzureConformance(StorageDriverSuite):
    """Every suite test, with a fresh random rootdirectory per test.

    Two blocks in flight here (the default is four, which the fault-proxy
    class and the other tests use): the suite's write failure points arm
    faults only while `write()` runs, and with four slots a write of three
    blocks returns before its background Put Blocks reach the proxy, so the
    faults would land on nothing. With two, the third block waits for a
    slot inside `write()`, so every run meets its faults."""

    driver_name = "azure"

    @pytest.fixture
    def driver_base_params(self, azure_base_params: dict[str, object]) -> dict[str, object]:
        """The Azurite endpoint is only known at run time."""
        return dict(azure_base_params, uploadconcurrency=2)
