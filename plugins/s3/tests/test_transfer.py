"""`regstore copy` and `sync` between filesystem and s3 (moto), the way an
operator moves a registry: a tree of 2,000 small files and three 64 MiB
files copied to s3, interrupted once and resumed, then synced back to a
fresh filesystem root, and both sides compared independently (boto3's own
listing and hashlib over the local files; rclone is not installed here)."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import pytest

import regstore
from regstore.transfer import TransferEvent, copy, sync

MIB = 1 << 20


class _InterruptError(Exception):
    """Stands in for Ctrl-C, after some bytes went out."""


def _tree(root: Path) -> dict[str, str]:
    """The source tree; sha256 by relative path."""
    rng = random.Random(7)
    sums: dict[str, str] = {}
    for index in range(2000):
        rel = f"docker/registry/v2/blobs/sha256/{index % 40:02x}/{index:05d}/data"
        data = rng.randbytes(rng.randrange(0, 4096))
        _write(root / rel, data, sums, rel)
    for index in range(3):
        rel = f"docker/registry/v2/blobs/big/{index}"
        _write(root / rel, os.urandom(64 * MIB), sums, rel)
    return sums


def _write(path: Path, data: bytes, sums: dict[str, str], rel: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sums[rel] = hashlib.sha256(data).hexdigest()


def _local_sums(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def _bucket_sums(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            sums[item["Key"][len(prefix) :]] = hashlib.sha256(body).hexdigest()
    return sums


@pytest.mark.slow
def test_copy_to_s3_interrupted_resumed_then_synced_back(
    tmp_path: Path, s3_params: dict[str, object], s3: Any
) -> None:
    source_root = tmp_path / "src"
    expected = _tree(source_root)
    local = regstore.create("filesystem", {"rootdirectory": str(source_root)})
    remote = regstore.create("s3", s3_params)

    sent = 0

    def interrupt_midway(event: TransferEvent) -> None:
        nonlocal sent
        if event.kind == "progress":
            sent += event.nbytes
            if sent > 100 * MIB:
                raise _InterruptError

    with pytest.raises(_InterruptError):
        copy(local, "/docker", remote, "/docker", jobs=8, progress=interrupt_midway)
    resumed = copy(local, "/docker", remote, "/docker", jobs=8)
    assert resumed.ok, [e.message for e in resumed.errors]
    assert resumed.files_skipped > 0  # finished files were not sent again
    total = sum((source_root / rel).stat().st_size for rel in expected)
    assert resumed.bytes_written < total  # and the rest resumed, not restarted

    # No upload of the copy is left in flight.
    assert list(remote.list_uploads()) == []

    prefix = f"{s3_params['rootdirectory']}/"
    assert _bucket_sums(s3, str(s3_params["bucket"]), prefix) == expected

    back_root = tmp_path / "back"
    back = regstore.create("filesystem", {"rootdirectory": str(back_root)})
    synced = sync(remote, "/docker", back, "/docker", jobs=8)
    assert synced.ok
    assert synced.files_copied == len(expected)
    assert _local_sums(back_root) == expected

    # Nothing to do: a second sync reads no contents and copies nothing.
    again = sync(remote, "/docker", back, "/docker", jobs=8)
    assert (again.files_copied, again.files_skipped) == (0, len(expected))
    remote.delete("/docker")
