"""inmemory-specific behaviour the shared suite does not pin: one instance
shared by many writer threads stays consistent."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import regstore
from regstore import StorageDriver, StorageDriverError, UploadInUseError, WriterFailedError
from regstore.testing import Payload


@pytest.fixture
def driver() -> StorageDriver:
    return regstore.create("inmemory")


def test_concurrent_writers_on_distinct_paths(driver: StorageDriver) -> None:
    """16 threads each stream an upload in many small writes, closing and
    resuming halfway; every object comes out byte-exact."""

    def upload(i: int) -> None:
        payload = Payload(f"writer-{i}", 200_000 + i)
        path = f"/threads/{i % 4}/{i}"
        writer = driver.writer(path)
        payload.write_to(writer, 0, 100_000, piece=4096)
        writer.close()
        writer = driver.writer(path, append=True)
        assert writer.size == 100_000
        payload.write_to(writer, 100_000, piece=4096)
        writer.commit()
        assert driver.get_content(path) == payload.read()

    with ThreadPoolExecutor(max_workers=16) as pool:
        for future in [pool.submit(upload, i) for i in range(16)]:
            future.result()
    assert driver.list("/threads") == [f"/threads/{k}" for k in range(4)]
    assert sum(len(driver.list(f"/threads/{k}")) for k in range(4)) == 16


def test_concurrent_puts_to_one_path_are_atomic(driver: StorageDriver) -> None:
    versions = [bytes([i]) * (50_000 + i) for i in range(8)]
    stop = threading.Event()
    torn: list[int] = []

    def read() -> None:
        while not stop.is_set():
            data = driver.get_content("/shared")
            if data not in versions:
                torn.append(len(data))

    driver.put_content("/shared", versions[0])
    reader = threading.Thread(target=read)
    reader.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):
            list(pool.map(lambda v: driver.put_content("/shared", v), versions))
    stop.set()
    reader.join()
    assert not torn
    assert driver.get_content("/shared") in versions


def test_newer_writer_replaces_an_open_upload(driver: StorageDriver) -> None:
    """Two writers on one path: the newer upload wins, the older one can no
    longer write or commit (it would publish bytes nobody resumed)."""
    older = driver.writer("/contended")
    older.write(b"old")
    newer = driver.writer("/contended")
    newer.write(b"new")
    with pytest.raises(StorageDriverError, match="newer writer"):
        older.commit()
    with pytest.raises(StorageDriverError, match="newer writer"):
        older.write(b"more")
    # A failed write finishes the writer for commit too.
    with pytest.raises(WriterFailedError):
        older.commit()
    newer.commit()
    assert driver.get_content("/contended") == b"new"


def test_second_resumer_is_refused(driver: StorageDriver) -> None:
    """Two resumers of one upload would interleave their bytes: the second
    is refused while the first holds it, and may resume once it is closed
    or dropped (as a crashed writer is)."""
    writer = driver.writer("/resumed")
    writer.write(b"first")
    writer.close()
    holder = driver.writer("/resumed", append=True)
    with pytest.raises(UploadInUseError, match="in use"):
        driver.writer("/resumed", append=True)
    holder.write(b"-kept")
    holder.close()
    again = driver.writer("/resumed", append=True)
    assert again.size == len(b"first-kept")
    again.write(b"-lost")
    del again  # dropped without close: the hold goes with it
    last = driver.writer("/resumed", append=True)
    assert last.size == len(b"first-kept")
    last.commit()
    assert driver.get_content("/resumed") == b"first-kept"


def test_instances_do_not_share_a_store() -> None:
    first = regstore.create("inmemory")
    first.put_content("/only/here", b"x")
    assert regstore.create("inmemory").list("/") == []
    assert not first.capabilities.persistent
