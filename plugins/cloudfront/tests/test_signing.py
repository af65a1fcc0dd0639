"""Signed CloudFront URLs: they verify against the public key, carry the
configured expiry and key pair ID, equal botocore's CloudFrontSigner's, and
sign baseurl + the object's S3 key (rootdirectory included)."""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.signers import CloudFrontSigner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from regstore_cloudfront.middleware import CloudFrontMiddleware, normalize_baseurl
from regstore_cloudfront.signer import CloudFrontURLSigner, load_private_key

import regstore
from regstore import InvalidPathError, StorageDriver, StorageDriverError
from regstore.middleware import DriverMiddleware

BLOB = "/docker/registry/v2/blobs/sha256/ab/abcdef0123/data"
Verify = Callable[..., tuple[str, int, str]]


def test_signed_url_verifies_with_expiry_and_key_pair_id(
    s3_driver: StorageDriver,
    s3_params: dict[str, Any],
    cloudfront: Callable[..., Any],
    cloudfront_options: dict[str, object],
    verify: Verify,
) -> None:
    driver = cloudfront(s3_driver)
    before = int(time.time())
    url = driver.redirect_url(BLOB)
    after = int(time.time())

    resource, expires, key_pair_id = verify(url)
    assert key_pair_id == cloudfront_options["keypairid"]
    assert before + 20 * 60 <= expires <= after + 20 * 60  # the default 20m
    root = str(s3_params["rootdirectory"]).strip("/")
    assert resource == f"{cloudfront_options['baseurl']}/{root}{BLOB}"


def test_a_changed_url_or_another_key_does_not_verify(
    s3_driver: StorageDriver, cloudfront: Callable[..., Any], verify: Verify
) -> None:
    url = cloudfront(s3_driver).redirect_url(BLOB)
    _, expires, _ = verify(url)
    with pytest.raises(InvalidSignature):
        verify(url.replace(f"Expires={expires}", f"Expires={expires + 3600}"))
    with pytest.raises(InvalidSignature):
        verify(url.replace("/docker/", "/dockex/"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        verify(url, other.public_key())


@pytest.mark.parametrize(("duration", "seconds"), [("1h30m", 5400), ("45s", 45), ("2h", 7200)])
def test_configured_duration(
    s3_driver: StorageDriver,
    cloudfront: Callable[..., Any],
    verify: Verify,
    duration: str,
    seconds: int,
) -> None:
    driver = cloudfront(s3_driver, duration=duration)
    before = int(time.time())
    _, expires, _ = verify(driver.redirect_url(BLOB))
    assert before + seconds <= expires <= int(time.time()) + seconds


def test_expiry_from_the_clock(
    s3_driver: StorageDriver, rsa_key: rsa.RSAPrivateKey, verify: Verify
) -> None:
    driver = CloudFrontMiddleware(
        s3_driver,
        baseurl="https://cdn.example.com",
        signer=CloudFrontURLSigner("KEYPAIR", rsa_key),
        duration=dt.timedelta(minutes=20),
        clock=lambda: 1_700_000_000.75,
    )
    resource, expires, key_pair_id = verify(driver.redirect_url(BLOB))
    assert expires == 1_700_001_200
    assert key_pair_id == "KEYPAIR"
    assert resource == "https://cdn.example.com/" + s3_driver.key(BLOB)  # type: ignore[attr-defined]


def botocore_url(key: rsa.RSAPrivateKey, key_pair_id: str, url: str, expires: int) -> str:
    """What botocore's CloudFrontSigner makes of the same inputs."""

    def rsa_signer(message: bytes) -> bytes:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    signer = CloudFrontSigner(key_pair_id, rsa_signer)
    when = dt.datetime.fromtimestamp(expires, tz=dt.UTC)
    return str(signer.generate_presigned_url(url, date_less_than=when))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_equals_botocore_cloudfront_signer(
    s3_driver: StorageDriver,
    cloudfront: Callable[..., Any],
    rsa_key: rsa.RSAPrivateKey,
    verify: Verify,
    method: str,
) -> None:
    url = cloudfront(s3_driver, duration="1h").redirect_url(BLOB, method)
    resource, expires, key_pair_id = verify(url)
    assert url == botocore_url(rsa_key, key_pair_id, resource, expires)


def test_equals_botocore_for_many_urls_and_expiries(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = CloudFrontURLSigner("APKAEIBAERJR2EXAMPLE", rsa_key)
    for index in range(20):
        url = f"https://cdn.example.com/root/docker/registry/v2/blobs/sha256/{index:02x}/data"
        expires = 1_700_000_000 + index * 977
        assert signer.sign(url, expires) == botocore_url(
            rsa_key, "APKAEIBAERJR2EXAMPLE", url, expires
        )
    # A URL that has a query already gets the parameters appended with &.
    url = "https://cdn.example.com/x?versionId=3"
    assert signer.sign(url, 1_800_000_000) == botocore_url(
        rsa_key, "APKAEIBAERJR2EXAMPLE", url, 1_800_000_000
    )


def test_pkcs1_and_pkcs8_keys_sign_alike(
    key_file: Path, key_file_pkcs8: Path, verify: Verify
) -> None:
    assert key_file.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert key_file_pkcs8.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    url = "https://cdn.example.com/a/b"
    first = CloudFrontURLSigner("K1", load_private_key(str(key_file))).sign(url, 1_900_000_000)
    second = CloudFrontURLSigner("K1", load_private_key(str(key_file_pkcs8))).sign(
        url, 1_900_000_000
    )
    assert first == second
    verify(first)


@pytest.mark.parametrize(
    ("rootdirectory", "prefix"),
    [("/cf-root", "cf-root/"), ("nested/deeper/", "nested/deeper/"), ("", ""), ("/", "")],
)
def test_url_is_baseurl_plus_s3_key(
    s3_base_params: dict[str, object],
    cloudfront: Callable[..., Any],
    verify: Verify,
    rootdirectory: str,
    prefix: str,
) -> None:
    s3: Any = regstore.create("s3", dict(s3_base_params, rootdirectory=rootdirectory))
    resource, _, _ = verify(cloudfront(s3, baseurl="cdn.example.com").redirect_url(BLOB))
    assert resource == f"https://cdn.example.com/{prefix}{BLOB.lstrip('/')}"
    assert resource == "https://cdn.example.com/" + s3.key(BLOB)  # the s3 driver's own key


@pytest.mark.parametrize(
    ("baseurl", "normalized"),
    [
        ("d111111abcdef8.cloudfront.net", "https://d111111abcdef8.cloudfront.net/"),
        ("https://cdn.example.com", "https://cdn.example.com/"),
        ("https://cdn.example.com/", "https://cdn.example.com/"),
        ("http://cdn.example.com:8080/prefix", "http://cdn.example.com:8080/prefix/"),
        ("cdn.example.com/prefix/", "https://cdn.example.com/prefix/"),
    ],
)
def test_baseurl_normalized_as_upstream(
    s3_driver: Any, cloudfront: Callable[..., Any], verify: Verify, baseurl: str, normalized: str
) -> None:
    assert normalize_baseurl(baseurl) == normalized
    resource, _, _ = verify(cloudfront(s3_driver, baseurl=baseurl).redirect_url(BLOB))
    assert resource == normalized + s3_driver.key(BLOB)


class OddKeys(DriverMiddleware):
    """An s3 driver whose keys hold characters a URL must escape (s3's own
    paths and roots never do; the escaping is defensive)."""

    def key(self, path: str) -> str:
        return "odd root/50%" + path


def test_key_characters_are_escaped(
    s3_driver: StorageDriver, cloudfront: Callable[..., Any], verify: Verify
) -> None:
    driver = cloudfront(OddKeys(s3_driver), baseurl="https://cdn.example.com")
    resource, _, _ = verify(driver.redirect_url(BLOB))
    assert resource == f"https://cdn.example.com/odd%20root/50%25{BLOB}"


def test_other_methods_and_bad_paths_are_refused(
    s3_driver: StorageDriver, cloudfront: Callable[..., Any]
) -> None:
    driver = cloudfront(s3_driver)
    with pytest.raises(StorageDriverError, match="GET or HEAD"):
        driver.redirect_url(BLOB, "PUT")
    with pytest.raises(InvalidPathError):
        driver.redirect_url("relative/path")
    with pytest.raises(InvalidPathError):
        driver.redirect_url("/a/../b")


def test_everything_else_passes_through(s3_driver: Any, cloudfront: Callable[..., Any]) -> None:
    driver = cloudfront(s3_driver)
    assert driver.name == "s3"
    assert driver.capabilities.redirect
    driver.put_content("/a/b", b"through cloudfront's wrapper")
    assert driver.get_content("/a/b") == b"through cloudfront's wrapper"
    assert s3_driver.get_content("/a/b") == b"through cloudfront's wrapper"
    assert driver.list("/a") == ["/a/b"]
    assert driver.stat("/a/b").size == len(b"through cloudfront's wrapper")
    assert driver.key("/a/b") == s3_driver.key("/a/b")  # extras forwarded
    driver.delete("/a")
    assert driver.list("/") == []


def test_cloudfront_stand_in_accepts_the_urls(
    s3_driver: StorageDriver, cloudfront: Callable[..., Any], cloudfront_stand_in: Any
) -> None:
    # The URLs are fetched from a stand-in that checks them as CloudFront
    # does (signature, key pair ID, expiry) and serves the bucket's objects.
    driver = cloudfront(s3_driver, baseurl=cloudfront_stand_in.endpoint)
    driver.put_content(BLOB, b"layer bytes")
    with urllib.request.urlopen(driver.redirect_url(BLOB), timeout=30) as response:
        assert response.read() == b"layer bytes"
    head = urllib.request.Request(driver.redirect_url(BLOB, "HEAD"), method="HEAD")
    with urllib.request.urlopen(head, timeout=30) as response:
        assert response.headers["Content-Length"] == str(len(b"layer bytes"))
    url = driver.redirect_url(BLOB)
    refused = [
        url.replace("Expires=", "Expires=1"),  # another expiry than signed
        url.replace("/docker/", "/dockex/"),  # another object
        cloudfront(s3_driver, baseurl=cloudfront_stand_in.endpoint, duration="1s").redirect_url(
            BLOB
        ),
    ]
    time.sleep(1.1)  # the last one has expired
    for bad in refused:
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(bad, timeout=30)
        assert excinfo.value.code == 403
    driver.delete(BLOB)
