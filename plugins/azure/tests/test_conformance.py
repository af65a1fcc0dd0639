"""distribution's storage-driver test suite (regstore's conformance suite)
against the azure driver on an Azurite the tests start themselves."""

from __future__ import annotations

import pytest

from regstore.testing import StorageDriverSuite


class TestAzureConformance(StorageDriverSuite):
    """Every suite test, with a fresh random rootdirectory per test."""

    driver_name = "azure"

    @pytest.fixture
    def driver_base_params(self, azure_base_params: dict[str, object]) -> dict[str, object]:
        """The Azurite endpoint is only known at run time."""
        return dict(azure_base_params)
