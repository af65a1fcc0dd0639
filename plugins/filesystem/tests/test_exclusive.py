"""A resumed upload belongs to one writer at a time.

A client that retries a PATCH makes the registry resume one upload twice.
Before the upload was locked, the second resumer truncated the data file
under the first (the published blob had a run of zeros), and its later
writes changed the already published file in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import regstore
from regstore import StorageDriver, StorageDriverError, UploadInUseError

PATH = "/blobs/upload"
FIRST = hashlib.shake_256(b"first").digest(300_000)
MORE = hashlib.shake_256(b"more").digest(500_000)


def closed_upload(driver: StorageDriver) -> None:
    writer = driver.writer(PATH)
    writer.write(FIRST)
    writer.close()


def test_second_resumer_in_one_process_is_refused(driver: StorageDriver) -> None:
    """The reported scenario, with both writers in one process: P1 resumes
    and writes, P2 resumes (and used to truncate the shared data file), P1
    commits, P2 writes on. The published bytes are P1's, exactly, and never
    change after the commit."""
    closed_upload(driver)
    first = driver.writer(PATH, append=True)
    first.write(MORE)
    with pytest.raises(UploadInUseError) as info:
        driver.writer(PATH, append=True)
    assert info.value.path == PATH
    assert "filesystem" in str(info.value)
    first.commit()
    published = driver.get_content(PATH)
    assert hashlib.sha256(published).digest() == hashlib.sha256(FIRST + MORE).digest()
    # Resuming after the commit finds committed content, not the upload.
    with pytest.raises(StorageDriverError, match="committed content"):
        driver.writer(PATH, append=True)
    assert driver.get_content(PATH) == published


def test_lock_is_released_by_close_commit_and_cancel(driver: StorageDriver) -> None:
    closed_upload(driver)
    writer = driver.writer(PATH, append=True)
    writer.write(b"x")
    writer.close()
    writer = driver.writer(PATH, append=True)  # close released it
    assert writer.size == len(FIRST) + 1
    writer.cancel()
    closed_upload(driver)
    writer = driver.writer(PATH, append=True)
    abandoned = driver.writer("/other")  # a fresh upload holds its own upload too
    abandoned.write(b"y")
    abandoned.close()
    writer.commit()
    assert driver.get_content(PATH) == FIRST
    driver.writer("/other", append=True).cancel()


def test_first_writer_holds_its_upload_until_it_closes(driver: StorageDriver) -> None:
    writer = driver.writer(PATH)
    writer.write(b"abc")
    writer.close()
    writer = driver.writer(PATH, append=True)
    writer.write(b"def")
    with pytest.raises(UploadInUseError):
        driver.writer(PATH, append=True)
    del writer  # dropped without close, as by a crash: the lock goes with it
    resumed = driver.writer(PATH, append=True)
    assert resumed.size == 3
    resumed.commit()
    assert driver.get_content(PATH) == b"abc"


def test_resumer_that_locks_after_the_commit_never_reaches_the_published_file(
    driver: StorageDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumer that read the state and opened the data file just before
    the holder committed (renamed the data file onto the path) gets the lock
    just after: it must see that the file it opened is no longer the upload
    and must not truncate or write the published file."""
    closed_upload(driver)
    holder = driver.writer(PATH, append=True)
    holder.write(MORE)
    real_flock = fcntl.flock
    committed: list[bool] = []

    def flock_after_commit(fd: int, operation: int) -> None:
        if not committed:
            committed.append(True)
            holder.commit()  # in the window between the open and the lock
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_commit)
    late = None
    refusal = ""
    try:
        late = driver.writer(PATH, append=True)
    except StorageDriverError as err:
        refusal = str(err)
    if late is not None:  # what the unlocked driver did: write the published file
        late.write(b"X" * 1000)
        late.close()
    monkeypatch.undo()
    if not committed:
        holder.commit()
    assert late is None
    assert "committed content" in refusal
    published = driver.get_content(PATH)
    assert hashlib.sha256(published).digest() == hashlib.sha256(FIRST + MORE).digest()


_HOLDER = textwrap.dedent(
    """
    import sys, time
    import regstore
    driver = regstore.create("filesystem", {"rootdirectory": sys.argv[1]})
    writer = driver.writer(sys.argv[2], append=True)
    writer.write(b"Z" * 100_000)
    print("holding", writer.size, flush=True)
    if sys.argv[3] == "commit":
        sys.stdin.readline()
        writer.commit()
        print("committed", flush=True)
    time.sleep(60)
    """
)


def _holder(root: Path, mode: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root), PATH, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().split() == ["holding", str(len(FIRST) + 100_000)]
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def test_second_resumer_in_another_process_is_refused(root: Path) -> None:
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    closed_upload(driver)
    child = _holder(root, "commit")
    try:
        with pytest.raises(UploadInUseError):
            driver.writer(PATH, append=True)
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "committed"
        expected = FIRST + b"Z" * 100_000
        assert driver.get_content(PATH) == expected
        with pytest.raises(StorageDriverError, match="committed content"):
            driver.writer(PATH, append=True)
        assert driver.get_content(PATH) == expected
    finally:
        _kill(child)


def test_lock_of_a_killed_holder_is_released(root: Path) -> None:
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    closed_upload(driver)
    child = _holder(root, "hold")
    try:
        with pytest.raises(UploadInUseError):
            driver.writer(PATH, append=True)
    finally:
        _kill(child)
    assert child.returncode == -signal.SIGKILL
    writer = driver.writer(PATH, append=True)  # the kernel dropped the lock
    assert writer.size == len(FIRST)  # and the dead holder's bytes
    writer.commit()
    assert driver.get_content(PATH) == FIRST
