"""What no black-box suite can see, seen from inside: fsync before a close
records or a commit publishes, the cross-device publication path, and what
delete and move leave on disk.

These are the filesystem driver's mutants that `make mutation` lists as
equivalent for the conformance suite (`scripts/mutation/catalogue.toml`);
each test here is the plugin-level test that does observe one of them.
"""

from __future__ import annotations

import errno
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from regstore import StorageDriver
from regstore_filesystem import _fs, uploads


class _Spy(types.ModuleType):
    """Stands in for `os` in one driver module: records what is fsynced
    (by the path of the descriptor) and can make `replace` fail once."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__("os")
        self._real = real
        self.synced: list[str] = []
        self.replace_error: int | None = None
        self.replace_failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def fsync(self, fd: int) -> None:
        self.synced.append(self._real.readlink(f"/proc/self/fd/{fd}"))
        self._real.fsync(fd)

    def replace(self, source: str, target: str) -> None:
        if self.replace_error is not None:
            code, self.replace_error = self.replace_error, None
            self.replace_failures += 1
            raise OSError(code, self._real.strerror(code), source)
        self._real.replace(source, target)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Callable[[types.ModuleType], _Spy]:
    def install(module: types.ModuleType) -> _Spy:
        stand_in = _Spy(os)
        monkeypatch.setattr(module, "os", stand_in)
        return stand_in

    return install


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_close_and_commit_fsync_the_data(
    driver: StorageDriver, spy: Callable[[types.ModuleType], _Spy]
) -> None:
    """close() makes the bytes durable before it records their size, and
    commit() before it publishes: a power cut must not leave a recorded or
    published size over bytes that never reached the disk."""
    watch = spy(uploads)
    writer = driver.writer("/durable/object")
    writer.write(b"x" * 1000)
    writer.close()
    data_files = [p for p in watch.synced if os.path.basename(p).startswith("data-")]
    assert data_files, f"close() fsynced no data file: {watch.synced}"
    watch.synced.clear()
    writer = driver.writer("/durable/object", append=True)
    writer.write(b"y" * 1000)
    writer.commit()
    assert any(os.path.basename(p).startswith("data-") for p in watch.synced), (
        f"commit() published without fsyncing the data: {watch.synced}"
    )
    assert driver.get_content("/durable/object") == b"x" * 1000 + b"y" * 1000


def test_publication_across_filesystems_removes_the_source(
    driver: StorageDriver, root: Path, spy: Callable[[types.ModuleType], _Spy]
) -> None:
    """Where the rename crosses filesystems (EXDEV: part of the root mounted
    elsewhere), the bytes are copied and the staged source removed, as the
    rename would have: nothing stays behind in the staging area."""
    watch = spy(_fs)
    # EXDEV comes from a target directory that exists on another filesystem.
    driver.put_content("/elsewhere/sibling", b"already there")
    writer = driver.writer("/elsewhere/object")
    writer.write(b"moved across")
    watch.replace_error = errno.EXDEV
    writer.commit()
    assert watch.replace_failures == 1, "the EXDEV path was not taken"
    assert driver.get_content("/elsewhere/object") == b"moved across"
    leftovers = [
        name
        for _, _, files in os.walk(root)
        for name in files
        if name.startswith(("data-", ".tmp~", ".~"))
    ]
    assert leftovers == [], f"the cross-device publication left {leftovers}"
    assert list(driver.list_uploads()) == []


def test_delete_of_the_last_object_keeps_the_root(driver: StorageDriver, root: Path) -> None:
    """Emptied directories are pruned up to the root, never the root itself
    or anything above it."""
    sibling = root.parent / "beside-the-root"
    sibling.mkdir()
    driver.put_content("/a/b/c/object", b"last")
    driver.delete("/a/b/c/object")
    assert root.is_dir(), "deleting the last object removed the root directory"
    assert sibling.is_dir()
    assert not (root / "a").exists(), "the emptied directories stayed on disk"


def test_move_prunes_the_emptied_source_parents_on_disk(driver: StorageDriver, root: Path) -> None:
    driver.put_content("/from/deep/er/object", b"moving")
    driver.put_content("/from/kept", b"stays")
    driver.move("/from/deep/er/object", "/to/object")
    assert not (root / "from" / "deep").exists(), "the source's emptied parents stayed on disk"
    assert (root / "from" / "kept").is_file()
    assert root.is_dir()
