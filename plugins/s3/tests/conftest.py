"""Fixtures of the s3 tests: a moto server the tests start themselves.

moto runs as `moto_server` in its own process group on a free loopback port,
is polled over HTTP until it answers (with a deadline), and is stopped by
its process group at the end of the session. Its log is printed when a test
fails, so an emulator problem is visible in the test report.
"""

from __future__ import annotations

import shutil
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from regstore import StorageDriver
from regstore.testing.services import LocalService, start_service

MIB = 1 << 20


class MotoServer(LocalService):
    """A running moto server."""

    def reset(self) -> None:
        """Wipe every bucket (moto's own API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def moto_command(port: int) -> list[str]:
    """moto's server on loopback, from the running interpreter's environment."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if exe:
        return [exe, "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def start_moto() -> MotoServer:
    """Start moto on a free loopback port and wait until it answers."""
    return start_service("moto_server", moto_command, kind=MotoServer)


_SERVER: MotoServer | None = None


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the whole session."""
    global _SERVER
    server = start_moto()
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


def boto3_client(endpoint: str) -> Any:
    """A plain boto3 client for the tests to look behind the driver."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret-key",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def bucket(moto_server: MotoServer) -> str:
    """A bucket for the session (tests use random roots inside it)."""
    name = f"regstore-{uuid.uuid4().hex[:12]}"
    boto3_client(moto_server.endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_base_params(moto_server: MotoServer, bucket: str) -> dict[str, object]:
    """Driver parameters for the moto server, without a root."""
    return {
        "bucket": bucket,
        "region": "us-east-1",
        "regionendpoint": moto_server.endpoint,
        "forcepathstyle": "true",
        # Not "testing": the suite looks for secrets in tracebacks, whose
        # file paths hold "regstore/testing".
        "accesskey": "AKIDREGSTOREMOTO",
        "secretkey": "testing-secret-key",
        "chunksize": 5 * MIB,
    }


@pytest.fixture
def s3_params(s3_base_params: dict[str, object]) -> dict[str, object]:
    """Parameters with a fresh random root for one test."""
    return dict(s3_base_params, rootdirectory=f"t-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    """A plain boto3 client on the moto server."""
    return boto3_client(moto_server.endpoint)


class RequestCounter:
    """Counts the HTTP requests a driver's boto3 client sends, by operation
    (botocore's `before-send` event fires once per attempt, retries too)."""

    def __init__(self, driver: StorageDriver) -> None:
        inner: Any = getattr(driver, "inner", driver)
        self._events = inner.client.meta.events
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._events.register("before-send.s3", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.counts[operation] += 1

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.counts.clear()

    @property
    def total(self) -> int:
        """All requests counted."""
        return sum(self.counts.values())

    def close(self) -> None:
        """Stop counting."""
        self._events.unregister("before-send.s3", self._count)


@pytest.fixture
def count_requests() -> Iterator[Callable[[StorageDriver], RequestCounter]]:
    """Attach a RequestCounter to a driver (detached at the end)."""
    made: list[RequestCounter] = []

    def attach(driver: StorageDriver) -> RequestCounter:
        counter = RequestCounter(driver)
        made.append(counter)
        return counter

    yield attach
    for counter in made:
        counter.close()
