"""The gcs driver under faults: the fault proxy between the driver and
fake-gcs-server.

First single faults on a schedule, then the whole conformance suite through
the proxy at a rate that makes retries happen on most large operations.
Every object the driver commits is read back past the proxy and its sha256
compared with that of the bytes written; the last test proves that faults
of every kind were injected and that commits were verified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pytest

import regstore
from regstore import Buffer, FileInfo, FileWriter, StorageDriver, UploadInfo
from regstore.testing import StorageDriverSuite
from regstore.testing.faults import FaultProxy

KIB = 1 << 10
#: No stalls: the library's timeout is per call; a stall only costs time.
FAULT_WEIGHTS = {
    "reset-request": 3.0,
    "reset-response": 3.0,
    "500": 2.0,
    "503": 2.0,
    "slowdown": 1.0,
}
RATE = 0.15
#: Enough retries that a request fails only after several faults in a row.
RETRY_TIMEOUT = 10

BUCKET_METADATA_ENV = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"

VERIFIED: Counter[str] = Counter()


# -- single faults ----------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset-request", "reset-response", "500", "503"])
def test_each_fault_is_retried_by_the_library(
    fault: str, gcs_server: Any, gcs_params: dict[str, object]
) -> None:
    with FaultProxy(gcs_server.endpoint, schedule=[fault, fault]) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint))
        payload = bytes(range(256)) * 4096  # 1 MiB
        driver.put_content("/p", payload)  # two faults, then through
        assert proxy.counts[fault] == 2
        assert driver.get_content("/p") == payload
        with driver.reader("/p", 1000) as stream:
            assert stream.read() == payload[1000:]
        driver.delete("/p")


@pytest.mark.parametrize("fault", ["reset-response", "500"])
def test_a_cut_or_failed_error_reply_keeps_not_found(
    fault: str, gcs_server: Any, gcs_params: dict[str, object]
) -> None:
    """The library reads an error reply's body after its retries: a cut
    there must still read as "not found", not as a broken connection."""
    with FaultProxy(gcs_server.endpoint) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint))
        for call in (
            lambda: driver.get_content("/absent"),
            lambda: driver.reader("/absent"),
            lambda: driver.writer("/absent", append=True),
        ):
            proxy.schedule_next(fault)
            with pytest.raises(regstore.PathNotFoundError):
                call()
        assert proxy.counts[fault] == 3


def test_a_failed_delete_after_a_move_is_an_error(
    gcs_server: Any, gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """upstream logs and forgets it; here the move raises and the source
    stays (the copy is in place: nothing is lost)."""
    monkeypatch.setenv(BUCKET_METADATA_ENV, "true")  # the schedule counts requests
    with FaultProxy(gcs_server.endpoint) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint, retrytimeout=0))
        driver.put_content("/src", b"moved")
        proxy.reset_counts()
        proxy.schedule_next(None, None, "500")  # metadata GET, rewrite, then the DELETE
        with pytest.raises(regstore.StorageDriverError, match="delete failed"):
            driver.move("/src", "/dst")
        assert [r.method for r in proxy.records][:3] == ["GET", "POST", "DELETE"], [
            (r.method, r.target) for r in proxy.records
        ]
        assert driver.get_content("/dst") == b"moved"
        assert driver.get_content("/src") == b"moved"
        driver.delete("/src")
        driver.delete("/dst")


def test_delete_failures_are_reported(
    gcs_server: Any, gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BUCKET_METADATA_ENV, "true")  # the schedule counts requests
    with FaultProxy(gcs_server.endpoint) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint, retrytimeout=0))
        for i in range(3):
            driver.put_content(f"/d/{i}", b"x")
        proxy.reset_counts()
        # The listing, then every DELETE fails.
        proxy.schedule_next(None, "500", "500", "500")
        with pytest.raises(regstore.StorageDriverError, match="delete failed for 3 objects"):
            driver.delete("/d")
        proxy.enabled = False
        assert driver.list("/d") == ["/d/0", "/d/1", "/d/2"]
        driver.delete("/d")


# -- the suite through the proxy ------------------------------------------------------


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
    """The gcs driver (behind the proxy) with every committed object's
    sha256 checked against a read past the proxy. Redirect URLs are made for
    the emulator itself: the suite fetches them with plain urllib, which has
    no retries (s3 does this with `redirectendpoint`)."""

    def __init__(self, inner: Any, direct: Any, proxy_base: str, direct_base: str) -> None:
        self._inner = inner
        self._direct = direct
        self._proxy_base = proxy_base
        self._direct_base = direct_base
        self.capabilities = inner.capabilities
        self.closed: dict[str, tuple[int, Any]] = {}

    def verify(self, path: str, expected: str) -> None:
        actual = hashlib.sha256(self._direct.get_content(path)).hexdigest()
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
        url = self._inner.redirect_url(path, method)
        if url is None:
            return None
        # Only the host differs: the V4 signature covers the host header,
        # and fake-gcs-server does not check it.
        assert str(url).startswith(self._proxy_base)
        return self._direct_base + str(url)[len(self._proxy_base) :]

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        return self._inner.walk(path, start_after=start_after, prune=prune)  # type: ignore[no-any-return]

    def list_uploads(self) -> Iterator[UploadInfo]:
        return self._inner.list_uploads()  # type: ignore[no-any-return]

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        return int(
            self._inner.purge_uploads(older_than, include_foreign=include_foreign, dry_run=dry_run)
        )


@pytest.fixture(scope="module")
def fault_proxy(gcs_server: Any) -> Iterator[FaultProxy]:
    """One proxy for the suite run, seeded so a failure reproduces."""
    with FaultProxy(gcs_server.endpoint, rate=RATE, seed=20261129, faults=FAULT_WEIGHTS) as proxy:
        yield proxy


class TestGCSConformanceUnderFaults(StorageDriverSuite):
    """The whole suite with faults on ~15% of requests."""

    driver_name = "gcs"
    # The failure cases inject faults of their own on a driver with retries
    # off; stacked on this class's random faults they would fail on faults
    # nobody planned. TestGCSConformance runs them (both layers).
    fault_layers = ()

    @pytest.fixture
    def driver_base_params(
        self, gcs_base_params: dict[str, object], fault_proxy: FaultProxy
    ) -> dict[str, object]:
        self._direct_endpoint = str(gcs_base_params["endpoint"])
        return dict(gcs_base_params, endpoint=fault_proxy.endpoint, retrytimeout=RETRY_TIMEOUT)

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        managed: Any = regstore.create("gcs", params)
        # The library's policy waits about a second before its first retry
        # and doubles that; a loopback emulator needs far less, and ~15% of
        # requests fail here. Only the waits change, not what is retried.
        managed.inner.retry = managed.inner.retry.with_delay(
            initial=0.02, maximum=0.5, multiplier=2.0
        )
        direct = regstore.create("gcs", dict(params, endpoint=self._direct_endpoint))
        proxy_base = _base(str(params["endpoint"]))
        return _HashChecking(managed.inner, direct, proxy_base, _base(self._direct_endpoint))


def _base(endpoint: str) -> str:
    parts = urllib.parse.urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def test_faults_were_injected_and_commits_verified(fault_proxy: FaultProxy) -> None:
    """Runs after the suite class: it really ran under faults."""
    for fault in FAULT_WEIGHTS:
        assert fault_proxy.counts[fault] > 0, dict(fault_proxy.counts)
    assert fault_proxy.faults_injected > 100, dict(fault_proxy.counts)
    assert VERIFIED["commits"] > 50, VERIFIED


# -- the reader ---------------------------------------------------------------------


def test_download_cut_mid_body_resumes_by_range(
    gcs_server: Any, gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BUCKET_METADATA_ENV, "true")  # the schedule counts requests
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB
    with FaultProxy(gcs_server.endpoint) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint))
        driver.put_content("/big", data)
        proxy.reset_counts()
        proxy.schedule_next("reset-response", "reset-response")  # the GET, then its resume
        with driver.reader("/big") as stream:
            got = stream.read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        gets = [r for r in proxy.records if r.method == "GET"]
        assert len(gets) == 3
        assert proxy.counts["reset-response"] == 2
        generations = {r.query.get("generation") for r in gets[1:]}
        assert len(generations) == 1
        assert None not in generations, "the resumed ranges are not pinned"
        driver.delete("/big")


def test_reader_resumed_after_a_cut_never_mixes_two_versions(
    gcs_server: Any, gcs_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The response is cut mid-body; meanwhile the object is replaced by
    new content of the same size. The rest of the read must come from the
    old version or fail, never from the new one."""
    monkeypatch.setenv(BUCKET_METADATA_ENV, "true")
    size = 6 << 20
    old, new = b"o" * size, b"n" * size
    with FaultProxy(gcs_server.endpoint) as proxy:
        driver = regstore.create("gcs", dict(gcs_params, endpoint=proxy.endpoint))
        direct = regstore.create("gcs", gcs_params)
        direct.put_content("/v", old)
        proxy.schedule_next("reset-response")  # the reader's GET: cut halfway
        stream = driver.reader("/v")
        first = stream.read(1 << 20)
        assert first == old[: 1 << 20]
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
        direct.delete("/v")
