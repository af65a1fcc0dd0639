"""Where tools put a driver's scratch root, decided once.

`regstore check` (through the suite's pytest plugin) and `regstore bench`
both run a driver under a fresh random root, so that two runs never collide
and the user's data is never touched. Which parameter takes that root, and
whether it must be a new local directory, follows from the driver's spec.
"""

from __future__ import annotations

from collections.abc import Mapping

from regstore.factory import DriverSpec

__all__ = ["ROOT_PARAMETER", "scratch_root"]

#: distribution's name for the parameter holding a driver's root.
ROOT_PARAMETER = "rootdirectory"


def scratch_root(spec: DriverSpec, params: Mapping[str, object]) -> tuple[str | None, bool]:
    """The parameter that takes the random root (None when the driver has no
    `rootdirectory`), and whether it must be a fresh local directory: true
    for a driver whose root is local (`DriverSpec.local_root`) when `params`
    give no base to put it under."""
    if ROOT_PARAMETER not in {p.name for p in spec.parameters}:
        return None, False
    return ROOT_PARAMETER, spec.local_root and not params.get(ROOT_PARAMETER)
