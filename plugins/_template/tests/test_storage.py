"""This driver's own storage choices, tested beside the conformance suite:
what the suite cannot know about (chunk sizes in the database, what a
reader does when its object is replaced under it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import regstore


def make_driver(root: Path) -> regstore.StorageDriver:
    return regstore.create("example", {"rootdirectory": str(root), "chunksize": "4KiB"})


def stored_chunk_sizes(root: Path) -> list[int]:
    with sqlite3.connect(root / "regstore.sqlite3") as db:
        return [size for (size,) in db.execute("SELECT length(data) FROM chunks")]


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
    driver.delete("/a")
    assert stored_chunk_sizes(tmp_path) == []


def test_a_reader_of_a_replaced_object_fails_instead_of_mixing(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    driver.put_content("/blob", b"a" * 10000)
    with driver.reader("/blob") as stream:
        assert stream.read(4096) == b"a" * 4096  # the first chunk
        driver.put_content("/blob", b"b" * 10000)
        with pytest.raises(regstore.StorageDriverError, match="replaced or deleted"):
            stream.read()
    assert driver.get_content("/blob") == b"b" * 10000
