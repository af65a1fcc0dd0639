"""Fixtures of the s3 tests: a moto server the tests start themselves.

moto runs as `moto_server` in its own process group on a free loopback port,
is polled over HTTP until it answers (with a deadline), and is stopped by
its process group at the end of the session. Its log is printed when a test
fails, so an emulator problem is visible in the test report.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regstore import StorageDriver

READY_DEADLINE = 30.0
MIB = 1 << 20


@dataclass
class MotoServer:
    """A running moto server."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """The server's output so far (its tail)."""
        try:
            return self.log_path.read_text(errors="replace")[-20_000:]
        except OSError:
            return "<no log>"

    def reset(self) -> None:
        """Wipe every bucket (moto's own API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_command(port: int) -> list[str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if exe:
        return [exe, "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def start_moto() -> MotoServer:
    """Start moto on a free port and wait until it answers."""
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="regstore-s3-moto-"))
    log_path = log_dir / "moto.log"
    log = log_path.open("wb")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        _moto_command(port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as one
        env=env,
    )
    log.close()
    server = MotoServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + READY_DEADLINE
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.endpoint + "/", timeout=2):
                return server
        except (urllib.error.URLError, OSError) as err:
            if time.monotonic() > deadline:
                stop_moto(server)
                raise RuntimeError(
                    f"moto_server not ready in {READY_DEADLINE}s:\n{server.log()}"
                ) from err
            time.sleep(0.1)


def stop_moto(server: MotoServer) -> None:
    """Stop the server's process group (only ours: we made the group)."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


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
        stop_moto(server)


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
        "accesskey": "testing",
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
