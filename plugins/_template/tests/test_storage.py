"""This driver's own storage choices, tested beside the conformance suite:
what the suite cannot know about (chunk sizes in the database, what a
reader does when its object is replaced under it)."""

from __future__ import annotations

import gc
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import regstore


def make_driver(root: Path) -> regstore.StorageDriver:
    return regstore.create("example", {"rootdirectory": str(root), "chunksize": "4KiB"})


def stored_chunk_sizes(root: Path) -> list[int]:
    # Closed at once: an open connection would keep an emptied store's file.
    with closing(sqlite3.connect(root / "regstore.sqlite3")) as db:
        return [size for (size,) in db.execute("SELECT length(data) FROM chunks ORDER BY rowid")]


def test_objects_are_stored_in_chunks_of_at_most_chunksize(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    with driver.writer("/written") as upload:
        for _ in range(10):
            upload.write(b"w" * 3000)
        upload.commit()
    driver.put_content("/put", b"p" * 10000)
    sizes = stored_chunk_sizes(tmp_path)
    assert max(sizes) <= 4096
    assert sum(sizes) == 30000 + 10000
    assert driver.get_content("/written") == b"w" * 30000


def test_deleting_and_replacing_free_the_chunks(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    driver.put_content("/a/one", b"1" * 9000)
    driver.put_content("/a/one", b"2" * 5000)  # the first version's chunks go
    assert sum(stored_chunk_sizes(tmp_path)) == 5000
    with driver.writer("/a/two") as upload:
        upload.write(b"3" * 5000)
        upload.cancel()
    driver.put_content("/b", b"4" * 5000)
    driver.delete("/a")
    assert stored_chunk_sizes(tmp_path) == [4096, 5000 - 4096]
    driver.delete("/b")
    assert not (tmp_path / "regstore.sqlite3").exists()  # an empty store is no file


def test_an_emptied_store_leaves_nothing_on_disk(tmp_path: Path) -> None:
    """The database is created by the first write and removed with the last
    object or upload, by whichever connection is the last to hold it, so
    an emptied root is an empty (here: removed) directory, as filesystem's
    is. `regstore check example -p rootdirectory=DIR` leaves DIR empty."""
    root = tmp_path / "store"
    first = make_driver(root)
    assert first.list("/") == []
    assert not root.exists()  # reads of an empty store create nothing
    first.put_content("/a/object", b"data")
    second = make_driver(root)  # another connection to the same file
    assert second.get_content("/a/object") == b"data"
    second.delete("/a")
    assert (root / "regstore.sqlite3").exists()  # first still has it open
    del second  # closes its connection; first still has the file
    gc.collect()
    assert (root / "regstore.sqlite3").exists()
    assert first.list("/") == []  # ...finds the store empty, is the last: removes it
    assert not root.exists()
    with pytest.raises(regstore.PathNotFoundError):
        first.delete("/missing")  # a refused change creates nothing either
    assert not root.exists()
    with first.writer("/upload") as upload:
        upload.write(b"resumable")  # closed, not committed: the store holds it
    assert (root / "regstore.sqlite3").exists()
    with first.writer("/upload", append=True) as upload:
        assert upload.size == len(b"resumable")
        upload.cancel()
    assert not root.exists()
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "notes.txt").write_text("mine")
    first.put_content("/x", b"x")
    first.delete("/x")
    assert [p.name for p in root.iterdir()] == ["notes.txt"]  # only its own files go


def test_a_reader_of_a_replaced_object_fails_instead_of_mixing(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    driver.put_content("/blob", b"a" * 10000)
    with driver.reader("/blob") as stream:
        assert stream.read(4096) == b"a" * 4096  # the first chunk
        driver.put_content("/blob", b"b" * 10000)
        with pytest.raises(regstore.StorageDriverError, match="replaced or deleted"):
            stream.read()
    assert driver.get_content("/blob") == b"b" * 10000
