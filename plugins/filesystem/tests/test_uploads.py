"""Uploads: staged out of sight, published by rename, resumable exactly,
also in another process after the writer was killed."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import regstore
from regstore import PathNotFoundError, StorageDriver, StorageDriverError
from regstore_filesystem.uploads import STAGING_DIR


def staging_dir(root: Path, path: str) -> Path:
    return root / STAGING_DIR / hashlib.sha256(path.encode()).hexdigest()


def test_staged_upload_is_invisible(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/other", b"o")
    writer = driver.writer("/dir/up")
    writer.write(b"x" * 1000)
    for check in range(2):  # before and after close()
        assert driver.list("/") == ["/other"]
        assert [i.path for i in driver.walk("/")] == ["/other"]
        with pytest.raises(PathNotFoundError):
            driver.stat("/dir/up")
        with pytest.raises(PathNotFoundError):
            driver.get_content("/dir/up")
        with pytest.raises(PathNotFoundError):
            driver.reader("/dir/up")
        assert not (root / "dir").exists()
        if check == 0:
            writer.close()
    assert (staging_dir(root, "/dir/up") / "state").exists()


def test_old_content_readable_until_commit(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/p", b"old content")
    writer = driver.writer("/p")
    writer.write(b"new")
    assert driver.get_content("/p") == b"old content"
    writer.close()
    assert driver.get_content("/p") == b"old content"
    writer = driver.writer("/p", append=True)
    writer.write(b" bytes")
    assert driver.get_content("/p") == b"old content"
    assert driver.stat("/p").size == 11
    writer.commit()
    assert driver.get_content("/p") == b"new bytes"
    assert not (root / STAGING_DIR).exists()  # nothing left behind


def test_zero_byte_commit(driver: StorageDriver, root: Path) -> None:
    writer = driver.writer("/z/empty")
    writer.commit()
    assert (root / "z/empty").read_bytes() == b""
    assert driver.stat("/z/empty").size == 0


def test_append_rules(driver: StorageDriver, root: Path) -> None:
    with pytest.raises(PathNotFoundError):
        driver.writer("/none", append=True)
    driver.put_content("/empty", b"")
    writer = driver.writer("/empty", append=True)  # zero-length content: a new upload
    assert writer.size == 0
    writer.write(b"abc")
    writer.commit()
    assert driver.get_content("/empty") == b"abc"
    with pytest.raises(StorageDriverError, match="committed content"):
        driver.writer("/empty", append=True)
    assert driver.get_content("/empty") == b"abc"
    driver.put_content("/d/f", b"x")
    with pytest.raises(PathNotFoundError):
        driver.writer("/d", append=True)  # a directory holds no upload


def test_upload_never_closed_counts_as_none(driver: StorageDriver, root: Path) -> None:
    writer = driver.writer("/p")
    writer.write(b"lost" * 100_000)  # more than the write buffer: it reaches the disk
    # The writer "dies" here, before its first close(): no state was recorded.
    assert staging_dir(root, "/p").is_dir()
    assert not (staging_dir(root, "/p") / "state").exists()
    with pytest.raises(PathNotFoundError):
        driver.writer("/p", append=True)


def test_resume_discards_bytes_after_last_close(driver: StorageDriver, root: Path) -> None:
    writer = driver.writer("/p")
    writer.write(b"a" * 100)
    writer.close()
    writer = driver.writer("/p", append=True)
    assert writer.size == 100
    writer.write(b"b" * 50)
    writer.close()
    writer = driver.writer("/p", append=True)
    writer.write(b"c" * 300_000)  # never closed: lost on the next resume
    (data,) = staging_dir(root, "/p").glob("data-*")
    assert data.stat().st_size > 150  # the unclosed bytes did reach the file
    del writer  # dropped without close, as by a crash: its lock goes with it
    resumed = driver.writer("/p", append=True)
    assert resumed.size == 150
    resumed.write(b"d")
    resumed.commit()
    assert driver.get_content("/p") == b"a" * 100 + b"b" * 50 + b"d"


def test_new_writer_discards_staged_upload(driver: StorageDriver, root: Path) -> None:
    writer = driver.writer("/p")
    writer.write(b"first")
    writer.close()
    fresh = driver.writer("/p")
    assert fresh.size == 0
    fresh.write(b"second")
    fresh.close()
    resumed = driver.writer("/p", append=True)
    assert resumed.size == 6
    resumed.commit()
    assert driver.get_content("/p") == b"second"
    assert not (root / STAGING_DIR).exists()


def test_replaced_writer_cannot_publish(driver: StorageDriver) -> None:
    older = driver.writer("/p")
    older.write(b"older")
    newer = driver.writer("/p")  # starts over, discarding the older upload
    newer.write(b"newer")
    with pytest.raises(StorageDriverError, match="replaced"):
        older.commit()
    with pytest.raises(PathNotFoundError):
        driver.get_content("/p")
    newer.commit()
    assert driver.get_content("/p") == b"newer"


def test_cancel_removes_staging(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/p", b"keep")
    writer = driver.writer("/p")
    writer.write(b"x")
    writer.close()
    writer = driver.writer("/p", append=True)
    writer.cancel()
    assert driver.get_content("/p") == b"keep"
    assert not (root / STAGING_DIR).exists()
    with pytest.raises(StorageDriverError, match="committed content"):
        driver.writer("/p", append=True)


def test_resume_in_a_new_instance(root: Path) -> None:
    first = regstore.create("filesystem", {"rootdirectory": str(root)})
    writer = first.writer("/p")
    writer.write(b"1234")
    writer.close()
    second = regstore.create("filesystem", {"rootdirectory": str(root)})
    writer = second.writer("/p", append=True)
    assert writer.size == 4
    writer.write(b"5")
    writer.commit()
    assert first.get_content("/p") == b"12345"


def test_purge_uploads(driver: StorageDriver, root: Path) -> None:
    writer = driver.writer("/stale")
    writer.write(b"x")
    writer.close()
    assert driver.purge_uploads(dt.timedelta(hours=1)) == 0
    old = 1_000_000_000
    for entry in staging_dir(root, "/stale").iterdir():
        os.utime(entry, (old, old))
    assert driver.purge_uploads(dt.timedelta(hours=1)) == 1
    with pytest.raises(PathNotFoundError):
        driver.writer("/stale", append=True)


_CHILD = textwrap.dedent(
    """
    import sys, time
    import regstore
    driver = regstore.create("filesystem", {"rootdirectory": sys.argv[1]})
    part1 = bytes(range(256)) * 4096 + b"tail"       # 1 MiB + 4 bytes
    part2 = bytes(reversed(range(256))) * 8192        # 2 MiB, never closed
    writer = driver.writer("/blobs/upload")
    writer.write(part1[:1000])
    writer.close()
    writer = driver.writer("/blobs/upload", append=True)
    writer.write(part1[1000:])
    writer.close()
    writer = driver.writer("/blobs/upload", append=True)
    writer.write(part2)
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_resume_after_sigkill_in_a_new_process(root: Path) -> None:
    part1 = bytes(range(256)) * 4096 + b"tail"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # The unclosed bytes really reached the staging file: there is
        # something for the resume to discard.
        data_files = list(staging_dir(root, "/blobs/upload").glob("data-*"))
        assert len(data_files) == 1
        assert data_files[0].stat().st_size > len(part1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    with pytest.raises(PathNotFoundError):
        driver.get_content("/blobs/upload")  # nothing published by the dead writer
    writer = driver.writer("/blobs/upload", append=True)
    assert writer.size == len(part1)
    part3 = os.urandom(300_000)
    writer.write(part3)
    writer.commit()
    content = driver.get_content("/blobs/upload")
    assert len(content) == len(part1) + len(part3)
    assert hashlib.sha256(content).hexdigest() == hashlib.sha256(part1 + part3).hexdigest()
    assert driver.list("/") == ["/blobs"]
    assert not (root / STAGING_DIR).exists()


def test_purge_uploads_command(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`regstore purge-uploads filesystem` discards what the method would."""
    from regstore.cli import main

    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    writer = driver.writer("/abandoned")
    writer.write(b"x")
    writer.close()
    args = ["purge-uploads", "filesystem", "-p", f"rootdirectory={root}"]
    assert main([*args, "--older-than", "1h"]) == 0
    assert "purged 0 upload(s)" in capsys.readouterr().out
    assert main([*args, "--older-than", "0s"]) == 0
    assert "purged 1 upload(s)" in capsys.readouterr().out
    with pytest.raises(PathNotFoundError):
        driver.writer("/abandoned", append=True)


@pytest.mark.parametrize("resumed", [False, True])
def test_purge_keeps_uploads_a_live_writer_holds(driver: StorageDriver, resumed: bool) -> None:
    """However old the age, purge never takes an upload from under a writer
    that is still working on it (new, or resumed and holding its lock): the
    writer commits exactly its bytes afterwards."""
    writer = driver.writer("/held/object")
    writer.write(b"first ")
    if resumed:
        writer.close()
        writer = driver.writer("/held/object", append=True)
    writer.write(b"still writing")
    (listed,) = [u for u in driver.list_uploads() if u.ident]
    assert listed.held, "list_uploads does not say a live writer holds the upload"
    assert not listed.purgeable(dt.timedelta(0), now=dt.datetime.now(dt.UTC))
    assert driver.purge_uploads(dt.timedelta(0), dry_run=True) == 0
    assert driver.purge_uploads(dt.timedelta(0)) == 0
    writer.write(b", done")
    writer.commit()
    assert driver.get_content("/held/object") == b"first still writing, done"
