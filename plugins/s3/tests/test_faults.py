"""The s3 driver under faults: the fault proxy between the driver and moto.

First the proxy itself (each fault, on a schedule), then the whole
conformance suite through it at a rate that makes retries happen on most
large operations. Every object the driver commits is read back past the
proxy and its sha256 compared with that of the bytes written; the last test
proves that faults of every kind were injected and that commits were
verified.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pytest

import regstore
from regstore import Buffer, FileInfo, FileWriter, StorageDriver
from regstore.testing import StorageDriverSuite
from regstore.testing.faults import FAULTS, FaultProxy

MIB = 1 << 20
FAULT_WEIGHTS = {
    "reset-request": 3.0,
    "reset-response": 3.0,
    "500": 2.0,
    "503": 2.0,
    "slowdown": 2.0,
    "stall": 0.4,
}
RATE = 0.15
STALL = 3.0
READ_TIMEOUT = 1.5

VERIFIED: Counter[str] = Counter()


# -- the proxy on its own --------------------------------------------------------


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "stall"])
def test_each_fault_is_retried_by_the_driver(
    fault: str, moto_server: Any, s3_params: dict[str, object]
) -> None:
    with FaultProxy(moto_server.endpoint, schedule=[fault, fault]) as proxy:
        driver = regstore.create("s3", dict(s3_params, regionendpoint=proxy.endpoint))
        payload = bytes(range(256)) * 4096  # 1 MiB
        driver.put_content("/p", payload)  # two faults, then through
        assert proxy.counts[fault] == 2
        assert proxy.requests == 3
        proxy.enabled = False
        assert driver.get_content("/p") == payload
        driver.delete("/p")


def test_stall_is_cut_by_the_read_timeout(moto_server: Any, s3_params: dict[str, object]) -> None:
    with FaultProxy(moto_server.endpoint, schedule=["stall"], stall_seconds=STALL) as proxy:
        driver = regstore.create(
            "s3", dict(s3_params, regionendpoint=proxy.endpoint, readtimeout=0.5)
        )
        driver.put_content("/s", b"after a stall")
        assert proxy.counts["stall"] == 1
        assert driver.get_content("/s") == b"after a stall"
        driver.delete("/s")


def test_download_cut_mid_body_resumes_by_range(
    moto_server: Any, s3_params: dict[str, object]
) -> None:
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB
    with FaultProxy(moto_server.endpoint) as proxy:
        driver = regstore.create("s3", dict(s3_params, regionendpoint=proxy.endpoint))
        driver.put_content("/big", data)
        proxy.reset_counts()
        proxy.schedule_next("reset-response", "reset-response")  # the GET, then its resume
        assert hashlib.sha256(driver.get_content("/big")).digest() == hashlib.sha256(data).digest()
        gets = [r for r in proxy.records if r.method == "GET"]
        assert len(gets) == 3
        assert proxy.counts["reset-response"] == 2
        proxy.enabled = False
        driver.delete("/big")


def test_listing_cut_mid_body_is_retried(moto_server: Any, s3_params: dict[str, object]) -> None:
    """botocore reads a listing's XML after its retry loop; the driver makes
    that read part of the attempt, so a cut listing is retried."""
    with FaultProxy(moto_server.endpoint) as proxy:
        driver = regstore.create("s3", dict(s3_params, regionendpoint=proxy.endpoint))
        driver.put_content("/dir/f", b"1")
        proxy.reset_counts()
        proxy.schedule_next("reset-response")
        assert driver.list("/dir") == ["/dir/f"]
        assert proxy.counts["reset-response"] == 1
        assert proxy.requests == 2
        driver.delete("/dir")


def test_proxy_refuses_non_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://192.0.2.1:80")
    with pytest.raises(ValueError, match="unknown faults"):
        FaultProxy("http://127.0.0.1:80", faults=["teapot"])


# -- the suite through the proxy -------------------------------------------------


class _HashedWriter(FileWriter):
    """Hashes what is written; on commit compares with the stored object."""

    def __init__(self, owner: _HashChecking, path: str, inner: FileWriter, state: Any) -> None:
        self._owner = owner
        self._path = path
        self._inner = inner
        self._hash = state

    @property
    def size(self) -> int:
        return self._inner.size

    def write(self, data: Buffer) -> int:
        n = self._inner.write(data)
        if self._hash is not None:
            self._hash.update(data)
        return n

    def close(self) -> None:
        self._inner.close()
        self._owner.closed[self._path] = (self.size, self._hash)

    def commit(self) -> None:
        self._inner.commit()
        self._owner.closed.pop(self._path, None)
        if self._hash is not None:
            self._owner.verify(self._path, self._hash.hexdigest())

    def cancel(self) -> None:
        self._inner.cancel()
        self._owner.closed.pop(self._path, None)


class _HashChecking(StorageDriver):
    """The s3 driver (behind the proxy) with every committed object's sha256
    checked against a read that bypasses the proxy."""

    def __init__(self, inner: Any, direct: Any) -> None:
        self._inner = inner
        self._direct = direct
        self.capabilities = inner.capabilities
        self.closed: dict[str, tuple[int, Any]] = {}

    def verify(self, path: str, expected: str) -> None:
        body = self._direct.get_object(
            Bucket=self._inner.settings.bucket, Key=self._inner.key(path)
        )
        actual = hashlib.sha256(body["Body"].read()).hexdigest()
        assert actual == expected, f"{path}: stored sha256 {actual} != written {expected}"
        VERIFIED["commits"] += 1

    def put_content(self, path: str, data: Buffer) -> None:
        self._inner.put_content(path, data)
        self.verify(path, hashlib.sha256(data).hexdigest())

    def writer(self, path: str, append: bool = False) -> FileWriter:
        inner = self._inner.writer(path, append=append)
        state: Any = hashlib.sha256()
        if append:
            size, known = self.closed.get(path, (-1, None))
            # Resumed after a close this instance saw: continue its hash.
            # Bytes from another process or instance are not known here.
            state = known.copy() if known is not None and size == inner.size else None
            if inner.size == 0:
                state = hashlib.sha256()
        return _HashedWriter(self, path, inner, state)

    def get_content(self, path: str) -> bytes:
        return bytes(self._inner.get_content(path))

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return self._inner.reader(path, offset)  # type: ignore[no-any-return]

    def stat(self, path: str) -> FileInfo:
        return self._inner.stat(path)  # type: ignore[no-any-return]

    def list(self, path: str) -> list[str]:
        return list(self._inner.list(path))

    def move(self, source: str, dest: str) -> None:
        self._inner.move(source, dest)

    def delete(self, path: str) -> None:
        self._inner.delete(path)

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return self._inner.redirect_url(path, method)  # type: ignore[no-any-return]

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        return self._inner.walk(path, start_after=start_after, prune=prune)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def fault_proxy(moto_server: Any) -> Iterator[FaultProxy]:
    """One proxy for the suite run, seeded so a failure reproduces."""
    with FaultProxy(
        moto_server.endpoint, rate=RATE, seed=20240607, faults=FAULT_WEIGHTS, stall_seconds=STALL
    ) as proxy:
        yield proxy


@pytest.mark.slow
class TestS3ConformanceUnderFaults(StorageDriverSuite):
    """The whole suite with faults on ~15% of requests."""

    driver_name = "s3"
    # The failure cases inject faults of their own on a driver with retries
    # off; stacked on this class's random faults they would fail on faults
    # nobody planned. TestS3Conformance runs them (both layers).
    fault_layers = ()

    @pytest.fixture
    def driver_base_params(
        self, s3_base_params: dict[str, object], fault_proxy: FaultProxy
    ) -> dict[str, object]:
        self._direct_endpoint = str(s3_base_params["regionendpoint"])
        return dict(
            s3_base_params,
            regionendpoint=fault_proxy.endpoint,
            readtimeout=READ_TIMEOUT,
            maxattempts=12,
            # Redirect URLs are fetched by the suite's plain HTTP client,
            # which has no retries: sign them for the store itself.
            redirectendpoint=self._direct_endpoint,
        )

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        managed: Any = regstore.create("s3", params)
        direct: Any = regstore.create("s3", dict(params, regionendpoint=self._direct_endpoint))
        return _HashChecking(managed.inner, direct.inner.client)


def test_faults_were_injected_and_commits_verified(fault_proxy: FaultProxy) -> None:
    """Runs after the suite class: it really ran under faults."""
    for fault in FAULTS:
        assert fault_proxy.counts[fault] > 0, dict(fault_proxy.counts)
    assert fault_proxy.faults_injected > 100, dict(fault_proxy.counts)
    assert VERIFIED["commits"] > 50, VERIFIED


# -- the reader ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "500", "reset-response"])
def test_reader_far_past_the_end_is_an_empty_stream(
    fault: str | None, moto_server: Any, s3_params: dict[str, object]
) -> None:
    with FaultProxy(moto_server.endpoint) as proxy:
        driver = regstore.create("s3", dict(s3_params, regionendpoint=proxy.endpoint))
        driver.put_content("/small", b"0123456789")
        driver.put_content("/empty", b"")
        for path in ("/small", "/empty"):
            for offset in (10, 11, 2**62, 2**64):
                proxy.schedule_next(fault)
                with driver.reader(path, offset) as stream:
                    assert stream.read() == b"", (path, offset)
        for offset in (0, 2**62):
            with pytest.raises(regstore.PathNotFoundError):
                driver.reader("/absent", offset)
        driver.delete("/small")
        driver.delete("/empty")


def test_reader_resumed_after_a_cut_never_mixes_two_versions(
    moto_server: Any, s3_params: dict[str, object]
) -> None:
    """The response is cut mid-body; meanwhile the object is replaced by
    new content of the same size. The rest of the read must come from the
    old version or fail, never from the new one."""
    size = 6 * MIB
    old, new = b"o" * size, b"n" * size
    with FaultProxy(moto_server.endpoint) as proxy:
        driver = regstore.create("s3", dict(s3_params, regionendpoint=proxy.endpoint))
        direct = regstore.create("s3", s3_params)
        direct.put_content("/v", old)
        proxy.schedule_next("reset-response")  # the reader's GET: cut halfway
        stream = driver.reader("/v")
        first = stream.read(MIB)
        assert first == old[:MIB]
        direct.put_content("/v", new)
        failure = ""
        try:
            rest = stream.read()
        except regstore.StorageDriverError as err:
            failure = str(err)
        finally:
            stream.close()
        if failure:
            assert "changed" in failure
        else:
            assert first + rest == old, "the read mixed two versions"
        assert proxy.counts["reset-response"] == 1
        resumed = [r for r in proxy.records if r.method == "GET"][1:]
        assert resumed, "the reader never resumed"
        direct.delete("/v")
