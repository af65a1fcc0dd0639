"""distribution's storage-driver test suite (regstore's conformance suite)
against the s3 driver on a moto server the tests start themselves."""

from __future__ import annotations

import pytest

from regstore.testing import StorageDriverSuite


class TestS3Conformance(StorageDriverSuite):
    """Every suite test, with a fresh random rootdirectory per test."""

    driver_name = "s3"

    @pytest.fixture
    def driver_base_params(self, s3_base_params: dict[str, object]) -> dict[str, object]:
        """The moto endpoint is only known at run time."""
        return dict(s3_base_params)
