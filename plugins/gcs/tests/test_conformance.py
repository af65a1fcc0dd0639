"""distribution's storage-driver test suite (regstore's conformance suite)
against the gcs driver on a fake-gcs-server the tests start themselves."""

from __future__ import annotations

import pytest

from regstore.testing import StorageDriverSuite


class TestGCSConformance(StorageDriverSuite):
    """Every suite test, with a fresh random rootdirectory per test and
    service-account credentials (signed redirect URLs are fetched)."""

    driver_name = "gcs"

    @pytest.fixture
    def driver_base_params(self, gcs_base_params: dict[str, object]) -> dict[str, object]:
        """The emulator's endpoint is only known at run time."""
        return dict(gcs_base_params)
