"""The entry points: declare the `example` driver (and the `example`
middleware) without importing either.

Core reads this module when a user asks for `example` and nothing else: keep
it free of the backend's libraries so `regstore drivers` and the creation of
other drivers stay fast. The driver class is named by dotted path and
imported only when a driver is created.
"""

from __future__ import annotations

from regstore import API_VERSION, Capabilities, DriverSpec, Parameter
from regstore.middleware import MiddlewareSpec

SPEC = DriverSpec(
    name="example",
    factory="regstore_example.driver:ExampleDriver.from_parameters",
    # Core checks and coerces these before the factory sees them: an unknown
    # key, a missing required one or a bad value fails with a message naming
    # the key. Mark credentials `secret=True` so they never reach a message.
    parameters=(
        # A default, as filesystem's (distribution's) has, rather than
        # required: `regstore check example` and `regstore bench example`
        # then need no -p and run in a temporary directory (local_root below).
        Parameter(
            "rootdirectory",
            "str",
            default="/var/lib/registry",
            help="the directory holding the database file (created by the first write)",
        ),
        Parameter(
            "chunksize",
            "size",
            default=1024 * 1024,
            minimum=4096,
            help="bytes per stored piece of an object: the most a writer or reader holds",
        ),
    ),
    # The core API this driver was written against; core refuses a driver of
    # another major version instead of failing later in odd ways.
    api_version=API_VERSION,
    # rootdirectory is a local directory: check and bench use a temporary one.
    local_root=True,
    # Stated here so `regstore drivers` can list them without importing the driver.
    capabilities=Capabilities(redirect=False, persistent=True, walk_order="tree"),
    summary="one SQLite database file in rootdirectory",
)

# The `example` storage middleware (middleware.py), found by its entry point
# in `registry.storage_middleware`. Its options are declared like a driver's
# parameters and checked the same way; the factory is imported on use only.
MIDDLEWARE = MiddlewareSpec(
    name="example",
    factory="regstore_example.middleware:create",
    parameters=(
        Parameter(
            "protect",
            required=True,
            help="comma-separated path prefixes that delete and move must leave alone",
        ),
    ),
    summary="refuse deletes and moves of protected paths",
)
