"""distribution's storage-driver suite (regstore's conformance suite)
against the s3 driver on moto wrapped in cloudfront: the middleware keeps
the contract, and its redirect URLs, fetched by the suite with plain HTTP,
are accepted by a CloudFront stand-in that verifies them as CloudFront does
and serves the bucket's objects."""

from __future__ import annotations

from typing import Any

import pytest

import regstore
from regstore import StorageDriver
from regstore.middleware import middleware_spec
from regstore.testing import StorageDriverSuite


class TestConformanceThroughCloudFront(StorageDriverSuite):
    """Every suite test, with a fresh random rootdirectory per test."""

    driver_name = "s3"

    @pytest.fixture
    def driver_base_params(self, s3_base_params: dict[str, object]) -> dict[str, object]:
        return dict(s3_base_params)

    @pytest.fixture(autouse=True)
    def _cloudfront(self, cloudfront_stand_in: Any, cloudfront_options: dict[str, object]) -> None:
        """The middleware's options: baseurl is the CloudFront stand-in."""
        self.options = dict(cloudfront_options, baseurl=cloudfront_stand_in.endpoint)

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        return middleware_spec("cloudfront").create(regstore.create("s3", params), self.options)
