"""Requests per operation, counted by a fault proxy that injects nothing
(it records every request it forwards)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import regstore
from regstore.testing.faults import FaultProxy, RequestRecord

COUNT = 2500
Proxied = Callable[..., dict[str, object]]


@pytest.fixture
def proxy(azurite: Any) -> Iterator[FaultProxy]:
    with FaultProxy(azurite.endpoint) as counting:
        yield counting


def _listings(records: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.method == "GET" and r.query.get("comp") == "list"]


def _batches(records: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.method == "POST" and r.query.get("comp") == "batch"]


def test_stat_and_small_put_are_one_request_each(
    proxy: FaultProxy, azure_params: dict[str, object], proxied: Proxied
) -> None:
    driver = regstore.create("azure", proxied(azure_params, proxy))
    proxy.reset_counts()
    driver.put_content("/dir/blob", b"k" * 1024)
    assert [(r.method, r.query.get("comp")) for r in proxy.records] == [("PUT", None)]
    proxy.reset_counts()
    info = driver.stat("/dir/blob")
    assert info.size == 1024
    assert not info.is_dir
    assert [r.method for r in proxy.records] == ["HEAD"]
    proxy.reset_counts()
    assert driver.stat("/dir").is_dir
    assert len(proxy.records) == 2  # HEAD (no blob), one listing of dir/
    assert proxy.records[1].query.get("maxresults") == "1"
    driver.delete("/dir")


@pytest.mark.slow
def test_walk_and_delete_of_2500_blobs(
    proxy: FaultProxy, azure_params: dict[str, object], blobs: Any, proxied: Proxied
) -> None:
    root = str(azure_params["rootdirectory"])
    names = [f"{root}/many/d{i % 7}/blob-{i:05d}" for i in range(COUNT)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: blobs.upload_blob(n, b"x", overwrite=True), names))
    driver = regstore.create("azure", proxied(azure_params, proxy))

    proxy.reset_counts()
    walked = [info for info in driver.walk("/many") if not info.is_dir]
    assert len(walked) == COUNT
    assert len(_listings(proxy.records)) <= 2, len(_listings(proxy.records))
    assert len(proxy.records) == len(_listings(proxy.records))

    proxy.reset_counts()
    driver.delete("/many")
    listings, batches = _listings(proxy.records), _batches(proxy.records)
    assert len(listings) <= 2, len(listings)
    assert len(batches) <= 10, len(batches)
    assert len(proxy.records) == len(listings) + len(batches)
    assert list(blobs.list_blob_names(name_starts_with=f"{root}/many/")) == []
