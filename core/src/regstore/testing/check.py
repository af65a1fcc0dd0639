"""The conformance suite for the driver named on the command line.

    pytest --pyargs regstore.testing.check --regstore-driver NAME \\
        --regstore-param key=value ...

is what `regstore check NAME -p key=value` runs; `--regstore-config FILE`
(`regstore check --config FILE`) takes the driver, its parameters and its
middleware from a distribution config.yml instead. Without either this module
skips itself.

The per-test random root: it goes into `--regstore-root-param` (default
`rootdirectory` when the driver declares that parameter, otherwise none;
`--regstore-root-param none` turns it off). A root value given with
`--regstore-param rootdirectory=BASE` is the base the random
`regstore-suite-<hex>` segment is joined onto. When no value is given and
the driver's spec says its root is local (`DriverSpec.local_root`, as
filesystem's does), or with `--regstore-local-root`, the random root is a
fresh directory under pytest's tmp dir instead.
"""

from __future__ import annotations

import dataclasses

import pytest

from regstore.driver import StorageDriver
from regstore.testing.plugin import CheckSettings, active_config, check_settings
from regstore.testing.suite import StorageDriverSuite

__all__ = ["TestConformance"]

_config = active_config()
_settings = check_settings(_config) if _config is not None else None
if _settings is None:
    pytest.skip(
        "regstore.testing.check needs --regstore-driver NAME (and the regstore pytest plugin)",
        allow_module_level=True,
    )
_given: CheckSettings = _settings  # skip() above never returns


class TestConformance(StorageDriverSuite):
    """The whole suite against the driver given with `--regstore-driver`."""

    driver_name = _given.driver
    driver_params = _given.params
    root_parameter = _given.root_parameter
    local_root = _given.local_root

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        """Through `--regstore-config` when given, so the configuration's
        middleware and settings wrap every driver the suite makes."""
        if _given.config is None:
            return super().make_driver(params)
        return dataclasses.replace(_given.config, parameters=params).create()
