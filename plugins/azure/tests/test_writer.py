"""The writer on Azurite: blocks, records, resume in other processes, a
killed writer, concurrent uploads, and blocks that Azure discarded."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from azure.storage.blob import BlobBlock

import regstore
from regstore import StorageDriverError
from regstore.testing.faults import FaultProxy

MIB = 1 << 20
Proxied = Callable[..., dict[str, object]]


def data_of(size: int, seed: str) -> bytes:
    """Deterministic bytes (the child processes make the same)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest() * 64
        counter += 1
    return bytes(out[:size])


CHILD = textwrap.dedent(
    """
    import hashlib, json, sys, time
    import regstore

    def data_of(size, seed):
        out = bytearray()
        counter = 0
        while len(out) < size:
            out += hashlib.sha256(f"{seed}-{counter}".encode()).digest() * 64
            counter += 1
        return bytes(out[:size])

    job = json.loads(sys.argv[1])
    driver = regstore.create("azure", job["params"])
    data = data_of(job["size"], job["seed"])
    writer = driver.writer(job["path"], append=job["append"])
    print("size", writer.size, flush=True)
    writer.write(data[writer.size : job["upto"]])
    if job["then"] == "commit":
        writer.commit()
        print("committed", flush=True)
    else:
        writer.close()
        writer = driver.writer(job["path"], append=True)
        writer.write(data[writer.size : job["hang_upto"]])
        writer._inner.settle()  # the blocks reached Azurite (and the tail is unclosed)
        print("ready", flush=True)
        time.sleep(3600)
    """
)


def child(params: dict[str, object], **job: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps({"params": params, **job})],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def committed_blocks(blobs: Any, params: dict[str, object], path: str) -> list[Any]:
    key = f"{params['rootdirectory']}{path}"
    committed, _ = blobs.get_blob_client(key).get_block_list("committed")
    return list(committed)


def test_resume_in_a_new_process_commits_exact_block_blob(
    azure_params: dict[str, object], blobs: Any
) -> None:
    size = 5 * MIB + 12345
    data = data_of(size, "new-process")
    driver = regstore.create("azure", azure_params)
    writer = driver.writer("/layer")
    writer.write(data[: 2 * MIB + 777])  # two blocks and a tail
    writer.close()
    proc = child(
        azure_params, path="/layer", append=True, size=size, seed="new-process", upto=size,
        then="commit",
    )  # fmt: skip
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split("\n")[:2] == [f"size {2 * MIB + 777}", "committed"]
    blocks = committed_blocks(blobs, azure_params, "/layer")
    assert all(b.size <= MIB for b in blocks), [b.size for b in blocks]
    assert sum(b.size for b in blocks) == size
    assert [b.size for b in blocks[:-1]] == [MIB] * (len(blocks) - 1)
    key = f"{azure_params['rootdirectory']}/layer"
    props = blobs.get_blob_client(key).get_blob_properties()
    assert props.blob_type == "BlockBlob"
    assert hashlib.sha256(driver.get_content("/layer")).digest() == hashlib.sha256(data).digest()
    assert list(driver.list_uploads()) == []
    driver.delete("/layer")


def test_sigkilled_writer_resumes_byte_exact(azure_params: dict[str, object], blobs: Any) -> None:
    """The child closes at 2 MiB + 5, resumes, stages three more blocks and
    is killed: a resume reports exactly the closed size, and the commit
    leaves the dead writer's blocks out."""
    size = 7 * MIB + 99
    closed = 2 * MIB + 5
    data = data_of(size, "sigkill")
    proc = child(
        azure_params, path="/killed", append=False, size=size, seed="sigkill", upto=closed,
        then="hang", hang_upto=5 * MIB + 1,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert lines == ["size 0", "ready"], (lines, proc.stderr.read() if proc.stderr else "")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    key = f"{azure_params['rootdirectory']}/killed"
    _, uncommitted = blobs.get_blob_client(key).get_block_list("uncommitted")
    assert len(uncommitted) == 2 + 3  # closed blocks, and the dead resumer's
    driver = regstore.create("azure", azure_params)
    writer = driver.writer("/killed", append=True)
    assert writer.size == closed
    writer.write(data[closed:])
    writer.commit()
    blocks = committed_blocks(blobs, azure_params, "/killed")
    assert sum(b.size for b in blocks) == size
    assert all(b.size <= MIB for b in blocks)
    assert hashlib.sha256(driver.get_content("/killed")).digest() == hashlib.sha256(data).digest()
    _, uncommitted = blobs.get_blob_client(key).get_block_list("uncommitted")
    assert uncommitted == []  # the commit discarded the dead writer's blocks
    driver.delete("/killed")


def test_two_uploads_at_once_loser_fails_at_commit(azure_params: dict[str, object]) -> None:
    """Two drivers open uploads to one path and stage blocks; the first to
    commit wins whole, the other fails at its commit with a clear error."""
    one, two = regstore.create("azure", azure_params), regstore.create("azure", azure_params)
    a_data, b_data = data_of(3 * MIB + 1, "a"), data_of(2 * MIB + 2, "b")
    a = one.writer("/race")
    a.write(a_data)
    b = two.writer("/race")  # a newer writer: a's upload is replaced
    b.write(b_data)
    b.commit()
    with pytest.raises(StorageDriverError, match=r"upload is gone|took this upload over"):
        a.commit()
    assert one.get_content("/race") == b_data
    one.delete("/race")


def overwrite_by_another_client(blobs: Any, params: dict[str, object], path: str) -> None:
    """Commit other content to the blob the way any client (a distribution
    registry sharing the container) may: Put Block + Put Block List, which
    makes Azure (and Azurite) discard every other uncommitted block. (A Put
    Blob does that on Azure too; Azurite keeps the blocks then.)"""
    blob = blobs.get_blob_client(f"{params['rootdirectory']}{path}")
    # Block ids must be one length per blob (Azure refuses others): ours are 23.
    other = base64.b64encode(b"anotherclient000-000001").decode()
    blob.stage_block(other, b"another client's bytes")
    blob.commit_block_list([BlobBlock(other)])


def test_commit_after_another_commit_discarded_the_blocks_fails_clearly(
    azure_params: dict[str, object], blobs: Any
) -> None:
    """The open upload's commit fails (InvalidBlockList), naming why, and
    the other client's content stays whole."""
    driver = regstore.create("azure", azure_params)
    writer = driver.writer("/p")
    writer.write(data_of(2 * MIB + 3, "lost"))
    overwrite_by_another_client(blobs, azure_params, "/p")
    with pytest.raises(StorageDriverError, match="blocks of this upload are gone"):
        writer.commit()
    assert driver.get_content("/p") == b"another client's bytes"
    writer.cancel()
    driver.delete("/p")


def test_resume_after_another_commit_discarded_the_blocks_fails_clearly(
    azure_params: dict[str, object], blobs: Any
) -> None:
    """A closed upload whose staged blocks Azure discarded is not resumed
    with a short size: the resume fails, saying so."""
    driver = regstore.create("azure", azure_params)
    writer = driver.writer("/q")
    writer.write(data_of(2 * MIB + 3, "lost"))
    writer.close()
    overwrite_by_another_client(blobs, azure_params, "/q")
    with pytest.raises(StorageDriverError, match="2 of the upload's 2 blocks are gone"):
        driver.writer("/q", append=True)
    assert driver.get_content("/q") == b"another client's bytes"
    driver.delete("/q")


def test_second_resumer_takes_over_with_its_own_block_ids(
    azure_params: dict[str, object], blobs: Any
) -> None:
    """Two resumers of one closed upload stage blocks under ids of their
    own; the first can then neither close nor commit, and the second
    publishes exactly the kept bytes plus its own."""
    first = data_of(MIB + 10, "first")
    mine, theirs = data_of(2 * MIB, "mine"), data_of(2 * MIB + 7, "theirs")
    driver = regstore.create("azure", azure_params)
    writer = driver.writer("/two")
    writer.write(first)
    writer.close()
    w1 = driver.writer("/two", append=True)
    w2 = regstore.create("azure", azure_params).writer("/two", append=True)
    w1.write(mine)
    w2.write(theirs)
    with pytest.raises(StorageDriverError, match="took this upload over"):
        w1.close()
    with pytest.raises(StorageDriverError, match="took this upload over"):
        w1.commit()
    w2.commit()
    assert driver.get_content("/two") == first + theirs
    ids = [b.id for b in committed_blocks(blobs, azure_params, "/two")]
    assert len(ids) == len(set(ids)) == 4
    driver.delete("/two")


def test_block_limit_fails_early_naming_chunksize(
    azurite: Any, azure_params: dict[str, object], proxied: Proxied, monkeypatch: Any
) -> None:
    """A write that would need more blocks than Azure allows fails before
    any request, naming chunksize. The limit is lowered from 50,000 to 3
    for the test (50,000 blocks of the 1 MiB minimum would be 49 GiB);
    that the writer carries Azure's real limit is asserted first."""
    from regstore_azure.writer import AzureWriter

    assert (AzureWriter.max_parts, AzureWriter.part_noun) == (50_000, "block")
    monkeypatch.setattr(AzureWriter, "max_parts", 3)
    with FaultProxy(azurite.endpoint) as proxy:
        driver = regstore.create("azure", proxied(azure_params, proxy))
        writer = driver.writer("/huge")
        writer.write(b"x" * MIB)
        proxy.reset_counts()
        with pytest.raises(StorageDriverError, match="3 blocks of chunksize=1048576") as info:
            writer.write(b"y" * (2 * MIB + 1))
        assert "raise chunksize" in str(info.value)
        assert proxy.requests == 0
        writer.cancel()


def test_large_put_content_is_blocks_and_one_commit(
    azurite: Any, azure_params: dict[str, object], blobs: Any, proxied: Proxied, monkeypatch: Any
) -> None:
    """Content above the single-put size is staged as blocks (in parallel)
    and published by one Put Block List, leaving no record."""
    from regstore_azure.driver import AzureDriver

    monkeypatch.setattr(AzureDriver, "single_put", 2 * MIB)
    data = data_of(5 * MIB + 3, "large-put")
    with FaultProxy(azurite.endpoint) as proxy:
        driver = regstore.create("azure", proxied(azure_params, proxy))
        proxy.reset_counts()
        driver.put_content("/big", data)
        comps = sorted(str(r.query.get("comp")) for r in proxy.records)
        assert comps == ["block"] * 6 + ["blocklist"]
    driver = regstore.create("azure", azure_params)
    assert driver.get_content("/big") == data
    assert [b.size for b in committed_blocks(blobs, azure_params, "/big")] == [MIB] * 5 + [3]
    assert list(driver.list_uploads()) == []
    driver.delete("/big")
