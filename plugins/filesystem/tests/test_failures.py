"""A full disk, failed writeback and short writes: no accepted byte is lost
or duplicated, and a failure never publishes a partial upload.

`OSFaults` swaps the `os` name of the driver's modules (`SPEC.fault_modules`)
so each storage-changing call can fail in turn; the real-kernel test makes
the writes fail with EFBIG through RLIMIT_FSIZE in a child process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import regstore
from regstore import FileWriter, StorageDriver, StorageDriverError
from regstore.testing.injection import OSFaults
from regstore_filesystem.plugin import SPEC

PATH = "/blobs/upload"
OLD = b"old content" * 10
#: Buffered writes, one straight-through write larger than the write
#: buffer, and an odd tail: every route a byte can take to the disk.
CHUNKS = (1000, 7192, 50_000, 300_000, 1, 8192, 33_333)
PAYLOAD = hashlib.shake_256(b"failures").digest(sum(CHUNKS))
#: After how many chunks the first session closes (a session boundary).
CLOSE_AFTER = 3


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def faults() -> Iterator[OSFaults]:
    injector = OSFaults(SPEC.fault_modules)
    injector.install()
    try:
        yield injector
    finally:
        injector.disarm()
        injector.uninstall()


def test_fault_modules_cover_every_storage_change(faults: OSFaults, root: Path) -> None:
    """With every step failing, nothing at all is changed on disk: no
    storage change escapes the injector."""
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    faults.fail_after(0, "enospc")
    with pytest.raises(StorageDriverError):
        driver.put_content("/a/b", b"x")
    with pytest.raises(StorageDriverError):
        driver.writer("/a/c")
    assert faults.injected >= 2
    assert not root.exists()


def _upload_with_faults(
    driver: StorageDriver, faults: OSFaults, steps: int, kind: str
) -> tuple[bool, str]:
    """Upload PAYLOAD to PATH in two sessions with faults after `steps`
    storage steps; on each failure disarm and carry on as a registry and
    its client would: retry a failed close or commit; after a failed write,
    close, resume at the writer's size and send the rest from there; when a
    retry fails too (the data could not be made durable), drop the writer
    and resume from the last close (or start over without one). Returns
    whether a fault was injected and a description of what happened."""
    faults.fail_after(steps, kind)
    events: list[str] = []
    closed: int | None = None  # bytes persisted by the last successful close()
    sent = 0

    def failed(what: str, err: Exception) -> None:
        events.append(f"{what} failed at {sent}: {err}")
        faults.disarm()

    def reopen() -> FileWriter:
        """A writer continuing the upload after the last one was dropped,
        caught up with what the client sent."""
        if closed is None:
            fresh = driver.writer(PATH)
        else:
            fresh = driver.writer(PATH, append=True)
            assert fresh.size == closed, (fresh.size, closed, events)
        fresh.write(PAYLOAD[fresh.size : sent])
        return fresh

    def resume(expect: int) -> FileWriter:
        """Resume (retried once after a fault), checking the size."""
        try:
            resumed = driver.writer(PATH, append=True)
        except StorageDriverError as err:
            failed("resume", err)
            resumed = driver.writer(PATH, append=True)
        assert resumed.size == expect, (resumed.size, expect, events)
        return resumed

    def finish(writer: FileWriter, name: str) -> FileWriter | None:
        """Close or commit `writer`, retrying once; None when it worked,
        else the writer to carry on with."""
        for attempt in range(2):
            try:
                getattr(writer, name)()
                return None
            except StorageDriverError as err:
                failed(f"{name} #{attempt}", err)
                content = _content(driver)
                assert content in (None, OLD, PAYLOAD), f"a failed {name} published a mix"
        with contextlib.suppress(StorageDriverError):
            writer.close()
        del writer
        return reopen()

    try:
        writer = driver.writer(PATH)
    except StorageDriverError as err:
        failed("open", err)
        writer = driver.writer(PATH)
    for index, length in enumerate(CHUNKS):
        if index == CLOSE_AFTER:
            carry_on = finish(writer, "close")
            if carry_on is None:
                closed = sent
                writer = resume(closed)
            else:
                writer = carry_on
        try:
            writer.write(PAYLOAD[sent : sent + length])
        except StorageDriverError as err:
            failed("write", err)
            # The writer takes no more writes; close() keeps what reached
            # the disk and the resume says exactly how much that is.
            on_disk = writer.size
            assert sent <= on_disk <= sent + length
            writer.close()
            closed = on_disk
            writer = resume(on_disk)
            writer.write(PAYLOAD[on_disk : sent + length])
        sent += length
    assert writer.size == len(PAYLOAD) == sent
    carry_on = finish(writer, "commit")
    if carry_on is not None:
        carry_on.commit()  # disarmed: must work
    return faults.injected > 0, "; ".join(events)


def _content(driver: StorageDriver) -> bytes | None:
    try:
        return driver.get_content(PATH)
    except StorageDriverError:
        return None


@pytest.mark.parametrize("kind", ["enospc", "short-write"])
def test_every_failure_point_publishes_exactly_the_accepted_bytes(
    faults: OSFaults, tmp_path: Path, kind: str
) -> None:
    """Regression: a commit that failed with ENOSPC and was retried after
    space was freed published 8192 of 200,000 bytes (the buffered bytes were
    dropped when the file was closed in a `finally`)."""
    steps = 0
    while True:
        root = tmp_path / f"{kind}-{steps}"
        driver = regstore.create("filesystem", {"rootdirectory": str(root)})
        driver.put_content(PATH, OLD)
        injected, events = _upload_with_faults(driver, faults, steps, kind)
        faults.disarm()
        published = driver.get_content(PATH)
        assert len(published) == len(PAYLOAD), f"after {steps} steps: {events}"
        assert sha(published) == sha(PAYLOAD), f"after {steps} steps: {events}"
        with pytest.raises(StorageDriverError, match="committed content"):
            driver.writer(PATH, append=True)  # nothing left to resume
        if not injected:
            break  # the whole upload ran through without reaching a fault
        steps += 1
    assert steps > 20  # the sweep really visited many failure points


_EFBIG_CHILD = textwrap.dedent(
    """
    import errno, resource, signal, sys
    import regstore
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # EFBIG instead of a signal
    root, limit = sys.argv[1], int(sys.argv[2])
    payload = bytes(range(251)) * 800               # 200,800 bytes
    driver = regstore.create("filesystem", {"rootdirectory": root})
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def attempt(step, how):
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        try:
            step()
        except regstore.StorageDriverError as err:
            cause = err.__cause__
            while cause is not None and not isinstance(cause, OSError):
                cause = cause.__cause__
            print(how, "failed", getattr(cause, "errno", None) == errno.EFBIG, flush=True)
        else:
            print(how, "passed", flush=True)
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        step()                                      # the retry, with room again

    writer = driver.writer("/committed")
    for offset in range(0, len(payload), 1000):
        writer.write(payload[offset : offset + 1000])
    attempt(writer.commit, "commit")
    writer = driver.writer("/closed")
    for offset in range(0, len(payload), 1000):
        writer.write(payload[offset : offset + 1000])
    attempt(writer.close, "close")
    """
)


def test_commit_and_close_retried_after_efbig_keep_every_byte(tmp_path: Path) -> None:
    """The same with a real kernel: RLIMIT_FSIZE makes the child's writes
    fail with EFBIG after 100,000 bytes (a short write, then an error); the
    child retries once the limit is lifted, the parent checks and resumes."""
    root = tmp_path / "store"
    payload = bytes(range(251)) * 800
    result = subprocess.run(
        [sys.executable, "-c", _EFBIG_CHILD, str(root), "100000"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["commit failed True", "close failed True"]
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    assert sha(driver.get_content("/committed")) == sha(payload)
    writer = driver.writer("/closed", append=True)
    assert writer.size == len(payload)
    writer.commit()
    assert sha(driver.get_content("/closed")) == sha(payload)


def test_failed_write_keeps_exactly_what_reached_the_disk(faults: OSFaults, root: Path) -> None:
    """A write that fails half-way (a short write, then ENOSPC) leaves the
    writer's size at the bytes on disk; close() persists exactly those."""
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    writer = driver.writer(PATH)
    writer.write(PAYLOAD[:1000])
    faults.fail_after(0, "short-write")  # every write stores half, then the rest fails
    with pytest.raises(StorageDriverError):
        writer.write(PAYLOAD[1000:400_000])
    faults.disarm()
    on_disk = writer.size
    assert 0 < on_disk < 400_000  # halves stored down to one byte, which fails
    writer.close()
    resumed = driver.writer(PATH, append=True)
    assert resumed.size == on_disk
    resumed.write(PAYLOAD[on_disk:])
    resumed.commit()
    assert sha(driver.get_content(PATH)) == sha(PAYLOAD)


def test_failed_fsync_refuses_to_publish(faults: OSFaults, root: Path) -> None:
    """After a failed fsync the kernel may have dropped the dirty pages and
    a second fsync can report success anyway: the writer does not trust it,
    refuses to publish, and the upload resumes from its last close."""
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    driver.put_content(PATH, OLD)
    writer = driver.writer(PATH)
    writer.write(PAYLOAD[:5000])
    writer.close()
    writer = driver.writer(PATH, append=True)
    writer.write(PAYLOAD[5000:])
    faults.fail_after(0, "eio")
    with pytest.raises(StorageDriverError, match="fsync"):
        writer.commit()
    faults.disarm()
    with pytest.raises(StorageDriverError, match="fsync"):
        writer.commit()  # a retry does not publish what may be lost
    with pytest.raises(StorageDriverError, match="fsync"):
        writer.close()
    assert driver.get_content(PATH) == OLD
    resumed = driver.writer(PATH, append=True)
    assert resumed.size == 5000
    resumed.write(PAYLOAD[5000:])
    resumed.commit()
    assert sha(driver.get_content(PATH)) == sha(PAYLOAD)


def test_put_content_failures_leave_old_content_and_no_temporaries(
    faults: OSFaults, root: Path
) -> None:
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    driver.put_content("/d/f", OLD)
    steps = 0
    while True:
        faults.fail_after(steps, "short-write")
        try:
            driver.put_content("/d/f", PAYLOAD)
        except StorageDriverError:
            faults.disarm()
            assert driver.get_content("/d/f") in (OLD, PAYLOAD)
            driver.put_content("/d/f", OLD)
            steps += 1
            continue
        faults.disarm()
        break
    assert steps >= 3
    assert driver.get_content("/d/f") == PAYLOAD
    assert os.listdir(root / "d") == ["f"]  # nothing ever beside the target
    # A temporary whose removal failed too (the disk was failing) stays in
    # the staging area, out of sight, until a purge reclaims it.
    time.sleep(0.01)
    assert driver.purge_uploads(dt.timedelta(0)) == 0
    assert sorted(os.listdir(root)) == ["d"]
