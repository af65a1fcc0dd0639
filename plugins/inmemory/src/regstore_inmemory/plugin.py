"""The entry point: declares the `inmemory` driver without importing it."""

from __future__ import annotations

from regstore import API_VERSION, Capabilities, DriverSpec

SPEC = DriverSpec(
    name="inmemory",
    factory="regstore_inmemory.driver:InMemoryDriver.from_parameters",
    parameters=(),
    api_version=API_VERSION,
    # Stated here so `regstore drivers` can list them without importing the driver.
    capabilities=Capabilities(redirect=False, persistent=False, walk_order="tree"),
    summary="in-process memory; for tests (nothing persists)",
)
