"""`redirect_url`: distribution's TestRedirectURL, fetched with urllib.

A driver that declares `Capabilities.redirect=False` must return None; one
that declares True must hand out URLs a plain HTTP client can GET and HEAD
without credentials.
"""

from __future__ import annotations

import urllib.request

import pytest

from regstore.driver import StorageDriver
from regstore.testing._base import SuiteBase
from regstore.testing._data import assert_bytes_equal, random_bytes

__all__ = ["RedirectTests"]

PATH = "/redirect/object"


class RedirectTests(SuiteBase):
    """redirect_url."""

    def test_redirect_url(self, driver: StorageDriver) -> None:
        if not driver.capabilities.redirect:
            pytest.skip("the driver declares capabilities.redirect = False")
        contents = random_bytes(32, "redirect")
        driver.put_content(PATH, contents)

        url = driver.redirect_url(PATH)
        assert isinstance(url, str), f"redirect_url returned {url!r}"
        assert url
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310  (the driver's URL)
            assert response.status == 200
            assert_bytes_equal(response.read(), contents)

        head_url = driver.redirect_url(PATH, method="HEAD")
        assert isinstance(head_url, str), f"redirect_url HEAD returned {head_url!r}"
        assert head_url
        request = urllib.request.Request(head_url, method="HEAD")  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            assert response.status == 200
            assert int(response.headers["Content-Length"]) == len(contents)
        self.remove(driver, "/redirect")

    def test_redirect_url_unsupported_returns_none(self, driver: StorageDriver) -> None:
        if driver.capabilities.redirect:
            pytest.skip("the driver declares capabilities.redirect = True")
        driver.put_content(PATH, b"no redirect")
        assert driver.redirect_url(PATH) is None
        assert driver.redirect_url(PATH, method="HEAD") is None
        self.remove(driver, "/redirect")
