"""The gcs driver's own promises, checked on fake-gcs-server behind the
driver's back with a plain google-cloud-storage client: request counts
(through a counting proxy), where an open upload keeps its bytes, resume
after SIGKILL in a new process, cleanup after commit, cancel and purge,
compose trees, signed URLs (V4 signatures verified here with the public
key, since the emulator checks none), and parameters and credentials.

Mocks appear only where the emulator cannot stand in: Application Default
Credentials (no metadata server here) and IAM signBlob (no IAM here).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import google.auth
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth import credentials as auth_credentials
from google.auth import exceptions as auth_exceptions
from regstore_gcs.driver import GCSDriver
from regstore_gcs.writer import COMPOSE_LIMIT, GCSWriter

import regstore
from regstore import InvalidParameterError, StorageDriver, StorageDriverError
from regstore.testing.faults import FaultProxy

from .conftest import CHUNK, SA_EMAIL, make_key

KIB = 1 << 10
BUCKET_METADATA_ENV = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"


def _data(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _inner(driver: StorageDriver) -> GCSDriver:
    inner: Any = getattr(driver, "inner", driver)
    assert isinstance(inner, GCSDriver)
    return inner


def _names(gcs: Any, bucket: str, prefix: str) -> list[str]:
    return [b.name for b in gcs.list_blobs(bucket, prefix=prefix)]


def _hidden(params: dict[str, object]) -> str:
    return f"{params['rootdirectory']}/~regstore-uploads/"


@pytest.fixture
def counting(
    gcs_server: Any, gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FaultProxy, StorageDriver]]:
    """A driver behind a proxy that counts requests (no faults), with the
    library's bucket-metadata GET for tracing attributes turned off."""
    monkeypatch.setenv(BUCKET_METADATA_ENV, "true")
    with FaultProxy(gcs_server.endpoint) as proxy:
        yield proxy, regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint))


# -- request counts ------------------------------------------------------------------


def test_stat_and_put_content_are_one_request_each(
    counting: tuple[FaultProxy, StorageDriver],
) -> None:
    proxy, driver = counting
    proxy.reset_counts()
    driver.put_content("/one", b"k" * KIB)
    assert [(r.method, r.path.split("/b/")[0]) for r in proxy.records] == [
        ("POST", "/upload/storage/v1")
    ]
    assert proxy.records[0].query["uploadType"] == "multipart"
    proxy.reset_counts()
    info = driver.stat("/one")
    assert (info.size, info.is_dir) == (KIB, False)
    assert proxy.requests == 1
    proxy.reset_counts()
    assert driver.stat("/").is_dir
    driver.delete("/one")


def test_bucket_metadata_get_is_the_only_extra_request(
    gcs_server: Any, gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the library's tracing lookup on (its default), a new client's
    first call adds one GET of the bucket's metadata, nothing else."""
    monkeypatch.delenv(BUCKET_METADATA_ENV, raising=False)
    with FaultProxy(gcs_server.endpoint) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint))
        driver.put_content("/one", b"k" * KIB)
        driver.stat("/one")
        bucket_gets = [
            r
            for r in proxy.records
            if r.method == "GET" and r.path.endswith(f"/b/{gcs_params['bucket']}")
        ]
        assert len(bucket_gets) <= 1
        assert proxy.requests - len(bucket_gets) == 2
        driver.delete("/one")


def test_walk_of_2500_objects_takes_at_most_4_listings(
    counting: tuple[FaultProxy, StorageDriver], gcs: Any, gcs_params: dict[str, object]
) -> None:
    proxy, driver = counting
    root = gcs_params["rootdirectory"]
    names = [f"{root}/w/{i % 7}/{i:05d}" for i in range(2500)]
    direct = regstore.create("gcs", gcs_params)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: direct.put_content("/" + n.split("/", 1)[1], b"w"), names))
    proxy.reset_counts()
    walked = [info.path for info in driver.walk("/w") if not info.is_dir]
    assert len(walked) == 2500
    assert walked == sorted(walked)
    assert proxy.requests <= 4, [r.target for r in proxy.records]
    assert all(r.method == "GET" and r.path.endswith("/o") for r in proxy.records)
    proxy.reset_counts()
    assert len(driver.list("/w/3")) == len([n for n in names if n.split("/")[2] == "3"])
    driver.delete("/w")
    assert _names(gcs, str(gcs_params["bucket"]), f"{root}/") == []


# -- the upload in flight ----------------------------------------------------------------


def test_open_upload_leaves_the_path_alone(gcs_params: dict[str, object], gcs: Any) -> None:
    """Old content stays readable until commit, and nothing is written at
    the path's object name before it (listed with the client library)."""
    driver = regstore.create("gcs", gcs_params)
    bucket = str(gcs_params["bucket"])
    key = f"{gcs_params['rootdirectory']}/blob/data"
    driver.put_content("/blob/data", b"old")
    generation = gcs.bucket(bucket).get_blob(key).generation
    payload = _data("open", 3 * CHUNK + 77)
    writer = driver.writer("/blob/data")
    writer.write(payload[: 2 * CHUNK + 5])
    writer.close()
    writer = driver.writer("/blob/data", append=True)
    writer.write(payload[2 * CHUNK + 5 :])
    at_key = [b for b in gcs.list_blobs(bucket) if b.name == key]
    assert [b.generation for b in at_key] == [generation]
    assert driver.get_content("/blob/data") == b"old"
    assert driver.list("/blob") == ["/blob/data"]
    assert [i.path for i in driver.walk("/")] == ["/blob", "/blob/data"]
    writer.commit()
    assert driver.get_content("/blob/data") == payload
    assert _names(gcs, bucket, _hidden(gcs_params)) == []
    driver.delete("/blob")


def test_parts_and_records_gone_after_commit_cancel_and_purge(
    gcs_params: dict[str, object], gcs: Any
) -> None:
    driver = regstore.create("gcs", gcs_params)
    bucket = str(gcs_params["bucket"])
    hidden = _hidden(gcs_params)
    payload = _data("cleanup", 2 * CHUNK + 10)
    for end in ("commit", "cancel"):
        writer = driver.writer(f"/{end}")
        writer.write(payload)
        writer.close()
        assert len(_names(gcs, bucket, hidden)) == 3  # record + 2 parts
        writer = driver.writer(f"/{end}", append=True)
        writer.write(payload)
        getattr(writer, end)()
        assert _names(gcs, bucket, hidden) == [], end
    assert driver.get_content("/commit") == payload * 2
    writer = driver.writer("/purged")
    writer.write(payload)
    writer.close()
    uploads = list(driver.list_uploads())
    assert [(u.path, u.size, u.ours) for u in uploads] == [("/purged", len(payload), True)]
    assert driver.purge_uploads(dt.timedelta(hours=1)) == 0
    assert driver.purge_uploads(dt.timedelta(0), dry_run=True) == 1
    assert len(_names(gcs, bucket, hidden)) == 3
    assert driver.purge_uploads(dt.timedelta(0)) == 1
    assert _names(gcs, bucket, hidden) == []
    driver.delete("/commit")


def test_a_new_writer_replaces_the_old_upload(gcs_params: dict[str, object], gcs: Any) -> None:
    """The older writer may not publish; its parts are gone; the newer one
    publishes exactly its bytes."""
    driver = regstore.create("gcs", gcs_params)
    old = driver.writer("/r")
    old.write(_data("old", CHUNK + 1))
    new = driver.writer("/r")
    new.write(_data("new", CHUNK + 2))
    with pytest.raises(StorageDriverError, match="newer writer"):
        old.commit()
    new.commit()
    assert driver.get_content("/r") == _data("new", CHUNK + 2)
    old.cancel()  # leaves the newer writer's record alone
    assert driver.get_content("/r") == _data("new", CHUNK + 2)
    assert _names(gcs, str(gcs_params["bucket"]), _hidden(gcs_params)) == []
    driver.delete("/r")


def test_more_parts_than_one_compose_takes(
    gcs_server: Any, gcs_params: dict[str, object], gcs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 parts and a tail: two intermediate composites, then the final
    compose; the composites are cleaned up with the parts."""
    monkeypatch.setenv(BUCKET_METADATA_ENV, "true")
    payload = _data("tree", 40 * CHUNK + 999)
    with FaultProxy(gcs_server.endpoint) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint))
        writer = driver.writer("/tree")
        writer.write(payload)
        proxy.reset_counts()
        writer.commit()
        composes = [r for r in proxy.records if r.path.endswith("/compose")]
        assert len(composes) == -(-41 // COMPOSE_LIMIT) + 1
        assert (
            hashlib.sha256(driver.get_content("/tree")).digest() == hashlib.sha256(payload).digest()
        )
        assert _names(gcs, str(gcs_params["bucket"]), _hidden(gcs_params)) == []
        driver.delete("/tree")


def test_max_parts_names_chunksize(
    gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GCSWriter, "max_parts", 2)
    driver = regstore.create("gcs", gcs_params)
    writer = driver.writer("/limit")
    with pytest.raises(StorageDriverError, match="chunksize"):
        writer.write(bytes(2 * CHUNK + 1))
    writer.cancel()


def test_a_part_sent_twice_is_kept_once(gcs_params: dict[str, object]) -> None:
    """A part whose reply was lost is sent again: the 412 of the new-object
    precondition finds our own bytes there and keeps them."""
    driver = regstore.create("gcs", gcs_params)
    writer: Any = driver.writer("/twice")
    inner = writer._inner
    assert isinstance(inner, GCSWriter)
    first = inner.send_part(1, bytearray(b"a" * CHUNK))
    again = inner.send_part(1, bytearray(b"a" * CHUNK))
    assert again == first
    other = inner.send_part(1, bytearray(b"b" * CHUNK))
    assert other[0] == first[0]
    assert other[1] != first[1]
    writer.cancel()


# -- resume in another process after SIGKILL -------------------------------------------------

CHILD = """
import json, random, sys, time
import regstore
params, first, lost = json.loads(sys.argv[1])
data = random.Random("kept").randbytes(first)
driver = regstore.create("gcs", params)
writer = driver.writer("/killed")
writer.write(data)
writer.close()
writer = driver.writer("/killed", append=True)
writer.write(random.Random("lost").randbytes(lost))
inner = writer._inner
for future in list(inner._pending):
    future.exception()
print("ready", flush=True)
time.sleep(3600)
"""


def test_sigkilled_writer_resumes_byte_exact_in_a_new_process(
    gcs_params: dict[str, object], gcs: Any
) -> None:
    first, lost = 2 * CHUNK + 1000, 3 * CHUNK + 5
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps([gcs_params, first, lost])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == "ready", child.stderr.read() if child.stderr else ""
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    bucket = str(gcs_params["bucket"])
    parts = [n for n in _names(gcs, bucket, _hidden(gcs_params)) if "~" in n.split("uploads/")[1]]
    # 2 closed parts, and the lost bytes' parts (the tail part 3 of the
    # first session was never sent: it was a tail at close).
    assert len(parts) == 2 + (1000 + lost) // CHUNK
    driver = regstore.create("gcs", gcs_params)
    writer = driver.writer("/killed", append=True)
    assert writer.size == first
    rest = _data("rest", CHUNK + 3)
    writer.write(rest)
    writer.commit()
    expected = _data("kept", first) + rest
    assert driver.get_content("/killed") == expected
    assert _names(gcs, bucket, _hidden(gcs_params)) == []
    driver.delete("/killed")


# -- signed URLs ------------------------------------------------------------------------------


def _verify_v4(url: str, method: str, public_key: Any) -> dict[str, str]:
    """Check a V4 signed URL's signature as GCS would (the emulator does
    not): canonical request, string to sign, RSA-SHA256 with the key."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
        for k, v in sorted(query.items())
    )
    assert query["X-Goog-SignedHeaders"] == "host"
    canonical = "\n".join(
        [
            method,
            parts.path,
            canonical_query,
            f"host:{parts.netloc}",
            "",
            "host",
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            query["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    public_key.verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    return query


def test_signed_url_with_a_service_account_key(
    gcs_params: dict[str, object], sa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    driver = regstore.create("gcs", dict(gcs_params, redirectexpiry=600))
    assert driver.capabilities.redirect
    driver.put_content("/signed/blob", b"signed content")
    url = driver.redirect_url("/signed/blob")
    assert url is not None
    query = _verify_v4(url, "GET", sa_key.public_key())
    assert query["X-Goog-Expires"] == "600"
    assert query["X-Goog-Credential"].startswith(SA_EMAIL + "/")
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"signed content"
    head = driver.redirect_url("/signed/blob", method="HEAD")
    assert head is not None
    _verify_v4(head, "HEAD", sa_key.public_key())
    request = urllib.request.Request(head, method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert int(response.headers["Content-Length"]) == len(b"signed content")
    # A tampered URL fails the check (the verification proves something).
    from cryptography.exceptions import InvalidSignature

    with pytest.raises(InvalidSignature):
        _verify_v4(url.replace("signed/blob", "signed/other"), "GET", sa_key.public_key())
    signature = query_signature(url)
    assert signature not in repr(driver)
    assert all(signature not in record.getMessage() for record in caplog.records)
    driver.delete("/signed")


def query_signature(url: str) -> str:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["X-Goog-Signature"]


def test_signed_url_with_a_keyfile(
    gcs_params: dict[str, object], sa_info: dict[str, str], tmp_path: Path, sa_key: Any
) -> None:
    keyfile = tmp_path / "key.json"
    keyfile.write_text(json.dumps(sa_info))
    params = {k: v for k, v in gcs_params.items() if k != "credentials"}
    driver = regstore.create("gcs", dict(params, keyfile=str(keyfile)))
    driver.put_content("/k", b"via keyfile")
    url = driver.redirect_url("/k")
    assert url is not None
    _verify_v4(url, "GET", sa_key.public_key())
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"via keyfile"
    driver.delete("/k")


def test_anonymous_endpoint_has_no_redirects(
    gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint and no credentials: anonymous, never an ADC lookup."""

    def no_adc(*_: Any, **__: Any) -> Any:
        raise AssertionError("ADC looked up")

    monkeypatch.setattr(google.auth, "default", no_adc)
    params = {k: v for k, v in gcs_params.items() if k != "credentials"}
    driver = regstore.create("gcs", params)
    assert not driver.capabilities.redirect
    driver.put_content("/anon", b"a")
    assert driver.redirect_url("/anon") is None
    driver.delete("/anon")


def test_storage_emulator_host_is_honoured(
    gcs_server: Any, gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.endpoint.removeprefix("http://"))
    params = {k: v for k, v in gcs_params.items() if k not in ("credentials", "endpoint")}
    driver = regstore.create("gcs", params)
    driver.put_content("/env", b"e")
    assert driver.get_content("/env") == b"e"
    driver.delete("/env")


class _ComputeCredentials(auth_credentials.Credentials):
    """What ADC gives on GCE or Cloud Run: a token, an email, no key."""

    service_account_email = SA_EMAIL

    def refresh(self, request: Any) -> None:
        self.token = "metadata-server-token"
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)


def test_adc_without_a_key_signs_through_iam_signblob(
    gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADC (mocked: no metadata server here) gives credentials without a
    key; the library's IAM signBlob call (mocked: no IAM here) signs, and
    the URL verifies with the account's public key."""
    key = make_key()
    calls: list[tuple[str, str]] = []

    def sign_blob(
        message: Any, access_token: str, service_account_email: str, *_: Any, **__: Any
    ) -> bytes:
        calls.append((access_token, service_account_email))
        data = message.encode() if isinstance(message, str) else message
        return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))

    from google.cloud.storage import _signing  # type: ignore[import-untyped]

    monkeypatch.setattr(_signing, "_sign_message", sign_blob)
    monkeypatch.setattr(google.auth, "default", lambda **_: (_ComputeCredentials(), "p"))  # type: ignore[no-untyped-call]
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    params = {k: v for k, v in gcs_params.items() if k not in ("credentials", "endpoint")}
    driver = regstore.create("gcs", params)
    assert driver.capabilities.redirect
    url = driver.redirect_url("/iam/blob", method="HEAD")
    assert url is not None
    assert url.startswith("https://storage.googleapis.com/")
    _verify_v4(url, "HEAD", key.public_key())
    assert calls == [("metadata-server-token", SA_EMAIL)]


# -- parameters and credentials ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"chunksize": "300KiB"}, "chunksize"),
        ({"chunksize": "128KiB"}, "chunksize"),
        ({"chunksize": "2GiB"}, "chunksize"),
        ({"maxconcurrency": 10}, "maxconcurrency"),
        ({"uploadconcurrency": 0}, "uploadconcurrency"),
        ({"redirectexpiry": 8 * 24 * 3600}, "redirectexpiry"),
        ({"bucket": "Not_A_Bucket"}, "bucket"),
        ({"bucket": "ab"}, "bucket"),
        ({"endpoint": "ftp://127.0.0.1:1"}, "endpoint"),
        ({"endpoint": "http://127.0.0.1:99999"}, "endpoint"),
        ({"rootdirectory": "a/../b"}, "rootdirectory"),
        ({"useragent": "bad\nagent"}, "useragent"),
        ({"keyfile": "/nonexistent/key.json"}, "keyfile"),
        ({"credentials": {"type": "external_account"}}, "credentials"),
        ({"credentials": {"type": "service_account", "unknown": "x"}}, "credentials"),
    ],
)
def test_bad_parameters_name_the_key(
    gcs_params: dict[str, object], change: dict[str, object], key: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        regstore.create("gcs", dict(gcs_params, **change))
    assert info.value.key == key
    assert str(info.value).startswith("gcs: ")


def test_a_bad_private_key_is_never_shown(gcs_params: dict[str, object], sa_info: Any) -> None:
    secret_body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-really-a-key-but-secret"
    broken = dict(sa_info, private_key=f"-----BEGIN PRIVATE KEY-----\n{secret_body}\n")
    with pytest.raises(InvalidParameterError) as info:
        regstore.create("gcs", dict(gcs_params, credentials=broken))
    assert info.value.key == "credentials"
    assert secret_body not in str(info.value)
    assert secret_body not in repr(info.value)
    driver = regstore.create("gcs", gcs_params)
    assert "PRIVATE KEY" not in repr(driver)


def test_keyfile_that_is_no_json(gcs_params: dict[str, object], tmp_path: Path) -> None:
    keyfile = tmp_path / "key.json"
    keyfile.write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    with pytest.raises(InvalidParameterError, match="no JSON") as info:
        regstore.create("gcs", dict(gcs_params, keyfile=str(keyfile)))
    assert "secret" not in str(info.value)


def test_no_credentials_and_no_adc(
    gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(**_: Any) -> Any:
        raise auth_exceptions.DefaultCredentialsError("nothing found")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(google.auth, "default", missing)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    params = {k: v for k, v in gcs_params.items() if k not in ("credentials", "endpoint")}
    with pytest.raises(InvalidParameterError, match="Application Default Credentials"):
        regstore.create("gcs", params)


def test_default_chunksize_is_16_mib(gcs_params: dict[str, object]) -> None:
    params = {k: v for k, v in gcs_params.items() if k != "chunksize"}
    driver = _inner(regstore.create("gcs", params))
    assert driver.settings.chunk_size == 16 * (1 << 20)
    assert driver.settings.max_concurrency == 50


def test_reads_wait_for_nothing_after_close(gcs_params: dict[str, object]) -> None:
    """A reader closed early stops its prefetch (no thread left behind)."""
    driver = regstore.create("gcs", gcs_params)
    driver.put_content("/big", _data("big", 20 * (1 << 20)))
    started = time.monotonic()
    with driver.reader("/big", 5) as stream:
        assert stream.read(10) == _data("big", 20 * (1 << 20))[5:15]
    assert time.monotonic() - started < 30
    driver.delete("/big")


def test_the_private_key_is_a_secret_core_scrubs(
    gcs_params: dict[str, object], sa_info: dict[str, str]
) -> None:
    """`credentials` declares its fields, so core knows `private_key` is a
    secret (its name does not look like one): an error that quotes it is
    scrubbed."""
    from regstore_gcs.plugin import PARAMETERS

    from regstore.params import secret_values

    found = secret_values(PARAMETERS, {"credentials": dict(sa_info)})
    assert sa_info["private_key"] in found
    driver: Any = regstore.create("gcs", gcs_params)
    inner = driver.inner

    def leaky(path: str) -> Any:
        raise RuntimeError(f"backend said: {sa_info['private_key']}")

    inner.stat = leaky
    with pytest.raises(StorageDriverError) as info:
        driver.stat("/x")
    body = sa_info["private_key"].splitlines()[1]
    assert body not in str(info.value)
    assert body not in repr(info.value)
