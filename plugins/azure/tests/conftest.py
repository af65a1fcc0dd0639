"""Fixtures of the azure tests: an Azurite the tests start themselves.

Azurite (npm `azurite`, pinned in ../package.json and its lock) is run with
node directly, not through npx (stopping npx would leave node holding the
port), in its own process group on a free loopback port, in memory, and is
stopped by its process group at the end of the session. Where it lives:
`REGSTORE_AZURITE` (the Makefile sets it: the `node_modules` folder, or
Azurite's blob `main.js`), else `../node_modules` beside these tests (`npm
ci` in plugins/azure). Its log is printed when a test fails.

The SDK sends a newer API version than Azurite knows, so Azurite runs with
`--skipApiVersionCheck`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from regstore.testing.faults import FaultProxy
from regstore.testing.services import LocalService, start_service

MIB = 1 << 20
ACCOUNT = "devstoreaccount1"
#: Azurite's well-known development key (public, in Microsoft's docs).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_MAIN = Path("azurite") / "dist" / "src" / "blob" / "main.js"


def azurite_main() -> Path:
    """Azurite's blob server script; skips the tests with the command that
    installs it when it is missing."""
    given = os.environ.get("REGSTORE_AZURITE")
    candidates = []
    if given:
        path = Path(given)
        candidates += [path, path / _MAIN, path / "node_modules" / _MAIN]
    candidates.append(Path(__file__).resolve().parent.parent / "node_modules" / _MAIN)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RuntimeError(
        "Azurite is not installed: run `npm ci` in plugins/azure (make test-azure does), "
        "or set REGSTORE_AZURITE to its node_modules folder"
    )


class Azurite(LocalService):
    """A running Azurite blob service."""

    @property
    def service_url(self) -> str:
        """The path-style endpoint of the development account."""
        return f"{self.endpoint}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.service_url};"
        )


def azurite_command(port: int) -> list[str]:
    node = shutil.which("node") or "node"
    return [
        node,
        str(azurite_main()),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--silent",
        "--skipApiVersionCheck",
    ]


def start_azurite() -> Azurite:
    """Start Azurite on a free loopback port and wait until it answers."""
    return start_service(
        "azurite", azurite_command, kind=Azurite, ready_path=f"/{ACCOUNT}?comp=list"
    )


_SERVER: Azurite | None = None


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite for the whole session."""
    global _SERVER
    server = start_azurite()
    _SERVER = server
    try:
        yield server
    finally:
        _SERVER = None
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach Azurite's log to the report of a failed test."""
    report = yield
    if report.failed and _SERVER is not None:
        report.sections.append(("azurite log", _SERVER.log()))
    return report


def service_client(service_url: str) -> Any:
    """A plain SDK client for the tests to look behind the driver."""
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient(service_url, credential=AzureNamedKeyCredential(ACCOUNT, KEY))


@pytest.fixture(scope="session")
def container(azurite: Azurite) -> str:
    """A container for the session (tests use random roots inside it)."""
    name = f"regstore-{uuid.uuid4().hex[:12]}"
    service_client(azurite.service_url).create_container(name)
    return name


@pytest.fixture(scope="session")
def azure_base_params(azurite: Azurite, container: str) -> dict[str, object]:
    """Driver parameters for Azurite, without a root."""
    return {
        "accountname": ACCOUNT,
        "accountkey": KEY,
        "container": container,
        "serviceurl": azurite.service_url,
        "chunksize": MIB,
        "requestretrydelay": 0.05,
    }


@pytest.fixture
def azure_params(azure_base_params: dict[str, object]) -> dict[str, object]:
    """Parameters with a fresh random root for one test."""
    return dict(azure_base_params, rootdirectory=f"t-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def blobs(azurite: Azurite, container: str) -> Any:
    """A plain ContainerClient on Azurite."""
    return service_client(azurite.service_url).get_container_client(container)


def proxied_params(
    params: dict[str, object], proxy: FaultProxy, **extra: object
) -> dict[str, object]:
    """`params` with the service URL pointed at `proxy` (the account's path
    kept)."""
    path = str(params["serviceurl"]).split("/", 3)[3]
    return dict(params, serviceurl=f"{proxy.endpoint}/{path}", **extra)


@pytest.fixture
def proxied() -> Callable[..., dict[str, object]]:
    """`proxied_params`, for test modules (which cannot import conftest)."""
    return proxied_params


@pytest.fixture
def account_key() -> str:
    """Azurite's development key (to check it never shows)."""
    return KEY
