"""Fixtures of the cloudfront tests: an s3 driver on a moto server the tests
start themselves, an RSA key made here, and a checker of signed URLs.

moto runs as `moto_server` in its own process group on a free loopback port
(regstore.testing.services), like the s3 plugin's tests; the s3 driver comes
from regstore-s3, which the test environment installs with this plugin.

The tests run with --import-mode=importlib, where a test module cannot
import another: what they share comes as fixtures.
"""

from __future__ import annotations

import base64
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import regstore
from regstore import FileInfo, FileWriter, StorageDriver
from regstore.driver import Buffer
from regstore.middleware import middleware_spec
from regstore.testing.services import LocalService, start_service

#: The key pair ID the tests sign with (CloudFront's look: K + 13 characters).
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
BASEURL = "https://d111111abcdef8.cloudfront.net"

#: A signed URL taken apart: (resource URL, Expires, Key-Pair-Id).
Signed = tuple[str, int, str]


def moto_command(port: int) -> list[str]:
    """moto's server on loopback, from the running interpreter's environment."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if exe:
        return [exe, "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


_SERVER: LocalService | None = None


@pytest.fixture(scope="session")
def moto_server() -> Iterator[LocalService]:
    """One moto server for the whole session."""
    global _SERVER
    server = start_service("moto_server", moto_command)
    _SERVER = server
    try:
        yield server
    finally:
        _SERVER = None
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach moto's log to the report of a failed test."""
    report = yield
    if report.failed and _SERVER is not None:
        report.sections.append(("moto server log", _SERVER.log()))
    return report


def s3_client(moto_server: LocalService) -> Any:
    """A plain boto3 client on the moto server."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDREGSTOREMOTO",
        aws_secret_access_key="testing-secret-key",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def bucket(moto_server: LocalService) -> str:
    """A bucket for the session (tests use random roots inside it)."""
    name = f"regstore-cf-{uuid.uuid4().hex[:12]}"
    s3_client(moto_server).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_base_params(moto_server: LocalService, bucket: str) -> dict[str, object]:
    """s3 driver parameters for the moto server, without a root."""
    return {
        "bucket": bucket,
        "region": "us-east-1",
        "regionendpoint": moto_server.endpoint,
        "forcepathstyle": "true",
        "accesskey": "AKIDREGSTOREMOTO",
        "secretkey": "testing-secret-key",
        # S3's smallest part: the suite's 6 MiB writes then send parts.
        "chunksize": 5 * 1024 * 1024,
    }


@pytest.fixture
def s3_params(s3_base_params: dict[str, object]) -> dict[str, object]:
    """Parameters with a fresh random root for one test."""
    return dict(s3_base_params, rootdirectory=f"/cf-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def s3_driver(s3_params: dict[str, object]) -> StorageDriver:
    """An s3 driver as the factory makes it."""
    return regstore.create("s3", s3_params)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """The CloudFront key pair's private key (made once per session)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(path: Path, key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> Path:
    """`key` as an unencrypted PEM file in `fmt`."""
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    )
    return path


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """The key as PKCS#1 PEM (BEGIN RSA PRIVATE KEY), upstream's format."""
    return write_key(
        tmp_path / "cloudfront.pem", rsa_key, serialization.PrivateFormat.TraditionalOpenSSL
    )


@pytest.fixture
def key_file_pkcs8(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """The same key as PKCS#8 PEM (BEGIN PRIVATE KEY)."""
    return write_key(tmp_path / "cloudfront-pkcs8.pem", rsa_key, serialization.PrivateFormat.PKCS8)


@pytest.fixture
def cloudfront_options(key_file: Path) -> dict[str, object]:
    """The required options."""
    return {"baseurl": BASEURL, "privatekey": str(key_file), "keypairid": KEY_PAIR_ID}


@pytest.fixture
def wrap() -> Iterator[Callable[[StorageDriver, dict[str, object]], Any]]:
    """Wrap a driver in cloudfront with options; every middleware made has
    its IP-ranges thread stopped at the end of the test."""
    made: list[Any] = []

    def make(driver: StorageDriver, options: dict[str, object]) -> Any:
        wrapped = middleware_spec("cloudfront").create(driver, options)
        made.append(wrapped)
        return wrapped

    yield make
    for wrapped in made:
        ranges = getattr(wrapped, "ip_ranges", None)
        if ranges is not None:
            ranges.stop()


@pytest.fixture
def cloudfront(
    cloudfront_options: dict[str, object], wrap: Callable[[StorageDriver, dict[str, object]], Any]
) -> Callable[..., Any]:
    """`cloudfront(driver, **options)`: the driver wrapped with the required
    options, overridden or added to by `options`."""

    def make(driver: StorageDriver, **options: object) -> Any:
        return wrap(driver, {**cloudfront_options, **options})

    return make


# -- checking signed URLs as CloudFront does -------------------------------------


def cloudfront_b64decode(text: str) -> bytes:
    """The inverse of CloudFront's URL-safe base64."""
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def canned_policy(resource: str, expires: int) -> bytes:
    """The policy CloudFront rebuilds from the URL, written out by hand from
    its documentation (not with the code under test)."""
    condition = f'{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}'
    return f'{{"Statement":[{{"Resource":"{resource}","Condition":{condition}}}]}}'.encode()


def verify_signed(url: str, public_key: rsa.RSAPublicKey) -> Signed:
    """Take a canned-policy signed URL apart (exactly Expires, Signature and
    Key-Pair-Id, in that order, after the resource URL) and verify its
    signature; InvalidSignature if it does not verify."""
    resource, _, query = url.partition("?")
    pairs = [pair.split("=", 1) for pair in query.split("&")]
    assert [name for name, *_ in pairs] == ["Expires", "Signature", "Key-Pair-Id"], url
    values = dict(pairs)
    expires = int(values["Expires"])
    public_key.verify(
        cloudfront_b64decode(values["Signature"]),
        canned_policy(resource, expires),
        padding.PKCS1v15(),
        hashes.SHA1(),  # noqa: S303  (CloudFront's algorithm)
    )
    return resource, expires, values["Key-Pair-Id"]


@pytest.fixture
def verify(rsa_key: rsa.RSAPrivateKey) -> Callable[..., Signed]:
    """`verify(url, public_key=the test key's)`: (resource, expires,
    key pair ID) of a signed URL whose signature verifies."""

    def check(url: object, public_key: rsa.RSAPublicKey | None = None) -> Signed:
        assert isinstance(url, str), f"not a URL: {url!r}"
        return verify_signed(url, public_key or rsa_key.public_key())

    return check


# -- a driver that is not s3 -----------------------------------------------------


class NotS3(StorageDriver):
    """A driver that is not s3 (only its name matters to cloudfront)."""

    def get_content(self, path: str) -> bytes:
        raise NotImplementedError

    def put_content(self, path: str, data: Buffer) -> None:
        raise NotImplementedError

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        raise NotImplementedError

    def writer(self, path: str, append: bool = False) -> FileWriter:
        raise NotImplementedError

    def stat(self, path: str) -> FileInfo:
        raise NotImplementedError

    def list(self, path: str) -> list[str]:
        raise NotImplementedError

    def move(self, source: str, dest: str) -> None:
        raise NotImplementedError

    def delete(self, path: str) -> None:
        raise NotImplementedError


@pytest.fixture
def not_s3() -> Callable[[], StorageDriver]:
    """Makes a driver that is not s3."""
    return NotS3


# -- a CloudFront stand-in on loopback ---------------------------------------------


class CloudFrontStandIn:
    """What CloudFront does with a signed URL, on loopback: checks the
    canned-policy signature against the public key, the key pair ID and the
    expiry (403 otherwise), then serves the object whose key is the URL's
    path from the bucket on moto (404 if absent). GET and HEAD."""

    def __init__(self, public_key: rsa.RSAPublicKey, key_pair_id: str, s3: Any, bucket: str):
        import http.server
        import urllib.parse

        owner = self
        self.requests = 0
        self.refused = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, with_body: bool) -> None:
                owner.requests += 1
                url = f"{owner.endpoint}{self.path}"
                try:
                    resource, expires, kpid = verify_signed(url, public_key)
                    assert kpid == key_pair_id
                    assert expires > time.time()
                except Exception:  # noqa: BLE001  (any failure is CloudFront's 403)
                    owner.refused += 1
                    self._send(403, b"signature refused")
                    return
                key = urllib.parse.unquote(urllib.parse.urlsplit(resource).path.lstrip("/"))
                try:
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                except s3.exceptions.NoSuchKey:
                    self._send(404, b"no such key")
                    return
                self._send(200, body, with_body)

            def _send(self, status: int, body: bytes, with_body: bool = True) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def cloudfront_stand_in(
    rsa_key: rsa.RSAPrivateKey, moto_server: LocalService, bucket: str
) -> Iterator[CloudFrontStandIn]:
    """A CloudFront stand-in serving the session's bucket."""
    stand_in = CloudFrontStandIn(rsa_key.public_key(), KEY_PAIR_ID, s3_client(moto_server), bucket)
    yield stand_in
    stand_in.close()
