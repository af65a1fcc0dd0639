"""Local services for driver tests and benchmarks: emulators on loopback.

A cloud driver is tested against a real implementation of its service's API
(moto for S3, Azurite, fake-gcs-server), started by the tests themselves.
Each is started the same way, so the way lives here once: a free loopback
port, its own process group (stopped as one, so a wrapper script never
leaves the real server holding the port), its output in a log file that is
shown when it fails, and an HTTP readiness poll with a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar, overload

__all__ = ["LocalService", "free_port", "start_service"]

#: How long a service may take to answer its first request.
READY_DEADLINE = 30.0


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalService:
    """A running service on loopback, in a process group of its own."""

    name: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """The tail of the service's output."""
        try:
            return self.log_path.read_text(errors="replace")[-20_000:]
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        """Stop the service's process group (ours: we made it), politely
        first, then by force."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


S = TypeVar("S", bound=LocalService)


@overload
def start_service(
    name: str,
    command: Callable[[int], list[str]],
    *,
    ready_path: str = ...,
    env: Mapping[str, str] | None = ...,
    deadline: float = ...,
) -> LocalService: ...


@overload
def start_service(
    name: str,
    command: Callable[[int], list[str]],
    *,
    kind: type[S],
    ready_path: str = ...,
    env: Mapping[str, str] | None = ...,
    deadline: float = ...,
) -> S: ...


def start_service(
    name: str,
    command: Callable[[int], list[str]],
    *,
    kind: type[LocalService] = LocalService,
    ready_path: str = "/",
    env: Mapping[str, str] | None = None,
    deadline: float = READY_DEADLINE,
) -> LocalService:
    """Start `command(port)` on a free loopback port and wait until
    `http://127.0.0.1:port{ready_path}` answers. Any HTTP answer counts, an
    error status included (Azurite answers 403 before it has credentials).
    Raises RuntimeError with the service's log if it exits or stays silent."""
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix=f"regstore-{name}-")) / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command(port),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    service = kind(name, f"http://127.0.0.1:{port}", process, log_path)
    until = time.monotonic() + deadline
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{service.log()}")
        try:
            with urllib.request.urlopen(service.endpoint + ready_path, timeout=2):  # noqa: S310  (loopback)
                return service
        except urllib.error.HTTPError:
            return service
        except OSError as err:
            if time.monotonic() > until:
                service.stop()
                raise RuntimeError(f"{name} not ready in {deadline}s:\n{service.log()}") from err
            time.sleep(0.1)
