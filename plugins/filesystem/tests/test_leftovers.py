"""What a crash leaves behind stays out of sight and is reclaimed; names of
the maximum length work everywhere."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import regstore
from regstore import PathNotFoundError, StorageDriver
from regstore_filesystem.uploads import STAGING_DIR

OLD = 1_000_000_000  # an mtime long ago


def beside_targets(root: Path) -> list[Path]:
    """Driver-owned names (`~`) anywhere but in the staging area."""
    return [
        path
        for path in root.rglob("*")
        if "~" in path.name and STAGING_DIR not in path.relative_to(root).parts
    ]


_PUTTER = textwrap.dedent(
    """
    import sys
    import regstore
    driver = regstore.create("filesystem", {"rootdirectory": sys.argv[1]})
    data = bytes(range(256)) * 4096 * 2              # 2 MiB: killed mid-put most of the time
    driver.put_content("/d/obj0", data)
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        driver.put_content(f"/d/sub{i % 2}/obj{i % 3}", data)
    """
)


def test_sigkill_during_put_content_leaves_nothing_beside_targets(root: Path) -> None:
    """Regression: 60 SIGKILLs during put_content left 26 `.name~hex`
    temporary files of 8 MiB beside the targets."""
    rng = random.Random(7)
    kills = 15
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", _PUTTER, str(root)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert beside_targets(root) == []
    driver = regstore.create("filesystem", {"rootdirectory": str(root)})
    assert driver.list("/") == ["/d"]
    # The temporaries in the staging area are fresh: kept by a purge with an
    # age (a concurrent put_content may be using them), reclaimed by age 0.
    staged = list((root / STAGING_DIR).glob("*")) if (root / STAGING_DIR).exists() else []
    assert driver.purge_uploads(dt.timedelta(hours=1)) == 0
    assert all(path.exists() for path in staged)
    time.sleep(0.01)
    assert driver.purge_uploads(dt.timedelta(0)) == 0  # temporaries are not uploads
    assert not (root / STAGING_DIR).exists()
    for name in driver.list("/d"):
        if not name.startswith("/d/obj"):
            for child_name in driver.list(name):
                assert len(driver.get_content(child_name)) == 2 * 1024 * 1024


def test_purge_reclaims_legacy_temporaries_beside_targets(
    driver: StorageDriver, root: Path
) -> None:
    """Temporaries of earlier versions (`.name~hex` beside the target) are
    reclaimed once older than the purge age; fresh ones and objects stay."""
    driver.put_content("/a/b/obj", b"keep")
    old_temp = root / "a" / "b" / ".obj~0123456789abcdef"
    old_temp.write_bytes(b"x" * 1000)
    os.utime(old_temp, (OLD, OLD))
    fresh_temp = root / "a" / ".other~fedcba9876543210"
    fresh_temp.write_bytes(b"y")
    lonely = root / "c" / ".gone~0011223344556677"  # its directory holds nothing else
    lonely.parent.mkdir()
    lonely.write_bytes(b"z")
    os.utime(lonely, (OLD, OLD))
    os.utime(lonely.parent, (OLD, OLD))
    assert driver.purge_uploads(dt.timedelta(hours=1), dry_run=True) == 0
    assert old_temp.exists()  # a dry run removes nothing
    assert driver.purge_uploads(dt.timedelta(hours=1)) == 0
    assert not old_temp.exists()
    assert fresh_temp.exists()
    assert not lonely.parent.exists()  # emptied by the purge: removed
    assert driver.get_content("/a/b/obj") == b"keep"
    fresh_temp.unlink()


def test_empty_directories_are_not_listed_walked_or_statted(
    driver: StorageDriver, root: Path
) -> None:
    """A directory with no object anywhere below it (left by a crash, or
    made by hand) is not part of the store."""
    driver.put_content("/x/y/file", b"1")
    (root / "empty" / "deeper" / "deepest").mkdir(parents=True)
    (root / "x" / "hollow" / "inside").mkdir(parents=True)
    (root / "x" / "temps").mkdir()
    (root / "x" / "temps" / ".t~0123456789abcdef").write_bytes(b"temp only")
    assert driver.list("/") == ["/x"]
    assert driver.list("/x") == ["/x/y"]
    assert [info.path for info in driver.walk("/")] == ["/x", "/x/y", "/x/y/file"]
    for hidden in ["/empty", "/empty/deeper", "/x/hollow", "/x/hollow/inside", "/x/temps"]:
        with pytest.raises(PathNotFoundError):
            driver.stat(hidden)
        with pytest.raises(PathNotFoundError):
            driver.list(hidden)
        with pytest.raises(PathNotFoundError):
            list(driver.walk(hidden))
    assert driver.stat("/x").is_dir
    # An object appearing below makes the directory visible again.
    driver.put_content("/x/hollow/inside/now", b"2")
    assert driver.list("/x") == ["/x/hollow", "/x/y"]
    assert driver.stat("/x/hollow").is_dir
    driver.delete("/x")
    with pytest.raises(PathNotFoundError):
        driver.delete("/empty")  # nothing there as far as the store goes
    assert not (root / "empty").exists()  # but tidied away
    assert driver.list("/") == []


NAME = "n" * 255


def test_names_of_the_maximum_length(driver: StorageDriver, root: Path) -> None:
    """Regression: put_content failed for names of 238-255 characters (its
    temporary name, `.name~hex`, exceeded NAME_MAX)."""
    driver.put_content(f"/d/{NAME}", b"put")
    assert driver.get_content(f"/d/{NAME}") == b"put"
    driver.put_content(f"/d/{NAME}", b"put again")
    assert driver.get_content(f"/d/{NAME}") == b"put again"
    writer = driver.writer(f"/w/{NAME}")
    writer.write(b"written")
    writer.close()
    writer = driver.writer(f"/w/{NAME}", append=True)
    writer.commit()
    assert driver.get_content(f"/w/{NAME}") == b"written"
    driver.move(f"/w/{NAME}", f"/m/{'m' * 255}")
    assert driver.get_content(f"/m/{'m' * 255}") == b"written"
    assert driver.list("/") == ["/d", "/m"]
    assert beside_targets(root) == []
    driver.delete("/d")
    driver.delete("/m")


def test_list_uploads_and_purge(driver: StorageDriver, root: Path) -> None:
    writer = driver.writer("/stale")
    writer.write(b"x" * 10)
    writer.close()
    writer = driver.writer("/fresh")
    writer.write(b"y" * 20)
    writer.close()
    never_closed = driver.writer("/open")
    never_closed.write(b"z")
    uploads = {info.path: info for info in driver.list_uploads()}
    assert set(uploads) == {"/stale", "/fresh", None}  # the open one has no state yet
    stale = uploads["/stale"]
    assert stale.size == 10
    assert stale.ours
    assert stale.modified.tzinfo is dt.UTC
    assert abs((dt.datetime.now(dt.UTC) - stale.modified).total_seconds()) < 60
    staging = root / STAGING_DIR / stale.ident
    assert staging.is_dir()
    for entry in staging.iterdir():
        os.utime(entry, (OLD, OLD))
    day = dt.timedelta(days=1)
    assert driver.purge_uploads(day, dry_run=True) == 1
    assert staging.is_dir()
    assert driver.purge_uploads(day, include_foreign=True) == 1  # accepted, meaningless here
    assert not staging.exists()
    with pytest.raises(PathNotFoundError):
        driver.writer("/stale", append=True)
    assert {info.path for info in driver.list_uploads()} == {"/fresh", None}
    # An upload held by a live writer is never purged, whatever its age.
    held = driver.writer("/fresh", append=True)
    for entry in (root / STAGING_DIR).glob("*/*"):
        os.utime(entry, (OLD, OLD))
    assert driver.purge_uploads(day) == 0
    held.commit()
    assert driver.get_content("/fresh") == b"y" * 20
    never_closed.cancel()
    assert list(driver.list_uploads()) == []
    driver.delete("/fresh")
