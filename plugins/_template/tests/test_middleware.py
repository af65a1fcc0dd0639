"""The `example` middleware (middleware.py): configured the way operators
do, in a config.yml's `middleware: storage:` list, around this package's
driver; and the whole conformance suite through it, since a middleware must
keep the contract of the driver it wraps."""

from __future__ import annotations

from pathlib import Path

import pytest

import regstore
from regstore import InvalidParameterError, StorageDriver
from regstore.middleware import DriverMiddleware, middleware_spec
from regstore.testing import StorageDriverSuite
from regstore_example.middleware import ProtectedPathError

CONFIG = """
storage:
  example:
    rootdirectory: {root}
middleware:
  storage:
    - name: example
      options:
        protect: /docker/registry/v2/blobs, /keep
"""


def test_configured_middleware_guards_deletes(tmp_path: Path) -> None:
    driver = regstore.from_config(CONFIG.format(root=tmp_path), environ={})
    assert isinstance(driver, DriverMiddleware)
    assert driver.name == "example"
    driver.put_content("/docker/registry/v2/blobs/sha256/ab/data", b"blob")
    driver.put_content("/docker/registry/v2/repositories/r/link", b"link")
    driver.put_content("/keep", b"kept")
    for path in ("/docker/registry/v2/blobs/sha256", "/docker", "/keep"):
        with pytest.raises(ProtectedPathError, match="is protected"):
            driver.delete(path)
    with pytest.raises(ProtectedPathError):
        driver.move("/keep", "/elsewhere")
    driver.delete("/docker/registry/v2/repositories")  # not protected
    assert driver.list("/docker/registry/v2") == ["/docker/registry/v2/blobs"]
    assert driver.get_content("/keep") == b"kept"
    # Everything else passes through, redirect_url and client_ip included.
    assert driver.redirect_url("/keep", client_ip="192.0.2.1") is None


def test_options_are_checked(tmp_path: Path) -> None:
    base = regstore.create("example", {"rootdirectory": str(tmp_path)})
    spec = middleware_spec("example")
    with pytest.raises(InvalidParameterError, match="'protect': is required"):
        spec.create(base, {})
    with pytest.raises(InvalidParameterError, match="'protected': unknown parameter"):
        spec.create(base, {"protect": "/a", "protected": "/b"})
    with pytest.raises(InvalidParameterError, match="'relative' is not a path"):
        spec.create(base, {"protect": "relative"})


class TestConformanceThroughMiddleware(StorageDriverSuite):
    """The suite against the driver wrapped in the middleware (protecting a
    path the suite never touches)."""

    driver_name = "example"
    local_root = True

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        driver = regstore.create("example", params)
        return middleware_spec("example").create(driver, {"protect": "/protected"})
