"""The azure driver under faults: the fault proxy between the driver and
Azurite.

First single faults on a schedule (each retried by the SDK's policy; a Put
Block whose reply is lost is staged again under the same id, so no byte is
duplicated), then the whole conformance suite through the proxy at a rate
that makes retries happen on most large operations. Every object the driver
commits is read back past the proxy and its sha256 compared with that of the
bytes written; the last test proves that faults of every kind were injected
and that commits were verified.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pytest

import regstore
from regstore import Buffer, FileInfo, FileWriter, StorageDriver
from regstore.testing import ForwardingWriter, StorageDriverSuite
from regstore.testing.faults import FaultProxy

MIB = 1 << 20
#: The faults an Azure client meets (no S3 "slowdown"; a stall is cut by
#: the SDK's read timeout, which is minutes: left out to keep the run short).
KINDS = ("reset-request", "reset-response", "500", "503")
FAULT_WEIGHTS = {"reset-request": 3.0, "reset-response": 3.0, "500": 2.0, "503": 2.0}
RATE = 0.12

VERIFIED: Counter[str] = Counter()
Proxied = Callable[..., dict[str, object]]


# -- single faults ---------------------------------------------------------------


@pytest.mark.parametrize("fault", KINDS)
def test_each_fault_is_retried(
    fault: str, azurite: Any, azure_params: dict[str, object], proxied: Proxied
) -> None:
    with FaultProxy(azurite.endpoint, schedule=[fault, fault]) as proxy:
        driver = regstore.create("azure", proxied(azure_params, proxy))
        payload = bytes(range(256)) * 4096  # 1 MiB
        driver.put_content("/p", payload)  # two faults, then through
        assert proxy.counts[fault] == 2
        assert proxy.requests == 3
        proxy.enabled = False
        assert driver.get_content("/p") == payload
        driver.delete("/p")


def test_put_block_with_lost_reply_is_staged_once(
    azurite: Any, azure_params: dict[str, object], blobs: Any, proxied: Proxied
) -> None:
    """Put Block reaches Azurite, its reply is cut; the SDK sends it again
    under the same block id, which replaces the block: the committed blob
    has each block once and exactly the bytes written."""
    data = bytes(range(256)) * 4096 * 3  # 3 MiB: three 1 MiB blocks
    with FaultProxy(azurite.endpoint) as proxy:
        driver = regstore.create(
            "azure", proxied(azure_params, proxy, uploadconcurrency=1, requestretries=3)
        )
        writer = driver.writer("/staged")
        proxy.reset_counts()
        proxy.schedule_next("reset-response")  # the first Put Block: done, reply lost
        writer.write(data[: 2 * MIB])
        writer.write(data[2 * MIB :])
        writer.commit()
        puts = [r for r in proxy.records if r.query.get("comp") == "block"]
        assert puts[0].fault == "reset-response"
        assert len(puts) == 4, [(r.query.get("blockid"), r.fault) for r in puts]
        assert puts[0].query["blockid"] == puts[1].query["blockid"]  # the same id again
    key = f"{azure_params['rootdirectory']}/staged"
    committed, _ = blobs.get_blob_client(key).get_block_list("committed")
    assert [b.size for b in committed] == [MIB, MIB, MIB]
    assert len({b.id for b in committed}) == 3
    assert hashlib.sha256(blobs.download_blob(key).readall()).digest() == (
        hashlib.sha256(data).digest()
    )
    regstore.create("azure", azure_params).delete("/staged")


def test_commit_with_lost_reply_is_retried_exactly(
    azurite: Any, azure_params: dict[str, object], proxied: Proxied
) -> None:
    """Put Block List goes through, its reply is lost and the SDK's retries
    are off: the commit fails; committing again finds the blocks committed
    (BlockState.LATEST) and publishes the same bytes."""
    data = bytes(range(256)) * 4096 * 2 + b"tail"
    with FaultProxy(azurite.endpoint) as proxy:
        driver = regstore.create("azure", proxied(azure_params, proxy, requestretries=0))
        writer = driver.writer("/c")
        writer.write(data)
        writer.close()
        writer = driver.writer("/c", append=True)
        proxy.reset_counts()
        # HEAD of the record (check_publish), Put Block of the tail, then
        # the Put Block List: done, reply lost.
        proxy.schedule_next(None, None, "reset-response")
        with pytest.raises(regstore.StorageDriverError):
            writer.commit()
        assert proxy.records[2].query.get("comp") == "blocklist"
        writer.commit()
        assert driver.get_content("/c") == data
        driver.delete("/c")


def test_proxy_keeps_the_account_path(azurite: Any, azure_params: dict[str, object]) -> None:
    """The suite's failure layer points `serviceurl` at the proxy, keeping
    Azurite's path-style account segment."""
    from regstore.testing.injection import ProxyFaults

    faults = ProxyFaults("serviceurl", str(azure_params["serviceurl"]))
    params = faults.params(dict(azure_params))
    assert str(params["serviceurl"]).startswith(faults.proxy.endpoint)
    assert str(params["serviceurl"]).endswith("/devstoreaccount1")


# -- the suite through the proxy -------------------------------------------------


class _HashedWriter(ForwardingWriter):
    """Hashes what is written; on commit compares with the stored blob."""

    def __init__(self, owner: _HashChecking, path: str, inner: FileWriter, state: Any) -> None:
        super().__init__(inner)
        self._owner = owner
        self._path = path
        self._hash = state

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
    """The azure driver (behind the proxy) with every committed blob's
    sha256 checked against a read that bypasses the proxy; redirect URLs
    are given for Azurite itself (the suite fetches them with plain urllib,
    which has no retries; a SAS does not sign the host)."""

    def __init__(self, inner: Any, direct: Any, proxy_url: str, direct_url: str) -> None:
        self._inner = inner
        self._direct = direct
        self._proxy_url = proxy_url
        self._direct_url = direct_url
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
            # Resumed after a close this instance saw: continue its hash.
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
        return None if url is None else str(url).replace(self._proxy_url, self._direct_url, 1)

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        return self._inner.walk(path, start_after=start_after, prune=prune)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def fault_proxy(azurite: Any) -> Iterator[FaultProxy]:
    """One proxy for the suite run, seeded so a failure reproduces."""
    with FaultProxy(azurite.endpoint, rate=RATE, seed=20261129, faults=FAULT_WEIGHTS) as proxy:
        yield proxy


@pytest.mark.slow
class TestAzureConformanceUnderFaults(StorageDriverSuite):
    """The whole suite with faults on ~12% of requests."""

    driver_name = "azure"
    # The failure cases inject faults of their own on a driver with retries
    # off; stacked on this class's random faults they would fail on faults
    # nobody planned. TestAzureConformance runs them (both layers).
    fault_layers = ()

    @pytest.fixture
    def driver_base_params(
        self, azure_base_params: dict[str, object], fault_proxy: FaultProxy, proxied: Proxied
    ) -> dict[str, object]:
        self._direct_url = str(azure_base_params["serviceurl"])
        return proxied(azure_base_params, fault_proxy, requestretries=10)

    def make_driver(self, params: dict[str, object]) -> StorageDriver:
        managed: Any = regstore.create("azure", params)
        direct: Any = regstore.create("azure", dict(params, serviceurl=self._direct_url))
        return _HashChecking(managed.inner, direct, str(params["serviceurl"]), self._direct_url)


def test_faults_were_injected_and_commits_verified(fault_proxy: FaultProxy) -> None:
    """Runs after the suite class: it really ran under faults."""
    for fault in KINDS:
        assert fault_proxy.counts[fault] > 0, dict(fault_proxy.counts)
    assert fault_proxy.faults_injected > 100, dict(fault_proxy.counts)
    assert VERIFIED["commits"] > 50, VERIFIED
