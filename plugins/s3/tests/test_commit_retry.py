"""A failed commit or close must change nothing a retry needs.

With `maxattempts=1` botocore does not retry, so one faulted request (the
fault proxy's schedule picks which) makes `commit()` or `close()` raise.
The caller then retries, as core's writer policy allows: every commit that
returns must have published exactly the bytes written (compared by sha256),
and after a failure the path must hold its old content, or, when the fault
only cut the reply of a request the store carried out (reset-response),
exactly the new bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

import regstore
from regstore import StorageDriver, StorageDriverError
from regstore.testing.faults import FaultProxy
from regstore_s3.writer import S3Writer

MIB = 1 << 20
PART = 5 * MIB
OLD = b"old content of the path"
FAULTS = ("500", "reset-request", "reset-response")


@pytest.fixture
def proxy(moto_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint) as running:
        yield running


@pytest.fixture
def faulty(s3_params: dict[str, object], proxy: FaultProxy) -> StorageDriver:
    """The driver behind the proxy, without botocore's retries, one part in
    flight at a time (so the order of requests is known)."""
    return regstore.create(
        "s3",
        dict(s3_params, regionendpoint=proxy.endpoint, maxattempts=1, uploadconcurrency=1),
    )


@pytest.fixture
def direct(s3_params: dict[str, object]) -> StorageDriver:
    """The same store, past the proxy: to set up and to check."""
    return regstore.create("s3", s3_params)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _content(driver: StorageDriver, path: str) -> bytes | None:
    try:
        return driver.get_content(path)
    except regstore.PathNotFoundError:
        return None


def _settle(writer: Any) -> None:
    """Wait until the parts in flight are sent, so the next scheduled fault
    hits the request the test means."""
    inner = writer._inner
    assert isinstance(inner, S3Writer)
    for future in list(inner._pending):
        future.exception()


def _check_after_failure(direct: StorageDriver, path: str, data: bytes, fault: str) -> None:
    """The old content, or (only for a lost reply) exactly the new bytes."""
    held = _content(direct, path)
    allowed = {_sha(OLD)} | ({_sha(data)} if fault == "reset-response" else set())
    assert held is not None
    assert _sha(held) in allowed, f"after a failed commit {path} holds {len(held)} bytes"


def _commit_until_done(writer: Any, attempts: int = 3) -> None:
    for attempt in range(attempts):
        try:
            writer.commit()
            return
        except StorageDriverError:
            if attempt == attempts - 1:
                raise


#: where the fault hits: (bytes written, which request of commit() fails)
COMMIT_CASES = {
    # commit of a small upload: its PutObject is the first request
    "put": (1000, 1),
    # commit of parts + a short tail: the tail's UploadPart, then Complete
    "tail": (PART + 1000, 1),
    "complete": (PART + 1000, 2),
    # exactly two parts, no tail: Complete is the first request
    "complete-no-tail": (2 * PART, 1),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("where", list(COMMIT_CASES))
def test_retried_commit_publishes_exactly_the_bytes_written(
    fault: str, where: str, faulty: StorageDriver, direct: StorageDriver, proxy: FaultProxy
) -> None:
    size, schedule = COMMIT_CASES[where]
    path = f"/retry/{where}"
    data = os.urandom(size)
    direct.put_content(path, OLD)
    writer = faulty.writer(path)
    writer.write(data)
    _settle(writer)
    proxy.schedule_next(*([None] * (schedule - 1)), fault)
    with pytest.raises(StorageDriverError):
        writer.commit()
    assert proxy.counts[fault] == 1
    _check_after_failure(direct, path, data, fault)
    assert writer.size == size
    _commit_until_done(writer)
    held = _content(direct, path)
    assert held is not None
    assert (len(held), _sha(held)) == (size, _sha(data))
    direct.delete("/retry")


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("size", [1000, PART + 1000])
def test_commit_after_a_failed_close_publishes_everything(
    fault: str, size: int, faulty: StorageDriver, direct: StorageDriver, proxy: FaultProxy
) -> None:
    """close() writes the record (one PutObject) after the parts are sent;
    when that fails, the writer keeps its tail for a retried close or a
    commit."""
    path = "/closing/blob"
    data = os.urandom(size)
    direct.put_content(path, OLD)
    writer = faulty.writer(path)
    writer.write(data)
    _settle(writer)
    proxy.schedule_next(fault)
    with pytest.raises(StorageDriverError):
        writer.close()
    assert direct.get_content(path) == OLD
    assert writer.size == size
    _commit_until_done(writer)
    assert _sha(direct.get_content(path)) == _sha(data)
    direct.delete("/closing")


@pytest.mark.parametrize("fault", FAULTS)
def test_retried_close_then_resume_has_the_true_size(
    fault: str, faulty: StorageDriver, direct: StorageDriver, proxy: FaultProxy
) -> None:
    path = "/reclose"
    data = os.urandom(PART + 1000)
    writer = faulty.writer(path)
    writer.write(data)
    _settle(writer)
    proxy.schedule_next(fault)
    with pytest.raises(StorageDriverError):
        writer.close()
    writer.close()
    resumed = direct.writer(path, append=True)
    assert resumed.size == len(data)
    resumed.commit()
    assert _sha(direct.get_content(path)) == _sha(data)
    direct.delete(path)


def _write_until_failure(writer: Any, data: bytes, block: int = MIB) -> bool:
    """Write `data` in blocks; stop at the first write that raises."""
    for start in range(0, len(data), block):
        try:
            writer.write(data[start : start + block])
        except StorageDriverError:
            return True
    return False


@pytest.mark.parametrize("fault", FAULTS)
def test_close_after_a_failed_part_upload_persists_what_was_accepted(
    fault: str, faulty: StorageDriver, direct: StorageDriver, proxy: FaultProxy
) -> None:
    """Part 2 of 4 fails in the background; a later write reports it. close()
    re-sends the kept part and records exactly the bytes accepted, so a
    resume's size is the truth and the finished object is exact."""
    path = "/background/close"
    data = os.urandom(4 * PART + 1000)
    writer = faulty.writer(path)
    # CreateMultipartUpload, UploadPart 1, UploadPart 2 (faulted).
    proxy.schedule_next(None, None, fault)
    assert _write_until_failure(writer, data), "the failed part was never reported"
    accepted = writer.size
    assert 2 * PART <= accepted < len(data)
    writer.close()
    resumed = direct.writer(path, append=True)
    assert resumed.size == accepted
    resumed.write(data[accepted:])
    resumed.commit()
    assert _sha(direct.get_content(path)) == _sha(data)
    direct.delete(path)


@pytest.mark.parametrize("fault", FAULTS)
def test_commit_resends_a_part_that_failed_after_the_last_write(
    fault: str, faulty: StorageDriver, direct: StorageDriver, proxy: FaultProxy
) -> None:
    """The last full part fails in the background after write() returned:
    commit sends it again (same part number) instead of losing it."""
    path = "/background/commit"
    data = os.urandom(2 * PART + 1000)
    direct.put_content(path, OLD)
    writer = faulty.writer(path)
    proxy.schedule_next(None, None, fault)  # Create, UploadPart 1, UploadPart 2
    writer.write(data)
    _settle(writer)
    assert proxy.counts[fault] == 1
    _commit_until_done(writer)
    assert _sha(direct.get_content(path)) == _sha(data)
    direct.delete(path)


def test_failed_part_upload_is_not_recorded_by_a_failing_close(
    faulty: StorageDriver, direct: StorageDriver, proxy: FaultProxy
) -> None:
    """When re-sending the failed part fails again, close() raises and the
    record keeps the last state that was really durable."""
    path = "/background/twice"
    data = os.urandom(2 * PART + 1000)
    writer = faulty.writer(path)
    proxy.schedule_next(None, None, "500")
    writer.write(data)
    _settle(writer)
    proxy.schedule_next("500")  # the re-sent part 2
    with pytest.raises(StorageDriverError):
        writer.close()
    resumed = direct.writer(path, append=True)
    assert resumed.size == 0  # the record of writer(): nothing closed yet
    resumed.cancel()
