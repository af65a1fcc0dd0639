"""The options and the driver cloudfront wraps: every mistake is a clear
regstore error naming the option (or the driver), and a key file's content
never shows in one."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from regstore_cloudfront.plugin import SPEC

from regstore import (
    InvalidParameterError,
    ManagedDriver,
    RegstoreError,
    StorageDriver,
)
from regstore.middleware import middleware_spec
from regstore.middleware.redirect import RedirectMiddleware


def message_of(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The error's message and its whole traceback, chained causes included."""
    return str(excinfo.value) + "".join(traceback.format_exception(excinfo.value))


def test_entry_point_names_the_spec() -> None:
    assert middleware_spec("cloudfront") is SPEC
    names = {p.name for p in SPEC.parameters}
    assert names == {
        "baseurl",
        "privatekey",
        "keypairid",
        "duration",
        "ipfilteredby",
        "awsregion",
        "updatefrequency",
        "iprangesurl",
    }


@pytest.mark.parametrize("name", ["filesystem", "inmemory", "azure"])
def test_wraps_only_s3(
    name: str, not_s3: Callable[[], StorageDriver], cloudfront_options: dict[str, object]
) -> None:
    driver = ManagedDriver(not_s3(), name=name)
    with pytest.raises(RegstoreError) as excinfo:
        middleware_spec("cloudfront").create(driver, cloudfront_options)
    assert f"cloudfront wraps the s3 driver, not {name!r}" in str(excinfo.value)


def test_wraps_s3_under_other_middleware(s3_driver: Any, cloudfront: Callable[..., Any]) -> None:
    # Any middleware keeps the s3 driver's name and forwards key(path).
    inner = RedirectMiddleware(s3_driver, "https://mirror.example.com")
    url = cloudfront(inner).redirect_url("/a/b")
    assert url.startswith("https://d111111abcdef8.cloudfront.net/" + s3_driver.key("/a/b"))


def test_wraps_s3_without_key_method(
    not_s3: Callable[[], StorageDriver], cloudfront_options: dict[str, object]
) -> None:
    driver = ManagedDriver(not_s3(), name="s3")
    with pytest.raises(RegstoreError, match=r"wraps the s3 driver, but .* has no key\(path\)"):
        middleware_spec("cloudfront").create(driver, cloudfront_options)


@pytest.mark.parametrize("missing", ["baseurl", "privatekey", "keypairid"])
def test_required_options(
    s3_driver: StorageDriver, cloudfront_options: dict[str, object], missing: str
) -> None:
    options = {k: v for k, v in cloudfront_options.items() if k != missing}
    with pytest.raises(InvalidParameterError, match=f"'{missing}': is required") as excinfo:
        middleware_spec("cloudfront").create(s3_driver, options)
    assert "middleware cloudfront" in str(excinfo.value)


def test_unknown_option(s3_driver: StorageDriver, cloudfront_options: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError, match="'expiry': unknown parameter"):
        middleware_spec("cloudfront").create(s3_driver, dict(cloudfront_options, expiry="1h"))


@pytest.mark.parametrize(
    ("option", "value", "wanted"),
    [
        ("duration", "20 minutes", "is not a duration"),
        ("duration", "20", "nanoseconds"),  # integer nanoseconds, as upstream parses them
        ("duration", "900000000", "under a second; the URLs would expire at once"),
        ("duration", "0s", "longer than zero"),
        ("duration", "500ms", "under a second"),
        ("updatefrequency", "twice a day", "is not a duration"),
        ("updatefrequency", "0", "longer than zero"),
        ("ipfilteredby", "gcp", "one of 'none', 'aws', 'awsregion'"),
        ("baseurl", "ftp://cdn.example.com", "not an http(s) URL"),
        ("baseurl", "https://", "not an http(s) URL"),
        ("baseurl", "https://cdn.example.com/?a=b", "query or fragment"),
        ("keypairid", "K2 JC&x=1", "not a CloudFront key pair ID"),
        ("iprangesurl", "ftp://example.com/ip-ranges.json", "not http, https or file"),
        ("iprangesurl", "https:///ip-ranges.json", "needs a host"),
    ],
)
def test_bad_values(
    s3_driver: StorageDriver,
    cloudfront_options: dict[str, object],
    option: str,
    value: str,
    wanted: str,
) -> None:
    with pytest.raises(InvalidParameterError) as excinfo:
        middleware_spec("cloudfront").create(s3_driver, dict(cloudfront_options, **{option: value}))
    assert excinfo.value.key == option
    assert wanted in str(excinfo.value)
    assert str(excinfo.value).startswith(f"middleware cloudfront: parameter {option!r}")


def test_awsregion_required_for_awsregion(
    s3_driver: StorageDriver, cloudfront_options: dict[str, object]
) -> None:
    for regions in (None, "", " , "):
        options = dict(cloudfront_options, ipfilteredby="awsregion")
        if regions is not None:
            options["awsregion"] = regions
        with pytest.raises(InvalidParameterError, match="'awsregion': is required") as excinfo:
            middleware_spec("cloudfront").create(s3_driver, options)
        assert "ipfilteredby: awsregion" in str(excinfo.value)


def test_updatefrequency_alias(
    tmp_path: Path,
    s3_driver: StorageDriver,
    cloudfront: Callable[..., Any],
    cloudfront_options: dict[str, object],
) -> None:
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_text('{"prefixes": []}')
    driver = cloudfront(
        s3_driver, ipfilteredby="aws", iprangesurl=str(ranges), updatefrenquency="3h"
    )
    assert driver.ip_ranges.update_frequency.total_seconds() == 3 * 3600
    both = dict(cloudfront_options, updatefrequency="1h", updatefrenquency="2h")
    with pytest.raises(InvalidParameterError, match="older name of 'updatefrequency'"):
        middleware_spec("cloudfront").create(s3_driver, both)


def test_defaults(s3_driver: StorageDriver, cloudfront: Callable[..., Any]) -> None:
    driver = cloudfront(s3_driver)
    assert driver.duration.total_seconds() == 20 * 60
    assert driver.ip_ranges is None  # ipfilteredby: none starts no thread
    assert driver.baseurl == "https://d111111abcdef8.cloudfront.net/"


@pytest.mark.parametrize("value", ["", " None ", "NONE"])
def test_ipfilteredby_none_spellings(
    s3_driver: StorageDriver, cloudfront: Callable[..., Any], value: str
) -> None:
    # Upstream takes "" (and any case) for none.
    assert cloudfront(s3_driver, ipfilteredby=value).ip_ranges is None


def test_ipfilteredby_case_insensitive(
    tmp_path: Path, s3_driver: StorageDriver, cloudfront: Callable[..., Any]
) -> None:
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_text('{"prefixes": []}')
    driver = cloudfront(s3_driver, ipfilteredby=" AWS ", iprangesurl=str(ranges))
    assert driver.ip_ranges is not None
    assert driver.ip_ranges.regions is None


SECRET_MARKER = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDSECRETSECRET"


@pytest.mark.parametrize(
    ("content", "wanted"),
    [
        (SECRET_MARKER.encode(), "is not a PEM file"),
        (
            b"-----BEGIN RSA PRIVATE KEY-----\n"
            + SECRET_MARKER.encode()
            + b"\n-----END RSA PRIVATE KEY-----\n",
            "does not hold a valid PEM private key",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n"
            + SECRET_MARKER.encode()
            + b"==\n-----END PRIVATE KEY-----\n",
            "does not hold a valid PEM private key",
        ),
        (b"", "is not a PEM file"),
    ],
)
def test_bad_pem_never_shows_the_key(
    tmp_path: Path,
    s3_driver: StorageDriver,
    cloudfront_options: dict[str, object],
    content: bytes,
    wanted: str,
) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    with pytest.raises(InvalidParameterError) as excinfo:
        middleware_spec("cloudfront").create(
            s3_driver, dict(cloudfront_options, privatekey=str(path))
        )
    assert excinfo.value.key == "privatekey"
    assert wanted in str(excinfo.value)
    assert str(path) in str(excinfo.value)
    assert "SECRET" not in message_of(excinfo)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None


def test_real_key_text_never_shows(
    tmp_path: Path,
    s3_driver: StorageDriver,
    cloudfront_options: dict[str, object],
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    # A real key, damaged: none of its lines may show in the error.
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    lines = pem.decode().splitlines()
    damaged = "\n".join([lines[0], *lines[1:-2], lines[-1]]) + "\n"  # a body line removed
    path = tmp_path / "damaged.pem"
    path.write_text(damaged)
    with pytest.raises(InvalidParameterError) as excinfo:
        middleware_spec("cloudfront").create(
            s3_driver, dict(cloudfront_options, privatekey=str(path))
        )
    text = message_of(excinfo)
    for line in lines[1:-1]:
        assert line not in text


def test_missing_key_file(
    tmp_path: Path, s3_driver: StorageDriver, cloudfront_options: dict[str, object]
) -> None:
    path = tmp_path / "nowhere.pem"
    with pytest.raises(InvalidParameterError, match="cannot read the key file") as excinfo:
        middleware_spec("cloudfront").create(
            s3_driver, dict(cloudfront_options, privatekey=str(path))
        )
    assert excinfo.value.key == "privatekey"
    assert str(path) in str(excinfo.value)
    with pytest.raises(InvalidParameterError, match="cannot read the key file"):
        middleware_spec("cloudfront").create(
            s3_driver, dict(cloudfront_options, privatekey=str(tmp_path))
        )


def test_encrypted_and_non_rsa_keys(
    tmp_path: Path,
    s3_driver: StorageDriver,
    cloudfront_options: dict[str, object],
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(InvalidParameterError, match="encrypted"):
        middleware_spec("cloudfront").create(
            s3_driver, dict(cloudfront_options, privatekey=str(encrypted))
        )
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(InvalidParameterError, match="RSA keys only"):
        middleware_spec("cloudfront").create(
            s3_driver, dict(cloudfront_options, privatekey=str(ec_file))
        )


def test_driver_checked_before_options(
    not_s3: Callable[[], StorageDriver], cloudfront_options: dict[str, object]
) -> None:
    # A wrong driver is the first thing reported, even with a bad key file.
    driver = ManagedDriver(not_s3(), name="filesystem")
    options = dict(cloudfront_options, privatekey="/nonexistent/key.pem")
    with pytest.raises(RegstoreError, match="wraps the s3 driver, not 'filesystem'"):
        middleware_spec("cloudfront").create(driver, options)
