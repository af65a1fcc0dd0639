"""Parameter declaration, coercion, validation and redaction."""

from __future__ import annotations

from typing import Any

import pytest

from regstore import InvalidParameterError, Parameter, redact
from regstore.params import REDACTED, coerce_params, is_secret_key, parse_size

SECRET = "hunter2-very-secret"

DECLARED = (
    Parameter("encrypt", kind="bool", default=False),
    Parameter("maxthreads", kind="int", default=100, minimum=25),
    Parameter("chunksize", kind="size", default="10MiB", minimum=5 * 1024 * 1024),
    Parameter("ratio", kind="float", minimum=0.0, maximum=1.0),
    Parameter("storageclass", kind="choice", choices=("STANDARD", "REDUCED_REDUNDANCY")),
    Parameter("secretkey", secret=True),
    Parameter("bucket", required=True),
)


def coerce(raw: dict[str, Any]) -> dict[str, Any]:
    return coerce_params("drv", DECLARED, {"bucket": "b", **raw})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("1", True),
        (1, True),
        (True, True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
        (0, False),
    ],
)
def test_bool(value: object, expected: bool) -> None:
    assert coerce({"encrypt": value})["encrypt"] is expected


@pytest.mark.parametrize("value", ["maybe", "", 2, 1.0, None])
def test_bool_rejected(value: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        coerce({"encrypt": value})
    assert "'encrypt'" in str(info.value)
    assert "a boolean (true/false)" in str(info.value)


def test_int_from_string() -> None:
    assert coerce({"maxthreads": "50"})["maxthreads"] == 50
    assert coerce({"maxthreads": 25})["maxthreads"] == 25


@pytest.mark.parametrize("value", ["ten", "5.5", True, 3.0])
def test_int_rejected(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="an integer"):
        coerce({"maxthreads": value})


def test_int_range() -> None:
    with pytest.raises(InvalidParameterError) as info:
        coerce({"maxthreads": "24"})
    assert "out of range" in str(info.value)
    assert "of at least 25" in str(info.value)
    assert "'maxthreads'" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10485760", 10485760),
        (10485760, 10485760),
        ("10MiB", 10 * 1024 * 1024),
        ("10mib", 10 * 1024 * 1024),
        ("6M", 6 * 1024 * 1024),
        ("5120k", 5 * 1024 * 1024),
        ("1GiB", 1024**3),
        ("6MB", 6_000_000),
        ("1 GB", 1_000_000_000),
        ("7340032b", 7340032),
    ],
)
def test_size(value: object, expected: int) -> None:
    assert coerce({"chunksize": value})["chunksize"] == expected


@pytest.mark.parametrize("value", ["10 furlongs", "-5", "1.5MiB", True, -1, ""])
def test_size_rejected(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="a size in bytes"):
        coerce({"chunksize": value})


def test_size_range_and_default() -> None:
    assert coerce({})["chunksize"] == 10 * 1024 * 1024  # the string default is coerced too
    with pytest.raises(InvalidParameterError, match="out of range"):
        coerce({"chunksize": "4MiB"})


def test_parse_size_direct() -> None:
    assert parse_size("64k") == 65536
    with pytest.raises(ValueError, match="negative"):
        parse_size(-1)


def test_float_and_range() -> None:
    assert coerce({"ratio": "0.25"})["ratio"] == 0.25
    assert coerce({"ratio": 1})["ratio"] == 1.0
    with pytest.raises(InvalidParameterError, match="from 0 to 1"):
        coerce({"ratio": "1.5"})
    with pytest.raises(InvalidParameterError, match="a number"):
        coerce({"ratio": "much"})


def test_choice_case_insensitive_returns_canonical() -> None:
    assert coerce({"storageclass": "standard"})["storageclass"] == "STANDARD"
    with pytest.raises(InvalidParameterError) as info:
        coerce({"storageclass": "GLACIER"})
    assert "one of 'STANDARD', 'REDUCED_REDUNDANCY'" in str(info.value)


def test_str_accepts_numbers_from_yaml() -> None:
    assert coerce({"bucket": 123})["bucket"] == "123"
    with pytest.raises(InvalidParameterError, match="a string"):
        coerce({"bucket": ["b"]})


def test_unknown_key_named_with_allowed_list() -> None:
    with pytest.raises(InvalidParameterError) as info:
        coerce({"regoin": "x"})
    message = str(info.value)
    assert info.value.key == "regoin"
    assert "drv: parameter 'regoin': unknown parameter" in message
    assert (
        "(allowed: bucket, chunksize, encrypt, maxthreads, ratio, secretkey, storageclass)"
        in message
    )


def test_uppercase_key_hint() -> None:
    with pytest.raises(InvalidParameterError) as info:
        coerce({"ChunkSize": "10MiB"})
    assert "did you mean 'chunksize'?" in str(info.value)


def test_non_str_key() -> None:
    with pytest.raises(InvalidParameterError, match="parameter names are strings"):
        coerce_params("drv", DECLARED, {1: "x"})  # type: ignore[dict-item]


def test_required() -> None:
    with pytest.raises(InvalidParameterError) as info:
        coerce_params("drv", DECLARED, {})
    assert "'bucket'" in str(info.value)
    assert "is required" in str(info.value)


def test_defaults_and_unset() -> None:
    result = coerce({})
    assert result == {
        "bucket": "b",
        "encrypt": False,
        "maxthreads": 100,
        "chunksize": 10 * 1024 * 1024,
        "ratio": None,
        "storageclass": None,
        "secretkey": None,
    }


def test_none_raw_is_empty() -> None:
    assert coerce_params("drv", (Parameter("x", default="y"),), None) == {"x": "y"}


@pytest.mark.parametrize(
    "declared",
    [
        Parameter("secretkey", kind="int", secret=True),
        Parameter("secretkey", kind="bool", secret=True),
        Parameter("secretkey", kind="choice", choices=("a",), secret=True),
        Parameter("secretkey", kind="int", secret=True, maximum=3),
    ],
)
def test_secret_value_never_in_message(declared: Parameter) -> None:
    value = "999999999" if declared.maximum is not None else SECRET
    with pytest.raises(InvalidParameterError) as info:
        coerce_params("drv", (declared,), {"secretkey": value})
    message = str(info.value)
    assert value not in message
    assert REDACTED in message
    assert "'secretkey'" in message
    # The original exception, which might quote the value, is not chained.
    assert info.value.__cause__ is None
    assert value not in repr(info.value.__context__ or "")


def test_non_secret_value_is_shown() -> None:
    with pytest.raises(InvalidParameterError, match="'ten'"):
        coerce({"maxthreads": "ten"})


def test_redact_declared_and_guessed() -> None:
    params = {
        "secretkey": SECRET,
        "accesskey": "AKIAEXAMPLE",
        "accountkey": "azkey",
        "password": "pw",
        "sastoken": "tok",
        "custom": "declared-secret",
        "region": "eu",
        "empty": None,
    }
    shown = redact(params, (Parameter("custom", secret=True),))
    assert shown == {
        "secretkey": REDACTED,
        "accesskey": REDACTED,
        "accountkey": REDACTED,
        "password": REDACTED,
        "sastoken": REDACTED,
        "custom": REDACTED,
        "region": "eu",
        "empty": None,
    }
    assert params["secretkey"] == SECRET  # a copy, the input is untouched


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("secretkey", True),
        ("accesskey", True),
        ("key", True),
        ("credentialsfile", True),
        ("privatekey", True),
        ("bucket", False),
        ("region", False),
        ("keyid", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_allowed_words() -> None:
    assert Parameter("x", kind="int", minimum=1, maximum=5).allowed() == "an integer from 1 to 5"
    assert Parameter("x", kind="float", maximum=0.5).allowed() == "a number of at most 0.5"


def test_parse_assignments() -> None:
    from regstore.params import parse_assignments

    assert parse_assignments(["a=1", " b =x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ValueError, match="value number 2 is not of the form key=value") as info:
        parse_assignments(["a=1", "hunter2secret"])
    assert "hunter2secret" not in str(info.value)


# -- mappings and aliases (azure `credentials`, gcs `credentials`, renamed keys) --

CREDENTIALS = Parameter(
    "credentials",
    "mapping",
    fields=(
        Parameter("type", "choice", choices=("shared_key", "client_secret")),
        Parameter("clientid"),
        Parameter("secret", secret=True),
    ),
)
RETRIES = Parameter(
    "max_retries", "int", default=5, minimum=0, maximum=100, aliases=("copy_status_poll_max_retry",)
)
KEYJSON = Parameter("keyjson", "mapping", secret=True)
NESTED = (CREDENTIALS, RETRIES, KEYJSON)


def test_mapping_fields_are_coerced_and_unset_ones_dropped() -> None:
    got = coerce_params("azure", NESTED, {"credentials": {"type": "SHARED_KEY", "secret": "s3"}})
    assert got["credentials"] == {"type": "shared_key", "secret": "s3"}
    assert got["keyjson"] is None


@pytest.mark.parametrize(
    ("value", "key"),
    [({"type": "nope"}, "credentials.type"), ({"bogus": "x"}, "credentials.bogus")],
)
def test_bad_mapping_field_is_named_with_its_parent(value: object, key: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        coerce_params("azure", NESTED, {"credentials": value})
    assert caught.value.key == key


def test_mapping_from_json_text_and_secret_mapping_never_echoed() -> None:
    assert coerce_params("gcs", NESTED, {"keyjson": '{"private_key": "k"}'})["keyjson"] == {
        "private_key": "k"
    }
    with pytest.raises(InvalidParameterError) as caught:
        coerce_params("gcs", NESTED, {"keyjson": '{"private_key": "pk-value"'})
    assert "pk-value" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    with pytest.raises(InvalidParameterError, match="not a mapping"):
        coerce_params("gcs", NESTED, {"credentials": ["a"]})


def test_alias_sets_the_parameter_and_both_names_is_an_error() -> None:
    assert coerce_params("azure", NESTED, {"copy_status_poll_max_retry": "7"})["max_retries"] == 7
    with pytest.raises(InvalidParameterError, match="give only one"):
        coerce_params("azure", NESTED, {"max_retries": 1, "copy_status_poll_max_retry": 2})


def test_redact_hides_secret_mappings_and_secret_fields_inside_mappings() -> None:
    shown = redact({"keyjson": {"a": 1}, "other": {"password": "p", "user": "u"}}, NESTED)
    assert shown == {"keyjson": REDACTED, "other": {"password": REDACTED, "user": "u"}}


def test_choice_takes_yaml_booleans_as_the_words_written() -> None:
    level = Parameter("loglevel", "choice", choices=("off", "debug"))
    assert coerce_params("s3", (level,), {"loglevel": False})["loglevel"] == "off"
    with pytest.raises(InvalidParameterError):
        coerce_params("s3", (level,), {"loglevel": True})
