"""A loopback HTTP fault proxy for testing cloud drivers under failure.

`FaultProxy` sits between a driver and its (emulated) service: the driver is
pointed at the proxy's endpoint, the proxy forwards each request to the
upstream and, on a schedule or at random with a seed, breaks it instead:

- ``reset-request``: reads the request head and part of its body, then
  resets the connection (the client sees a broken pipe mid-upload);
- ``reset-response``: forwards the request, relays the response head and
  part of its body, then resets (the client sees a cut download);
- ``500``, ``503``, ``slowdown``: answers with that error without
  forwarding (``slowdown`` is S3's 503 SlowDown throttling reply);
- ``stall``: reads the request and sends nothing for `stall_seconds`, then
  closes (the client's read timeout must fire first).

Every client connection carries one request (the proxy answers with
`Connection: close`), so a fault never leaks into the next request. The
proxy counts requests and injected faults (`counts`, `requests`) and keeps
a log of what it saw (`records`), so a test can prove faults really
happened and count requests per operation.

It only ever binds and connects to loopback addresses.

    with FaultProxy("http://127.0.0.1:9000", rate=0.2, seed=7) as proxy:
        driver = regstore.create("s3", {..., "regionendpoint": proxy.endpoint})
        ...
        assert proxy.counts["reset-response"] > 0
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

__all__ = ["FAULTS", "FaultProxy", "RequestRecord"]

#: Every fault the proxy can inject.
FAULTS = ("reset-request", "reset-response", "500", "503", "slowdown", "stall")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_CHUNK = 256 * 1024
_MAX_HEAD = 64 * 1024

_ERROR_BODIES = {
    "500": (
        500,
        "Internal Server Error",
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
    "503": (503, "Service Unavailable", "ServiceUnavailable", "Please reduce your request rate."),
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
}


@dataclass(frozen=True)
class RequestRecord:
    """One request the proxy saw, and the fault it got (None: forwarded)."""

    method: str
    target: str  # path and query, as sent
    fault: str | None

    @property
    def path(self) -> str:
        """The target's path, without the query."""
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """The target's query parameters (a bare `?delete` maps to "")."""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query, True))


class _ClosedError(Exception):
    """The client went away before sending a whole request head."""


class FaultProxy:
    """See the module docstring.

    `rate` is the chance that a request gets a fault; `faults` the kinds to
    pick from, a sequence (equal weights) or a mapping of kind to weight;
    `seed` makes the random choices repeatable. `schedule`, if given, fixes
    the fate of the first requests in order (None: forward that one) before
    the random choice takes over. `enabled` can be flipped at any time to
    let everything through (to set up or check state undisturbed).
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        seed: int = 0,
        faults: Iterable[str] | Mapping[str, float] = FAULTS,
        schedule: Iterable[str | None] = (),
        stall_seconds: float = 5.0,
        host: str = "127.0.0.1",
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK:
            raise ValueError(f"the fault proxy forwards only to http on loopback, not {upstream}")
        if host not in _LOOPBACK:
            raise ValueError(f"the fault proxy listens only on loopback, not {host}")
        weights = dict(faults) if isinstance(faults, Mapping) else dict.fromkeys(faults, 1.0)
        unknown = set(weights) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], not {rate}")
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rate = rate
        self.stall_seconds = stall_seconds
        self.enabled = True
        self._kinds = list(weights)
        self._weights = [weights[k] for k in self._kinds]
        self._schedule = list(schedule)
        #: If set, decides each request's fate in place of `rate` (after
        #: the schedule): `regstore.testing.injection.ProxyFaults` sets it.
        self.decide: Callable[[], str | None] | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self.records: list[RequestRecord] = []
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.endpoint = f"http://{host}:{self._listener.getsockname()[1]}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        """Start accepting connections (in a daemon thread)."""
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and wait for requests in flight to end."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for worker in list(self._workers):
            worker.join(timeout=self.stall_seconds + 5)
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def faults_injected(self) -> int:
        """How many requests got a fault so far."""
        with self._lock:
            return sum(self.counts.values())

    def schedule_next(self, *faults: str | None) -> None:
        """Fix the fate of the next requests (None: forward that one)."""
        unknown = {f for f in faults if f is not None} - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._schedule.extend(faults)

    def reset_counts(self) -> None:
        """Forget the requests and faults counted so far."""
        with self._lock:
            self.counts.clear()
            self.requests = 0
            self.records.clear()

    # -- serving ------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._workers.add(worker)
            worker.start()

    def _choose(self) -> str | None:
        with self._lock:
            self.requests += 1
            if not self.enabled:
                return None
            if self._schedule:
                fault = self._schedule.pop(0)
            elif self.decide is not None:
                fault = self.decide()
            elif self.rate and self._rng.random() < self.rate:
                fault = self._rng.choices(self._kinds, self._weights)[0]
            else:
                fault = None
            if fault is not None:
                self.counts[fault] += 1
            return fault

    def _handle(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(60)
                head, rest = _read_head(conn)
                method, target, headers = _parse_head(head)
                fault = self._choose()
                with self._lock:
                    self.records.append(RequestRecord(method, target, fault))
                self._answer(conn, fault, head, rest, headers)
        except (_ClosedError, OSError):
            pass
        finally:
            self._workers.discard(threading.current_thread())

    def _answer(
        self,
        conn: socket.socket,
        fault: str | None,
        head: bytes,
        rest: bytes,
        headers: dict[str, str],
    ) -> None:
        length = int(headers.get("content-length", "0") or 0)
        if headers.get("expect", "").lower() == "100-continue":
            # Answer the expectation here (the upstream never sees it), so
            # the client sends its body at once instead of after a timeout.
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            head = _without_fields(head, (b"expect:",))
        if fault == "reset-request":
            _recv_exactly(conn, max(0, length // 2 - len(rest)))
            _reset(conn)
            return
        body_left = max(0, length - len(rest))
        if fault in _ERROR_BODIES or fault == "stall":
            _recv_exactly(conn, body_left)  # take the whole request first
            if fault == "stall":
                self._stopping.wait(self.stall_seconds)
                _reset(conn)
                return
            conn.sendall(_error_response(fault))
            return
        with socket.create_connection(self.upstream, timeout=120) as up:
            up.sendall(_with_connection_close(head) + rest)
            while body_left > 0:
                chunk = conn.recv(min(_CHUNK, body_left))
                if not chunk:
                    raise _ClosedError
                up.sendall(chunk)
                body_left -= len(chunk)
            self._relay_response(conn, up, cut=fault == "reset-response")

    def _relay_response(self, conn: socket.socket, up: socket.socket, *, cut: bool) -> None:
        """Relay the upstream's response; with `cut`, stop halfway through
        its body (or through its head when it has none) and reset."""
        head, rest = _read_head(up)
        _status, _, header_block = head.partition(b"\r\n")
        fields = _parse_fields(header_block)
        length = int(fields.get("content-length", "0") or 0)
        out_head = _with_connection_close(head)
        if cut and length == 0:
            conn.sendall(out_head[: len(out_head) // 2])  # no body: cut the head
            _reset(conn)
            return
        if cut:
            keep = length // 2
            conn.sendall(out_head + rest[:keep])
            sent = min(len(rest), keep)
            while sent < keep:
                chunk = up.recv(min(_CHUNK, keep - sent))
                if not chunk:
                    break
                conn.sendall(chunk)
                sent += len(chunk)
            _reset(conn)
            return
        conn.sendall(out_head + rest)
        while True:
            chunk = up.recv(_CHUNK)
            if not chunk:
                return
            conn.sendall(chunk)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The HTTP head (through the blank line) and whatever followed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(_CHUNK)
        if not chunk:
            raise _ClosedError
        data += chunk
        if len(data) > _MAX_HEAD and b"\r\n\r\n" not in data:
            raise _ClosedError
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _parse_fields(block: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    request_line, _, block = head.partition(b"\r\n")
    method, target, _ = [*request_line.decode("latin-1").split(" ", 2), "", ""][:3]
    return method, target, _parse_fields(block)


def _without_fields(head: bytes, names: tuple[bytes, ...]) -> bytes:
    """The head without the header fields whose lowercase `name:` is in `names`."""
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [line for line in lines[1:] if not line.lower().startswith(names)]
    return b"\r\n".join(kept) + b"\r\n\r\n"


def _with_connection_close(head: bytes) -> bytes:
    """The head with its Connection header replaced by `close`."""
    stripped = _without_fields(head, (b"connection:", b"keep-alive:"))
    return stripped[:-2] + b"Connection: close\r\n\r\n"


def _recv_exactly(sock: socket.socket, count: int) -> None:
    while count > 0:
        chunk = sock.recv(min(_CHUNK, count))
        if not chunk:
            return
        count -= len(chunk)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset rather than an orderly shutdown."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _error_response(fault: str) -> bytes:
    status, reason, code, message = _ERROR_BODIES[fault]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>fault-proxy-{time.monotonic_ns()}</RequestId></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body
