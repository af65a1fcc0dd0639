"""`StorageDriverSuite`: every conformance test, combined from themed mixins.

A third party runs the whole suite against its driver with five lines:

    from regstore.testing import StorageDriverSuite

    class TestMyDriver(StorageDriverSuite):
        driver_name = "mydriver"
        driver_params = {"bucket": "test-bucket"}

Class attributes: `driver_name`, `driver_params`, `root_parameter`
("rootdirectory"; None if the driver has none), `local_root` (True: the
random root is a directory under pytest's tmp dir). Overridable:
`make_driver(self, params)` and the `driver_base_params` fixture (for
parameters known only at run time, such as an emulator's port).

Fixtures the tests use: `driver` (a fresh driver under a fresh random root;
the test fails if it leaves the store non-empty), `new_driver` (another
instance over the same store), `full_mode`, `sizes`, `suite_params`.
"""

from __future__ import annotations

from regstore.testing._base import SuiteBase
from regstore.testing._concurrency import ConcurrencyTests
from regstore.testing._content import ContentTests
from regstore.testing._errors import ErrorTests
from regstore.testing._failures import FailureTests
from regstore.testing._listing import ListingTests
from regstore.testing._process import ProcessTests
from regstore.testing._redirect import RedirectTests
from regstore.testing._seek import SeekTests
from regstore.testing._streams import StreamTests
from regstore.testing._walk import WalkTests
from regstore.testing._writer import WriterTests
from regstore.testing.benchmarks import BenchmarkTests

__all__ = ["StorageDriverSuite"]


class StorageDriverSuite(
    ContentTests,
    StreamTests,
    SeekTests,
    WriterTests,
    ListingTests,
    WalkTests,
    ErrorTests,
    RedirectTests,
    ConcurrencyTests,
    FailureTests,
    ProcessTests,
    BenchmarkTests,
    SuiteBase,
):
    """The conformance suite; subclass it as `Test<Something>` to run it."""
