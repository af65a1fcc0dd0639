"""Every numeric parameter of every installed driver is bounded.

A parameter without an upper bound is an allocation or a loop the size of a
typo: `maxthreads=10**12` made the filesystem driver preallocate until the
OOM killer came. Read from the installed specs, so a new driver or a new
parameter is held to it without a change here.
"""

from __future__ import annotations

import pytest

import regstore
from regstore import InvalidParameterError

NUMERIC = ("int", "size", "float")


def _numeric() -> list[tuple[str, regstore.Parameter]]:
    registry = regstore.default_registry()
    found = []
    for info in regstore.drivers():
        for param in registry.spec(info.name).parameters:
            if param.kind in NUMERIC:
                found.append((info.name, param))
    return found


def test_shipped_drivers_are_installed() -> None:
    names = {info.name for info in regstore.drivers()}
    assert {"inmemory", "filesystem", "s3"} <= names


@pytest.mark.parametrize(("driver", "param"), _numeric(), ids=lambda v: getattr(v, "name", v))
def test_numeric_parameter_has_upper_bound(driver: str, param: regstore.Parameter) -> None:
    assert param.maximum is not None, f"{driver}: {param.name} has no maximum"
    # The bound is enforced with an error that names the parameter.
    too_large = str(int(param.maximum) * 10 + 10)
    with pytest.raises(InvalidParameterError, match=param.name) as info:
        param.coerce(driver, too_large)
    assert driver in str(info.value)


@pytest.mark.parametrize(
    ("driver", "param"),
    [(d, p) for d, p in _numeric() if p.kind == "float"],
    ids=lambda v: getattr(v, "name", v),
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_float_parameter_refuses_non_finite(
    driver: str, param: regstore.Parameter, value: str
) -> None:
    with pytest.raises(InvalidParameterError, match=param.name):
        param.coerce(driver, value)
