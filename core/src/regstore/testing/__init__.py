"""regstore's conformance suite, shipped inside core.

    from regstore.testing import StorageDriverSuite

    class TestMyDriver(StorageDriverSuite):
        driver_name = "mydriver"

runs every test against `regstore.create("mydriver", params)`. The same suite
runs from the command line with `regstore check NAME -p key=value` (which is
`pytest --pyargs regstore.testing.check --regstore-driver NAME ...`).
`--regstore-full` (or REGSTORE_FULL=1) runs the heavy cases at
distribution's sizes.

The names below are imported lazily: pytest loads `regstore.testing.plugin`
in every session of every project that has regstore installed, and that must
not cost the import of the whole suite.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from regstore.testing._base import FULL, SHORT, Sizes
    from regstore.testing._data import Payload
    from regstore.testing.suite import StorageDriverSuite
    from regstore.testing.wrappers import ForwardingWriter

__all__ = ["FULL", "SHORT", "ForwardingWriter", "Payload", "Sizes", "StorageDriverSuite"]

_WHERE = {
    "FULL": "regstore.testing._base",
    "SHORT": "regstore.testing._base",
    "Sizes": "regstore.testing._base",
    "Payload": "regstore.testing._data",
    "StorageDriverSuite": "regstore.testing.suite",
    "ForwardingWriter": "regstore.testing.wrappers",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
