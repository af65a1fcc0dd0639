"""The error hierarchy, messages and pickling."""

from __future__ import annotations

import pickle

import pytest

from regstore import (
    DriverConflictError,
    DriverNotFoundError,
    IncompatibleDriverError,
    InvalidOffsetError,
    InvalidParameterError,
    InvalidPathError,
    PathNotFoundError,
    RegstoreError,
    StorageDriverError,
    UnsupportedMethodError,
    WriterFinishedError,
)

DRIVER_ERRORS: list[Exception] = [
    StorageDriverError("boom", driver_name="drv"),
    PathNotFoundError("/a/b", driver_name="drv"),
    InvalidPathError("a//b", driver_name="drv", reason="why"),
    InvalidOffsetError("/a", -3, driver_name="drv"),
    UnsupportedMethodError("redirect_url", driver_name="drv"),
    WriterFinishedError("/a", "committed", driver_name="drv"),
]

FACTORY_ERRORS: list[Exception] = [
    DriverNotFoundError("s3", ["inmemory", "filesystem"], "pip install regstore-s3"),
    DriverConflictError("x", "dist-a 1.0", "dist-b 2.0"),
    IncompatibleDriverError("x", "dist-a 1.0", "2.0", "1.0"),
    InvalidParameterError("drv", "chunksize", "'x' is not a size"),
]


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (PathNotFoundError, FileNotFoundError),
        (InvalidPathError, ValueError),
        (InvalidOffsetError, ValueError),
        (UnsupportedMethodError, NotImplementedError),
        (DriverNotFoundError, LookupError),
        (InvalidParameterError, ValueError),
    ],
)
def test_builtin_bases(cls: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(cls, builtin)
    assert issubclass(cls, RegstoreError)


@pytest.mark.parametrize("err", DRIVER_ERRORS, ids=lambda e: type(e).__name__)
def test_driver_errors_start_with_driver_name(err: Exception) -> None:
    assert isinstance(err, StorageDriverError)
    assert err.driver_name == "drv"
    assert str(err).startswith("drv: ")


def test_name_filled_in_later() -> None:
    err = PathNotFoundError("/x")
    assert str(err) == "path not found: /x"
    err.driver_name = "late"
    assert str(err) == "late: path not found: /x"


def test_path_not_found_is_caught_as_builtin() -> None:
    with pytest.raises(FileNotFoundError):
        raise PathNotFoundError("/x", driver_name="d")


def test_messages() -> None:
    assert str(InvalidOffsetError("/a", -3, driver_name="d")) == "d: invalid offset -3 for path /a"
    assert "a//b" in str(InvalidPathError("a//b", reason="why", driver_name="d"))
    assert "(why)" in str(InvalidPathError("a//b", reason="why", driver_name="d"))
    not_found = DriverNotFoundError("s3", ["inmemory", "filesystem"], "pip install regstore-s3")
    assert str(not_found) == (
        "no storage driver named 's3' (installed: filesystem, inmemory); "
        "install it with: pip install regstore-s3"
    )
    assert "installed: none" in str(DriverNotFoundError("x", []))
    conflict = str(DriverConflictError("x", "dist-a 1.0", "dist-b 2.0"))
    assert "dist-a 1.0" in conflict
    assert "dist-b 2.0" in conflict
    incompatible = str(IncompatibleDriverError("x", "dist-a", "2.0", "1.0"))
    assert "API 2.0" in incompatible
    assert "API 1.0" in incompatible
    assert "1.x" in incompatible


@pytest.mark.parametrize("err", DRIVER_ERRORS + FACTORY_ERRORS, ids=lambda e: type(e).__name__)
def test_pickling_round_trips(err: Exception) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert copy.args == err.args
    assert copy.__dict__ == err.__dict__
