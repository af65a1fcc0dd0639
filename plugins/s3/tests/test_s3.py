"""s3-specific behaviour: request counts, equal parts across close and
resume, the hidden upload record, the 10,000-part limit, directories, move by
multipart copy, and the abort of stale uploads. Each test has its own
random rootdirectory in the session's moto bucket."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import regstore
from regstore import PathNotFoundError, StorageDriver, StorageDriverError
from regstore_s3.driver import HIDDEN_DIR
from regstore_s3.writer import S3Writer

MIB = 1 << 20
PART = 5 * MIB

Counter = Callable[[StorageDriver], Any]


@pytest.fixture
def driver(s3_params: dict[str, object]) -> StorageDriver:
    return regstore.create("s3", s3_params)


def _inner(driver: StorageDriver) -> Any:
    """The S3Driver behind the factory's wrapper."""
    assert isinstance(driver, regstore.ManagedDriver)
    return driver.inner


def _inner_writer(writer: Any) -> S3Writer:
    inner = writer._inner  # the ManagedWriter's driver writer
    assert isinstance(inner, S3Writer)
    return inner


def _root(params: dict[str, object]) -> str:
    return str(params["rootdirectory"])


def _upload_of(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    uploads = [
        u for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", ()) if u["Key"] == key
    ]
    assert len(uploads) == 1, uploads
    return dict(uploads[0])


def _part_sizes(s3: Any, bucket: str, key: str) -> list[int]:
    upload = _upload_of(s3, bucket, key)
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload["UploadId"]).get("Parts", ())
    return [int(p["Size"]) for p in sorted(parts, key=lambda p: p["PartNumber"])]


def _all_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", ())]
    return keys


# -- request counts -----------------------------------------------------------


def test_stat_and_put_content_cost_one_request(
    driver: StorageDriver, count_requests: Counter
) -> None:
    counter = count_requests(driver)
    driver.put_content("/dir/file", b"x" * 100)
    assert counter.total == 1
    assert counter.counts["PutObject"] == 1
    counter.reset()
    info = driver.stat("/dir/file")
    assert (info.size, info.is_dir) == (100, False)
    assert counter.total == 1
    assert counter.counts["HeadObject"] == 1
    driver.delete("/dir")


def _fill(driver: StorageDriver, count: int) -> list[str]:
    paths = [f"/many/d{i % 7}/f{i:05d}" for i in range(count)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda p: driver.put_content(p, b"."), paths))
    return paths


@pytest.mark.slow
def test_walk_and_delete_of_2500_keys_are_paginated_listings(
    driver: StorageDriver, count_requests: Counter
) -> None:
    paths = _fill(driver, 2500)
    counter = count_requests(driver)
    walked = list(driver.walk("/many"))
    files = [info.path for info in walked if not info.is_dir]
    assert sorted(files) == sorted(paths)
    assert len(walked) == 2500 + 7
    assert counter.counts["ListObjectsV2"] <= math.ceil(2500 / 1000) + 1
    assert counter.total == counter.counts["ListObjectsV2"]

    counter.reset()
    driver.delete("/many")
    assert counter.counts["ListObjectsV2"] <= 3
    assert counter.counts["DeleteObjects"] <= 3
    assert counter.total == counter.counts["ListObjectsV2"] + counter.counts["DeleteObjects"]
    assert driver.list("/") == []


# -- the writer ----------------------------------------------------------------


def test_parts_are_exactly_chunksize_across_close_and_resume(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    bucket, key = str(s3_params["bucket"]), f"{_root(s3_params)}/blob"
    data = os.urandom(3 * PART + 12345)
    writer = driver.writer("/blob")
    writer.write(data[: PART + 7])  # one part and a 7-byte tail
    writer.close()
    assert _part_sizes(s3, bucket, key) == [PART]

    # Resume in a new driver instance (as a new process would).
    writer = regstore.create("s3", s3_params).writer("/blob", append=True)
    assert writer.size == PART + 7
    writer.write(data[PART + 7 : 2 * PART + 3 * MIB])
    writer.close()
    assert _part_sizes(s3, bucket, key) == [PART, PART]

    writer = driver.writer("/blob", append=True)
    assert writer.size == 2 * PART + 3 * MIB
    writer.write(data[2 * PART + 3 * MIB :])
    writer.commit()
    assert hashlib.sha256(driver.get_content("/blob")).digest() == hashlib.sha256(data).digest()
    # Nothing of the upload is left: no multipart upload, no record.
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=_root(s3_params)).get("Uploads")
    assert not uploads
    assert _all_keys(s3, bucket, _root(s3_params) + "/") == [key]
    driver.delete("/blob")


def test_checksums_when_supported_give_each_part_a_crc32_across_resume(
    s3_params: dict[str, object], s3: Any
) -> None:
    """With `checksums=when_supported` the upload declares CRC32 and every
    part carries one the store checks. (moto's ListParts omits part
    checksums, which real S3 returns and the resumed writer passes on to
    Complete; that step is kept to S3's documentation.)"""
    params = {**s3_params, "checksums": "when_supported"}
    bucket, key = str(params["bucket"]), f"{_root(params)}/summed"
    data = os.urandom(2 * PART + 99)
    writer = regstore.create("s3", params).writer("/summed")
    writer.write(data[: PART + 1])
    writer.close()
    assert _upload_of(s3, bucket, key).get("ChecksumAlgorithm") == "CRC32"
    sent = _inner_writer(writer).parts
    assert list(sent) == [1]
    assert sent[1].get("ChecksumCRC32")

    driver = regstore.create("s3", params)
    writer = driver.writer("/summed", append=True)
    writer.write(data[PART + 1 :])
    writer.commit()
    assert hashlib.sha256(driver.get_content("/summed")).digest() == hashlib.sha256(data).digest()
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32"), head  # the composite checksum of the parts
    driver.delete("/summed")


def test_resume_keeps_the_upload_part_size_when_chunksize_changes(
    s3_params: dict[str, object], s3: Any
) -> None:
    bucket, key = str(s3_params["bucket"]), f"{_root(s3_params)}/blob"
    first = regstore.create("s3", s3_params)
    data = os.urandom(3 * PART + 5)
    writer = first.writer("/blob")
    writer.write(data[: PART + 1])
    writer.close()
    bigger = regstore.create("s3", dict(s3_params, chunksize=6 * MIB))
    writer = bigger.writer("/blob", append=True)
    assert writer.size == PART + 1
    writer.write(data[PART + 1 :])
    writer.close()
    assert _part_sizes(s3, bucket, key) == [PART, PART, PART]
    writer = bigger.writer("/blob", append=True)
    writer.commit()
    assert bigger.get_content("/blob") == data
    bigger.delete("/blob")


def test_resume_pages_through_list_parts(
    driver: StorageDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner: Any = _inner(driver)
    monkeypatch.setattr(inner, "list_parts_page", 2)  # 4 parts: two pages
    data = os.urandom(4 * PART + 99)
    writer = driver.writer("/paged")
    writer.write(data)
    writer.close()
    writer = driver.writer("/paged", append=True)
    assert writer.size == len(data)
    writer.commit()
    assert driver.get_content("/paged") == data
    driver.delete("/paged")


def test_upload_record_is_invisible(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    writer = driver.writer("/a/upload")
    writer.write(b"tail bytes")
    writer.close()
    record = f"{_root(s3_params)}/{HIDDEN_DIR}/a/upload"
    assert _all_keys(s3, str(s3_params["bucket"]), record) == [record]
    assert driver.list("/") == []
    assert list(driver.walk("/")) == []
    with pytest.raises(PathNotFoundError):
        driver.stat("/a")
    with pytest.raises(PathNotFoundError):
        driver.get_content("/a/upload")
    writer = driver.writer("/a/upload", append=True)
    assert writer.size == len(b"tail bytes")
    writer.cancel()
    assert _all_keys(s3, str(s3_params["bucket"]), _root(s3_params) + "/") == []


def test_more_than_max_parts_fails_early_naming_chunksize(
    driver: StorageDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(S3Writer, "max_parts", 2)
    writer = driver.writer("/huge")
    writer.write(b"\0" * (2 * PART))
    with pytest.raises(StorageDriverError, match="chunksize") as info:
        writer.write(b"\0")
    assert "s3" in str(info.value)
    assert writer.size == 2 * PART
    writer.cancel()


def test_zero_byte_commit(driver: StorageDriver) -> None:
    writer = driver.writer("/empty")
    writer.commit()
    assert driver.get_content("/empty") == b""
    assert driver.stat("/empty").size == 0
    driver.delete("/empty")


def test_new_writer_replaces_an_earlier_upload(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    writer = driver.writer("/x")
    writer.write(os.urandom(PART + 1))
    writer.close()
    writer = driver.writer("/x")
    assert writer.size == 0
    uploads = s3.list_multipart_uploads(Bucket=s3_params["bucket"], Prefix=_root(s3_params))
    assert not uploads.get("Uploads")
    writer.write(b"new")
    writer.commit()
    assert driver.get_content("/x") == b"new"
    driver.delete("/x")


# -- directories ---------------------------------------------------------------


def test_a_prefix_without_slash_is_no_directory(driver: StorageDriver) -> None:
    driver.put_content("/ab", b"1")
    with pytest.raises(PathNotFoundError):
        driver.stat("/a")
    with pytest.raises(PathNotFoundError):
        driver.list("/a")
    with pytest.raises(PathNotFoundError):
        driver.delete("/a")
    assert driver.get_content("/ab") == b"1"
    driver.delete("/ab")


def test_directory_marker_objects_are_not_entries(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    bucket, root = str(s3_params["bucket"]), _root(s3_params)
    s3.put_object(Bucket=bucket, Key=f"{root}/d/", Body=b"")  # as consoles create them
    driver.put_content("/d/f", b"1")
    assert driver.list("/d") == ["/d/f"]
    assert [i.path for i in driver.walk("/")] == ["/d", "/d/f"]
    driver.delete("/d")
    assert _all_keys(s3, bucket, root + "/") == []


def test_walk_resumes_after_a_directory_in_key_order(driver: StorageDriver) -> None:
    for path in ("/a-c", "/a/b", "/a/d/e", "/b"):
        driver.put_content(path, b"x")
    order = [i.path for i in driver.walk("/")]
    # Key order: "a-c" < "a/" (a's contents) < "b".
    assert order == ["/a-c", "/a", "/a/b", "/a/d", "/a/d/e", "/b"]
    for index, done in enumerate(order):
        assert [i.path for i in driver.walk("/", start_after=done)] == order[index + 1 :]
    driver.delete("/a")
    driver.delete("/a-c")
    driver.delete("/b")


# -- move ----------------------------------------------------------------------


def test_move_above_threshold_uses_multipart_copy(
    s3_params: dict[str, object], s3: Any, count_requests: Counter
) -> None:
    driver = regstore.create(
        "s3",
        dict(s3_params, multipartcopythresholdsize=PART, multipartcopychunksize=PART),
    )
    data = os.urandom(2 * PART + 17)
    driver.put_content("/src", data)
    counter = count_requests(driver)
    driver.move("/src", "/dst")
    assert counter.counts["UploadPartCopy"] == 3
    assert counter.counts["CopyObject"] == 0
    assert driver.get_content("/dst") == data
    with pytest.raises(PathNotFoundError):
        driver.stat("/src")
    uploads = s3.list_multipart_uploads(Bucket=s3_params["bucket"], Prefix=_root(s3_params))
    assert not uploads.get("Uploads")
    driver.delete("/dst")


def test_failed_move_leaves_the_source(driver: StorageDriver) -> None:
    driver.put_content("/keep", b"data")
    inner: Any = _inner(driver)
    original = inner.client.copy_object

    def failing(**kwargs: Any) -> Any:
        raise ConnectionError("injected")

    inner.client.copy_object = failing
    try:
        with pytest.raises(StorageDriverError):
            driver.move("/keep", "/moved")
    finally:
        inner.client.copy_object = original
    assert driver.get_content("/keep") == b"data"
    with pytest.raises(PathNotFoundError):
        driver.stat("/moved")
    driver.delete("/keep")


# -- stale uploads -------------------------------------------------------------


def test_purge_uploads_aborts_stale_multipart_uploads(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    bucket, root = str(s3_params["bucket"]), _root(s3_params)
    writer = driver.writer("/old")
    writer.write(os.urandom(PART + 3))
    writer.close()
    inner: Any = _inner(driver)
    assert inner.purge_uploads(dt.timedelta(hours=1)) == 0
    assert s3.list_multipart_uploads(Bucket=bucket, Prefix=root).get("Uploads")
    assert inner.purge_uploads(dt.timedelta(0)) == 1
    assert not s3.list_multipart_uploads(Bucket=bucket, Prefix=root).get("Uploads")
    assert _all_keys(s3, bucket, root + "/") == []  # the record went too


# -- parameters, secrets, laziness ----------------------------------------------


def test_parameters_map_to_botocore_config(s3_params: dict[str, object]) -> None:
    driver = regstore.create(
        "s3",
        dict(
            s3_params,
            retrymode="adaptive",
            maxattempts="7",
            useragent="my-registry/1.0",
            v4auth="true",
            uploadconcurrency=3,
            readtimeout=12,
        ),
    )
    config = _inner(driver).client.meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 7}
    assert config.s3["addressing_style"] == "path"
    assert config.user_agent_extra == "my-registry/1.0"
    assert config.signature_version == "s3v4"
    assert config.read_timeout == 12
    assert config.max_pool_connections >= 3


def test_bad_parameters_name_the_key(s3_params: dict[str, object]) -> None:
    with pytest.raises(regstore.InvalidParameterError, match="chunksize"):
        regstore.create("s3", dict(s3_params, chunksize="1MiB"))
    with pytest.raises(regstore.InvalidParameterError, match="storageclass"):
        regstore.create("s3", dict(s3_params, storageclass="COLD"))
    with pytest.raises(regstore.InvalidParameterError, match="bucket"):
        regstore.create("s3", {"regionendpoint": "http://127.0.0.1:1"})


def test_secrets_never_in_repr_or_errors(s3_params: dict[str, object]) -> None:
    secret = "Sup3rSecretValue"
    driver = regstore.create("s3", dict(s3_params, secretkey=secret, sessiontoken="tok-" + secret))
    assert secret not in repr(driver)
    with pytest.raises(regstore.InvalidParameterError) as info:
        regstore.create("s3", dict(s3_params, secretkey=["hidden-" + secret]))
    assert secret not in str(info.value)
    unreachable = regstore.create(
        "s3",
        dict(
            s3_params,
            secretkey=secret,
            regionendpoint="http://127.0.0.1:1",
            maxattempts=1,
            connecttimeout=0.5,
        ),
    )
    with pytest.raises(StorageDriverError) as failure:
        unreachable.get_content("/x")
    assert secret not in str(failure.value)
    assert "s3" in str(failure.value)


def test_listing_drivers_imports_no_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, regstore; names = [d.name for d in regstore.drivers()];"
        "import regstore_s3.plugin;"
        "assert 's3' in names, names;"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_redirect_url_is_signed_for_redirectendpoint(s3_params: dict[str, object]) -> None:
    driver = regstore.create(
        "s3", dict(s3_params, redirectendpoint="http://127.0.0.1:9", redirectexpiry=60)
    )
    url = driver.redirect_url("/x", "HEAD")
    assert url is not None
    assert url.startswith("http://127.0.0.1:9/")
    assert "X-Amz-Expires=60" in url


def test_writer_memory_stays_within_chunksize_times_concurrency_plus_one(
    s3_params: dict[str, object],
) -> None:
    import tracemalloc

    driver = regstore.create("s3", dict(s3_params, uploadconcurrency=2))
    block = os.urandom(MIB)
    writer = driver.writer("/bounded")
    tracemalloc.start()
    try:
        for _ in range(40):  # 40 MiB through 5 MiB parts
            writer.write(block)
        writer.commit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= PART * (2 + 1) + 4 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert driver.stat("/bounded").size == 40 * MIB
    driver.delete("/bounded")


def test_empty_rootdirectory_hides_the_records_at_the_bucket_root(
    s3_params: dict[str, object], s3: Any
) -> None:
    bucket = f"regstore-root-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket)
    driver = regstore.create("s3", dict(s3_params, bucket=bucket, rootdirectory=""))
    writer = driver.writer("/pending")
    writer.write(b"abc")
    writer.close()
    driver.put_content("/zzz", b"1")
    assert _all_keys(s3, bucket, "") == ["zzz", f"{HIDDEN_DIR}/pending"]  # "~" sorts last
    assert driver.list("/") == ["/zzz"]
    assert [i.path for i in driver.walk("/")] == ["/zzz"]
    driver.delete("/zzz")
    assert driver.list("/") == []
    with pytest.raises(PathNotFoundError):
        driver.stat("/")
    writer = driver.writer("/pending", append=True)
    assert writer.size == 3
    writer.cancel()
    assert _all_keys(s3, bucket, "") == []


# -- uploads of a registry sharing the bucket -----------------------------------


def _foreign_upload(s3: Any, bucket: str, key: str) -> str:
    """A multipart upload another client (a distribution registry) started,
    with one part, under our root."""
    upload_id = str(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * PART)
    return upload_id


def _upload_ids(s3: Any, bucket: str, prefix: str) -> set[str]:
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", ())
    return {str(u["UploadId"]) for u in uploads}


def test_list_uploads_tells_ours_from_a_registry_sharing_the_bucket(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    bucket, root = str(s3_params["bucket"]), _root(s3_params)
    foreign_key = f"{root}/docker/registry/v2/repositories/r/_uploads/u1/data"
    foreign_id = _foreign_upload(s3, bucket, foreign_key)
    odd_id = _foreign_upload(s3, bucket, f"{root}/odd key")  # maps to no valid path
    writer = driver.writer("/ours/blob")
    writer.write(os.urandom(2 * PART + 7))
    writer.close()
    small = driver.writer("/ours/small")  # only a tail: a record, no multipart upload
    small.write(b"12345")
    small.close()
    ours_id = _upload_of(s3, bucket, f"{root}/ours/blob")["UploadId"]

    uploads = {u.ident or u.path: u for u in driver.list_uploads()}
    assert set(uploads) == {foreign_id, odd_id, ours_id, "/ours/small"}
    mine, tail_only = uploads[ours_id], uploads["/ours/small"]
    foreign, odd = uploads[foreign_id], uploads[odd_id]
    assert (mine.path, mine.size, mine.ours) == ("/ours/blob", 2 * PART + 7, True)
    assert (tail_only.size, tail_only.ours) == (5, True)
    assert (foreign.path, foreign.ours) == (
        "/docker/registry/v2/repositories/r/_uploads/u1/data",
        False,
    )
    assert (odd.path, odd.ours) == (None, False)
    now = dt.datetime.now(dt.UTC)
    for info in uploads.values():
        assert info.modified.tzinfo is not None
    # moto reports every upload as initiated in 2010; ours were closed now.
    for info in (mine, tail_only):
        assert now - dt.timedelta(minutes=5) < info.modified <= now + dt.timedelta(minutes=1)
    for key, upload_id in ((foreign_key, foreign_id), (f"{root}/odd key", odd_id)):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    writer = driver.writer("/ours/blob", append=True)
    writer.cancel()
    driver.writer("/ours/small", append=True).cancel()


def test_purge_uploads_leaves_a_registry_sharing_the_bucket_alone(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    bucket, root = str(s3_params["bucket"]), _root(s3_params)
    foreign_key = f"{root}/docker/registry/v2/repositories/r/_uploads/u2/data"
    foreign_id = _foreign_upload(s3, bucket, foreign_key)
    writer = driver.writer("/mine")
    writer.write(os.urandom(PART + 3))
    writer.close()
    ours_id = _upload_of(s3, bucket, f"{root}/mine")["UploadId"]
    assert _upload_ids(s3, bucket, root) == {foreign_id, ours_id}

    # dry run: counts, removes nothing
    assert driver.purge_uploads(dt.timedelta(0), dry_run=True) == 1
    assert driver.purge_uploads(dt.timedelta(0), include_foreign=True, dry_run=True) == 2
    assert _upload_ids(s3, bucket, root) == {foreign_id, ours_id}
    assert f"{root}/{HIDDEN_DIR}/mine" in _all_keys(s3, bucket, root + "/")

    # default: ours only, with its record; the registry's upload stays
    assert driver.purge_uploads(dt.timedelta(0)) == 1
    assert _upload_ids(s3, bucket, root) == {foreign_id}
    assert _all_keys(s3, bucket, root + "/") == []

    assert driver.purge_uploads(dt.timedelta(0), include_foreign=True) == 1
    assert _upload_ids(s3, bucket, root) == set()


def test_purge_uploads_removes_orphaned_records(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    """A record whose upload is gone (a crash between abort and delete) is
    removed once older than the age, and counts as no upload."""
    bucket, root = str(s3_params["bucket"]), _root(s3_params)
    writer = driver.writer("/gone")
    writer.write(os.urandom(PART + 3))
    writer.close()
    upload = _upload_of(s3, bucket, f"{root}/gone")
    s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    assert list(driver.list_uploads()) == []
    assert driver.purge_uploads(dt.timedelta(hours=1)) == 0
    assert _all_keys(s3, bucket, root + "/") == [f"{root}/{HIDDEN_DIR}/gone"]
    assert driver.purge_uploads(dt.timedelta(0)) == 0
    assert _all_keys(s3, bucket, root + "/") == []


# -- a store inside another store's root -----------------------------------------


def test_nested_store_records_are_invisible_to_the_outer_store(
    s3_params: dict[str, object], s3: Any
) -> None:
    """outer rootdirectory=R, inner rootdirectory=R/b: the inner store's
    upload records (keys with a `~` component) are no paths of the outer."""
    bucket, root = str(s3_params["bucket"]), _root(s3_params)
    outer = regstore.create("s3", s3_params)
    inner = regstore.create("s3", dict(s3_params, rootdirectory=f"{root}/b"))
    pending = inner.writer("/pending/blob")
    pending.write(b"tail")
    pending.close()
    assert f"{root}/b/{HIDDEN_DIR}/pending/blob" in _all_keys(s3, bucket, root + "/")

    # nothing but the record under /b: /b does not exist for the outer store
    assert outer.list("/") == []
    assert list(outer.walk("/")) == []
    for path in ("/b", "/b/" + HIDDEN_DIR.lstrip("~")):
        with pytest.raises(PathNotFoundError):
            outer.stat(path)
        with pytest.raises(PathNotFoundError):
            outer.list(path)
    with pytest.raises(PathNotFoundError):
        list(outer.walk("/b"))
    with pytest.raises(PathNotFoundError):
        outer.delete("/b")
    assert f"{root}/b/{HIDDEN_DIR}/pending/blob" in _all_keys(s3, bucket, root + "/")

    # with real content around it, only the content shows
    inner.put_content("/f", b"1")
    outer.put_content("/c", b"2")
    assert outer.list("/") == ["/b", "/c"]
    assert outer.list("/b") == ["/b/f"]
    assert [i.path for i in outer.walk("/")] == ["/b", "/b/f", "/c"]
    assert [i.path for i in outer.walk("/", start_after="/b/f")] == ["/c"]
    assert outer.stat("/b").is_dir
    inner.delete("/f")
    assert outer.list("/") == ["/c"]
    assert [i.path for i in outer.walk("/")] == ["/c"]
    outer.delete("/c")

    resumed = inner.writer("/pending/blob", append=True)
    assert resumed.size == 4
    resumed.cancel()
    assert _all_keys(s3, bucket, root + "/") == []


def test_directory_stat_skips_a_marker_object(
    driver: StorageDriver, s3: Any, s3_params: dict[str, object]
) -> None:
    s3.put_object(Bucket=s3_params["bucket"], Key=f"{_root(s3_params)}/m/", Body=b"")
    with pytest.raises(PathNotFoundError):
        driver.stat("/m")  # a marker alone is no directory
    driver.put_content("/m/f", b"1")
    assert driver.stat("/m").is_dir
    driver.delete("/m")


# -- parameters the SDK would choke on -----------------------------------------------

SECRET = "Sup3rSecretValue"


@pytest.mark.parametrize(
    ("key", "value", "extra"),
    [
        ("region", "bad region!", {}),
        ("region", "x" * 300, {}),
        ("regionendpoint", "http://[::1", {}),
        ("regionendpoint", "://nohost", {}),
        ("regionendpoint", "http://", {}),
        ("regionendpoint", "ftp://127.0.0.1:21", {}),
        ("regionendpoint", "http://127.0.0.1:99999", {}),
        ("redirectendpoint", "http://[::1", {}),
        ("accesskey", "", {"secretkey": SECRET}),
        ("secretkey", "", {"accesskey": "AKIDEXAMPLE", "secretkey": ""}),
        ("accesskey", "AKID\nEXAMPLE", {"secretkey": SECRET}),
        ("sessiontoken", "tok-" + SECRET, {"accesskey": "", "secretkey": ""}),
        ("useragent", "agent\r\nX-Injected: 1", {}),
        ("bucket", "", {}),
        ("bucket", "a/b", {}),
        ("rootdirectory", "../escape", {}),
        ("rootdirectory", "a//b", {}),
        ("rootdirectory", "a/./b", {}),
    ],
)
def test_bad_sdk_values_are_invalid_parameter_errors(
    key: str, value: str, extra: dict[str, str], s3_params: dict[str, object]
) -> None:
    params = {**s3_params, **extra, key: value}
    if key != "accesskey" and "accesskey" not in extra:
        params["secretkey"] = SECRET
    with pytest.raises(regstore.InvalidParameterError) as info:
        regstore.create("s3", params)
    message = str(info.value)
    assert info.value.key == key, message
    assert "s3" in message
    assert "\n" not in message
    assert SECRET not in message
    assert len(message) < 400, message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("uploadconcurrency", 10**12),
        ("multipartcopymaxconcurrency", 10**9),
        ("maxpoolconnections", 10**7),
        ("maxattempts", 10**6),
        ("connecttimeout", 1e300),
        ("readtimeout", 1e300),
        ("redirectexpiry", 10**12),
        ("chunksize", 10**15),
        ("multipartcopythresholdsize", 10**15),
    ],
)
def test_numbers_have_upper_bounds(key: str, value: object, s3_params: dict[str, object]) -> None:
    with pytest.raises(regstore.InvalidParameterError, match=key) as info:
        regstore.create("s3", {**s3_params, key: value})
    assert "out of range" in str(info.value)


def test_every_numeric_parameter_has_a_maximum() -> None:
    from regstore_s3.plugin import PARAMETERS

    for parameter in PARAMETERS:
        if parameter.kind in ("int", "float", "size"):
            assert parameter.maximum is not None, parameter.name


# -- the reader against stores that answer otherwise ---------------------------------


def _client_error(code: str, status: int) -> Any:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


def test_reader_far_past_the_end_on_a_store_that_says_invalid_argument(
    driver: StorageDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start beyond what a store can hold may be a 400 InvalidArgument
    rather than S3's 416: still an empty stream when the object is shorter."""
    driver.put_content("/short", b"abc")
    client = _inner(driver).client
    real = client.get_object

    def refusing(**args: Any) -> Any:
        if args.get("Range"):
            raise _client_error("InvalidArgument", 400)
        return real(**args)

    monkeypatch.setattr(client, "get_object", refusing)
    with driver.reader("/short", 2**62) as stream:
        assert stream.read() == b""
    with pytest.raises(PathNotFoundError):
        driver.reader("/absent", 2**62)
    monkeypatch.undo()
    driver.delete("/short")


def test_reader_checks_the_etag_itself_where_if_match_is_ignored(
    driver: StorageDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that ignores If-Match serves the new version on resume: the
    reader sees the other ETag and fails instead of mixing versions."""
    from botocore.exceptions import ResponseStreamingError

    size = 3 * MIB
    driver.put_content("/v", b"o" * size)
    client = _inner(driver).client
    real = client.get_object
    calls: list[dict[str, Any]] = []

    class Cut:
        def __init__(self, body: Any) -> None:
            self._body = body
            self._sent = 0

        def read(self, n: int = -1) -> bytes:
            if self._sent >= MIB:
                raise ResponseStreamingError(error="cut")
            chunk: bytes = self._body.read(min(n, MIB - self._sent))
            self._sent += len(chunk)
            return chunk

        def close(self) -> None:
            self._body.close()

    def serving(**args: Any) -> Any:
        calls.append(args)
        response = real(**{k: v for k, v in args.items() if k != "IfMatch"})
        if len(calls) == 1:
            response["Body"] = Cut(response["Body"])
        return response

    monkeypatch.setattr(client, "get_object", serving)
    stream = driver.reader("/v")
    assert stream.read(MIB) == b"o" * MIB
    _inner(driver).client.put_object(
        Bucket=_inner(driver).settings.bucket, Key=_inner(driver).key("/v"), Body=b"n" * size
    )
    with pytest.raises(StorageDriverError, match="changed"):
        stream.read()
    stream.close()
    assert calls[1].get("IfMatch")
    monkeypatch.undo()
    driver.delete("/v")


def test_seek_is_one_ranged_request_pinned_to_the_version(
    s3_params: dict[str, object], count_requests: Any
) -> None:
    """A seek drops the body; the next read asks for a range from the new
    position with If-Match on the first ETag: nothing before the position is
    downloaded, and a replaced object is refused rather than mixed in."""
    driver = regstore.create("s3", s3_params)
    data = os.urandom(8 * MIB)
    driver.put_content("/big", data)
    sent: list[dict[str, str]] = []
    inner: Any = driver.inner  # type: ignore[attr-defined]

    def record(request: Any, **_: Any) -> None:
        sent.append(
            {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        )

    inner.client.meta.events.register("before-send.s3.GetObject", record)
    try:
        counter = count_requests(driver)
        with driver.reader("/big") as reader:
            assert reader.read(10) == data[:10]
            counter.reset()
            reader.seek(7 * MIB)
            assert reader.read(100) == data[7 * MIB : 7 * MIB + 100]
            assert counter.counts == {"GetObject": 1}
            assert sent[-1]["Range"] == f"bytes={7 * MIB}-"
            # Pinned to the version first read (a single PUT's ETag is its MD5).
            expected = hashlib.md5(data, usedforsecurity=False).hexdigest()
            assert sent[-1]["If-Match"].strip('"') == expected
            reader.seek(-5, io.SEEK_END)  # the size is known: no request
            assert counter.counts == {"GetObject": 1}
            assert reader.read() == data[-5:]
            driver.put_content("/big", os.urandom(8 * MIB))
            reader.seek(0)
            with pytest.raises(regstore.StorageDriverError, match="changed"):
                reader.read(10)
    finally:
        inner.client.meta.events.unregister("before-send.s3.GetObject", record)
    driver.delete("/big")


def test_objects_are_application_octet_stream(s3_params: dict[str, object], s3: Any) -> None:
    """As distribution stores them: put_content, a multipart writer and a
    move all leave application/octet-stream (boto3's default would be
    binary/octet-stream, which a client redirected to S3 sees)."""
    driver = regstore.create("s3", s3_params)
    bucket, root = str(s3_params["bucket"]), _root(s3_params)
    driver.put_content("/small", b"x")
    writer = driver.writer("/large")
    writer.write(os.urandom(PART + 10))
    writer.commit()
    driver.move("/small", "/moved")
    for path in ("/large", "/moved"):
        head = s3.head_object(Bucket=bucket, Key=f"{root}{path}")
        assert head["ContentType"] == "application/octet-stream", path
    driver.delete("/large")
    driver.delete("/moved")
