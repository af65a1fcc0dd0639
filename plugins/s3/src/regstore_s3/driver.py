"""The s3 driver: regstore's contract on Amazon S3 and S3-compatible stores.

Keys are distribution's: `rootdirectory` joined with the path, no leading
slash, so regstore and a distribution registry can share a bucket. Requests
per operation (the tests count them):

- stat of a file: one HEAD; of a directory: HEAD plus one listing of
  `key/` (never a bare prefix: `/a` is no directory because `/ab` exists);
- list: a delimiter listing of `key/`, paginated;
- walk: one flat listing of `key/`, paginated, in the byte order of keys
  (`Capabilities(walk_order="key")`); a `start_after` costs one probe;
- delete: flat listing pages of `key/` with one DeleteObjects per page
  (the first page also deletes `key` itself); a file costs a listing, a
  HEAD and a DeleteObject;
- put_content: one PutObject; move: HEAD, CopyObject (or a parallel
  multipart copy above the threshold) and DeleteObject.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Self

from botocore.exceptions import ClientError

from regstore import (
    Buffer,
    Capabilities,
    FileInfo,
    FileWriter,
    PathNotFoundError,
    StorageDriver,
    StorageDriverError,
    UploadInfo,
)
from regstore.keys import HIDDEN_DIR, KeyLayout
from regstore.paths import ROOT
from regstore.walk import walk_keys
from regstore_s3.client import Settings, make_clients
from regstore_s3.errors import STREAM_ERRORS, is_no_such_upload, is_not_found
from regstore_s3.plugin import SPEC
from regstore_s3.reader import ObjectChangedError, open_reader
from regstore_s3.writer import (
    META_PART_SIZE,
    META_PARTS,
    META_UPLOAD,
    META_WRITER,
    ResumeState,
    S3Writer,
    completed_part,
)

__all__ = ["HIDDEN_DIR", "S3Driver"]  # HIDDEN_DIR: core's, re-exported

#: Attempts to read an upload record whose body arrives cut.
RECORD_READS = 5
#: Keys per listing page and per DeleteObjects (S3's maximum).
PAGE = 1000
#: Fresh starts of a get_content whose resumed read found a newer version.
GET_RESTARTS = 3


def _utc(value: dt.datetime) -> dt.datetime:
    """botocore parses times with dateutil's zones; the contract wants UTC."""
    return value.astimezone(dt.UTC)


class S3Driver(StorageDriver):
    """See the module docstring."""

    capabilities = SPEC.capabilities or Capabilities()

    def __init__(self, client: Any, signer: Any, settings: Settings) -> None:
        self.client = client
        self._signer = signer
        self.settings = settings
        self._bucket = settings.bucket
        #: The key of each path, and the keys no path maps to (core's).
        self.keys = KeyLayout(settings.root)

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Self:
        """The factory's entry: coerced parameters to a ready driver."""
        client, signer = make_clients(params)
        return cls(client, signer, Settings.from_parameters(params))

    def __repr__(self) -> str:
        return f"<S3Driver bucket={self._bucket!r} root={self.settings.root!r}>"

    # -- keys -------------------------------------------------------------

    def key(self, path: str) -> str:
        """The object key of `path` (distribution's mapping)."""
        return self.keys.key(path)

    def record_key(self, path: str) -> str:
        """The key of the record a closed upload to `path` keeps."""
        return self.keys.record_key(path)

    # -- reading ----------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        # A whole-object read cut short and resumed may find a newer
        # version (a concurrent put): unlike a stream, nothing was handed
        # out yet, so start over and return the newer one whole.
        for attempt in range(GET_RESTARTS + 1):
            try:
                with self.reader(path) as stream:
                    return stream.read()
            except ObjectChangedError:
                if attempt == GET_RESTARTS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return open_reader(self.client, self._bucket, self.key(path), path, offset)

    def stat(self, path: str) -> FileInfo:
        if path != ROOT:
            try:
                head = self.client.head_object(Bucket=self._bucket, Key=self.key(path))
            except ClientError as err:
                if not is_not_found(err):
                    raise
            else:
                size = int(head["ContentLength"])
                return FileInfo(path, size, _utc(head["LastModified"]), False)
        # The first visible file decides (the listing is lazy: usually one
        # page of one key; markers and hidden keys make it look further).
        for info in self._files(self.keys.dir_prefix(path), max_keys=1):
            return FileInfo(path, 0, info.mod_time, True)
        raise PathNotFoundError(path)

    def list(self, path: str) -> list[str]:
        prefix = self.keys.dir_prefix(path)
        children: set[str] = set()
        subdirs: set[str] = set()
        found = False
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket,
            Prefix=prefix,
            Delimiter="/",
            PaginationConfig={"PageSize": PAGE},
        )
        for page in pages:
            for item in page.get("Contents", ()):
                key = item["Key"]
                if self.keys.hidden(key):
                    continue
                found = True
                if key != prefix:  # a directory marker object ("dir/") is no child
                    children.add(self.keys.path_of(key))
            for common in page.get("CommonPrefixes", ()):
                sub = common["Prefix"]
                if not self.keys.hidden(sub):
                    subdirs.add(sub)
        if subdirs:
            # A child directory may hold nothing but hidden keys (the records
            # of a store rooted there): such a child is no child.
            subdirs = self._with_files(prefix, subdirs)
            found = found or bool(subdirs)
            children.update(self.keys.path_of(sub.rstrip("/")) for sub in subdirs)
        if not children and not found and path != ROOT:
            raise PathNotFoundError(path)
        return sorted(children)

    def _with_files(self, prefix: str, subdirs: set[str]) -> set[str]:
        """Which of the child prefixes of `prefix` (each ending in "/") hold
        a visible file: one flat listing of `prefix` that stops once each is
        confirmed and jumps past a confirmed child's remaining keys, so a
        directory of small subdirectories costs a few pages and one of big
        ones about a request per child."""
        confirmed: set[str] = set()
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": PAGE}
        while len(confirmed) < len(subdirs):
            page = self.client.list_objects_v2(**args)
            contents = page.get("Contents", ())
            for item in contents:
                key = item["Key"]
                rest = key[len(prefix) :]
                if "/" not in rest or self.keys.hidden(key) or key.endswith("/"):
                    continue
                confirmed.add(prefix + rest.split("/", 1)[0] + "/")
            if not page.get("IsTruncated") or not contents:
                break
            last = contents[-1]["Key"]
            child = prefix + last[len(prefix) :].split("/", 1)[0] + "/"
            args.pop("ContinuationToken", None)
            args.pop("StartAfter", None)
            if last.startswith(child) and child in confirmed:
                args["StartAfter"] = child + "\U0010fffd"
            elif self.keys.hidden(last):
                args["StartAfter"] = self.keys.past_hidden(last)
            else:
                args["ContinuationToken"] = page["NextContinuationToken"]
        return subdirs & confirmed

    def _files(
        self, prefix: str, *, start_after: str | None = None, max_keys: int = PAGE
    ) -> Iterator[FileInfo]:
        """The files below `prefix` in key order, from a flat listing (lazy:
        a page is fetched when the consumer gets that far); directory
        markers and hidden keys are left out."""
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if start_after is not None and start_after > prefix:
            args["StartAfter"] = start_after
        while True:
            page = self.client.list_objects_v2(**args)
            skip_from: str | None = None
            for item in page.get("Contents", ()):
                key = item["Key"]
                if key.startswith(self.keys.hidden_prefix):
                    return  # `~` sorts after every valid name: nothing follows
                if self.keys.hidden(key):
                    skip_from = key
                    continue
                skip_from = None
                if key.endswith("/"):
                    continue
                yield FileInfo(
                    self.keys.path_of(key), int(item["Size"]), _utc(item["LastModified"]), False
                )
            if not page.get("IsTruncated"):
                return
            if skip_from is not None:
                # The page ended inside hidden keys (another store's records,
                # maybe thousands): jump past every key sharing the part up
                # to its `~` instead of paging through them.
                args.pop("ContinuationToken", None)
                args["StartAfter"] = self.keys.past_hidden(skip_from)
            else:
                args["ContinuationToken"] = page["NextContinuationToken"]

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        return self._walk(path, start_after, prune)

    def _walk(
        self, path: str, start_after: str | None, prune: Callable[[FileInfo], bool] | None
    ) -> Iterator[FileInfo]:
        return walk_keys(
            path,
            self.keys,
            lambda prefix, after: self._files(prefix, start_after=after),
            has_files=self._has_files,
            start_after=start_after,
            prune=prune,
        )

    def _has_files(self, prefix: str) -> bool:
        return next(self._files(prefix, max_keys=1), None) is not None

    # -- writing ----------------------------------------------------------

    def put_content(self, path: str, data: Buffer) -> None:
        body = data if isinstance(data, bytes | bytearray) else bytes(data)
        self.client.put_object(
            Bucket=self._bucket, Key=self.key(path), Body=body, **self.settings.put_args
        )

    def writer(self, path: str, append: bool = False) -> FileWriter:
        key = self.key(path)
        if append:
            state = self._resume_state(path, key)
        else:
            # A new upload replaces any earlier one of this path.
            for upload in self._uploads(key):
                if upload["Key"] == key:
                    self.abort_upload(key, upload["UploadId"])
            state = ResumeState(None, self.settings.chunk_size, token=uuid.uuid4().hex)
        writer = S3Writer(self, path, key, state)
        if not append:
            writer.close_record()
        return writer

    def _resume_state(self, path: str, key: str) -> ResumeState:
        record = self._read_record(path)
        if record is not None:
            meta, tail = record
            upload_id = meta.get(META_UPLOAD) or None
            part_size = int(meta.get(META_PART_SIZE) or self.settings.chunk_size)
            count = int(meta.get(META_PARTS) or 0)
            token = meta.get(META_WRITER, "")
            if upload_id is None:
                return ResumeState(None, part_size, {}, tail, token)
            try:
                parts = self._closed_parts(path, key, upload_id, count, part_size)
            except ClientError as err:
                if not is_no_such_upload(err):
                    raise
                self.delete_record(path)  # the upload was aborted or completed
            else:
                return ResumeState(upload_id, part_size, parts, tail, token)
        try:
            head = self.client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as err:
            if is_not_found(err):
                raise PathNotFoundError(path, detail=f"no upload to resume at {path}") from err
            raise
        if int(head["ContentLength"]) != 0:
            raise StorageDriverError(
                f"cannot append to {path}: it holds committed content and no upload"
            )
        return ResumeState(None, self.settings.chunk_size)

    def _read_record(self, path: str) -> tuple[dict[str, str], bytes] | None:
        """The record's metadata and tail; a body cut mid-read (which
        botocore does not retry) is read again, whole."""
        for attempt in range(1, RECORD_READS + 1):
            try:
                response = self.client.get_object(Bucket=self._bucket, Key=self.record_key(path))
            except ClientError as err:
                if is_not_found(err):
                    return None
                raise
            try:
                with response["Body"] as body:
                    tail = body.read()
            except STREAM_ERRORS:
                if attempt == RECORD_READS:
                    raise
                continue
            if len(tail) == int(response["ContentLength"]):
                return dict(response.get("Metadata", {})), tail
        raise StorageDriverError(f"resume {path}: the upload record was cut short")

    def _closed_parts(
        self, path: str, key: str, upload_id: str, count: int, part_size: int
    ) -> dict[int, dict[str, str]]:
        """Parts 1..count as Complete lists them, each checked to be
        `part_size` bytes."""
        parts: dict[int, dict[str, str]] = {}
        paginator = self.client.get_paginator("list_parts")
        pages = paginator.paginate(
            Bucket=self._bucket,
            Key=key,
            UploadId=upload_id,
            PaginationConfig={"PageSize": self.list_parts_page},
        )
        for page in pages:
            for part in page.get("Parts", ()):
                number = int(part["PartNumber"])
                if number > count:
                    continue  # sent after the last close by a writer that died
                if int(part["Size"]) != part_size:
                    raise StorageDriverError(
                        f"resume {path}: part {number} has {part['Size']} bytes, "
                        f"not the upload's part size {part_size}"
                    )
                parts[number] = completed_part(part)
        missing = [n for n in range(1, count + 1) if n not in parts]
        if missing:
            raise StorageDriverError(
                f"resume {path}: parts {missing[:5]} of the upload are missing"
            )
        return parts

    #: Parts per ListParts page (S3's maximum; tests lower it to prove paging).
    list_parts_page = PAGE

    def _uploads(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Multipart uploads under `prefix`, every page."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(
            Bucket=self._bucket, Prefix=prefix, PaginationConfig={"PageSize": PAGE}
        ):
            yield from page.get("Uploads", ())

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort one multipart upload; one already gone is fine."""
        try:
            self.client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except ClientError as err:
            if not is_no_such_upload(err):
                raise

    def delete_record(self, path: str) -> None:
        """Remove the record of a closed upload (absent is fine)."""
        self.client.delete_object(Bucket=self._bucket, Key=self.record_key(path))

    def list_uploads(self) -> Iterator[UploadInfo]:
        """Every upload in flight under the root: each multipart upload
        (paginated), ours or another client's, and each closed regstore
        upload that has only a tail (a record without a multipart upload).

        An upload is ours when the record of its path names its upload id,
        or names none: a regstore writer opened the path and has not closed
        since it started the multipart upload (or died before). Its size is
        the record's n x part size + tail (one HEAD of the record); its last
        activity the later of its initiation and its last close."""
        return (info for _, info in self._scan_uploads(self._records(), set()))

    def _records(self) -> dict[str, tuple[dt.datetime, int]]:
        """The upload records under the root: key -> (last close, tail size)."""
        records: dict[str, tuple[dt.datetime, int]] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=self.keys.hidden_prefix, PaginationConfig={"PageSize": PAGE}
        ):
            for item in page.get("Contents", ()):
                records[item["Key"]] = (_utc(item["LastModified"]), int(item["Size"]))
        return records

    def record_meta(self, path: str) -> dict[str, str] | None:
        """The metadata of the record of `path` (one HEAD), None if absent."""
        return self._record_meta(self.record_key(path))

    def _record_meta(self, record_key: str) -> dict[str, str] | None:
        """A record's metadata (one HEAD), None if it went meanwhile."""
        try:
            head = self.client.head_object(Bucket=self._bucket, Key=record_key)
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
        return dict(head.get("Metadata", {}))

    def _scan_uploads(
        self, records: dict[str, tuple[dt.datetime, int]], claimed: set[str]
    ) -> Iterator[tuple[str | None, UploadInfo]]:
        """`list_uploads` on a given listing of records, each upload with its
        multipart upload's key (None for a tail-only one); adds to `claimed`
        the records that belong to an upload (what is left are orphans)."""
        metas: dict[str, dict[str, str] | None] = {}
        for upload in self._uploads(self.keys.root_prefix):
            key, upload_id = str(upload["Key"]), str(upload["UploadId"])
            initiated = _utc(upload["Initiated"])
            path = self.keys.valid_path(key)
            record = self.record_key(path) if path is not None else None
            ours, size, modified = False, None, initiated
            if record is not None and record in records:
                if record not in metas:
                    metas[record] = self._record_meta(record)
                meta = metas[record]
                named = (meta or {}).get(META_UPLOAD, "")
                if meta is not None and named in ("", upload_id):
                    ours = True
                    claimed.add(record)
                    closed, tail = records[record]
                    modified = max(initiated, closed)
                    if named:
                        count = int(meta.get(META_PARTS) or 0)
                        part_size = int(meta.get(META_PART_SIZE) or 0)
                        size = count * part_size + tail
            yield key, UploadInfo(path, size, modified, ours, upload_id)
        for record, (closed, tail) in records.items():
            if record in claimed:
                continue
            meta = metas[record] if record in metas else self._record_meta(record)
            if meta is not None and not meta.get(META_UPLOAD):
                # A closed upload that never filled a part: the record holds it all.
                claimed.add(record)
                path = self.keys.record_path(record)
                yield None, UploadInfo(path, tail, closed, True, "")

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        """Discard the uploads `UploadInfo.purgeable` selects (S3 bills for
        the parts of abandoned ones): abort the multipart upload, and for
        ours delete the record too; returns how many (with `dry_run`, how
        many it would, touching nothing). Records whose upload is gone (a
        crash between abort and delete) go too once older than the age;
        they are no upload and are not counted. Another client's uploads (a
        distribution registry sharing the bucket) stay unless
        `include_foreign`."""
        now = dt.datetime.now(dt.UTC)
        records = self._records()
        claimed: set[str] = set()
        purged = 0
        doomed_records: list[str] = []
        for key, info in list(self._scan_uploads(records, claimed)):
            if not info.purgeable(older_than, now=now, include_foreign=include_foreign):
                continue
            purged += 1
            if dry_run:
                continue
            record = self.record_key(info.path) if info.ours and info.path else None
            if key is not None:
                self.abort_upload(key, info.ident)
            if record is not None:
                doomed_records.append(record)
        orphans = [
            record
            for record, (closed, _) in records.items()
            if record not in claimed and now - closed > older_than
        ]
        if not dry_run:
            stale = doomed_records + orphans
            for start in range(0, len(stale), PAGE):
                self._delete_keys(stale[start : start + PAGE])
        return purged

    # -- moving and deleting ----------------------------------------------

    def move(self, source: str, dest: str) -> None:
        src_key, dst_key = self.key(source), self.key(dest)
        try:
            head = self.client.head_object(Bucket=self._bucket, Key=src_key)
        except ClientError as err:
            if is_not_found(err):
                raise PathNotFoundError(source) from err
            raise
        if source == dest:
            return
        size = int(head["ContentLength"])
        if size <= self.settings.copy_threshold:
            self.client.copy_object(
                Bucket=self._bucket,
                Key=dst_key,
                CopySource={"Bucket": self._bucket, "Key": src_key},
                CopySourceIfMatch=head["ETag"],
                # The copy keeps the source's metadata, content type included.
                **{k: v for k, v in self.settings.put_args.items() if k != "ContentType"},
            )
        else:
            self._multipart_copy(src_key, dst_key, size, head["ETag"])
        self.client.delete_object(Bucket=self._bucket, Key=src_key)

    def _multipart_copy(self, src_key: str, dst_key: str, size: int, etag: str) -> None:
        """Copy in parallel parts of `multipartcopychunksize` (more if the
        object needs over 10,000); abort the upload on any failure so a
        failed move leaves the source alone and nothing behind."""
        chunk = max(self.settings.copy_chunk_size, -(-size // 10_000))
        ranges = [(start, min(start + chunk, size) - 1) for start in range(0, size, chunk)]
        upload_id = self.client.create_multipart_upload(
            Bucket=self._bucket, Key=dst_key, **self.settings.put_args
        )["UploadId"]

        def copy(number: int, first: int, last: int) -> dict[str, Any]:
            response = self.client.upload_part_copy(
                Bucket=self._bucket,
                Key=dst_key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self._bucket, "Key": src_key},
                CopySourceRange=f"bytes={first}-{last}",
                CopySourceIfMatch=etag,
            )
            return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

        try:
            workers = min(self.settings.copy_concurrency, len(ranges))
            with ThreadPoolExecutor(workers, thread_name_prefix="regstore-s3-copy") as pool:
                futures = [
                    pool.submit(copy, n, first, last)
                    for n, (first, last) in enumerate(ranges, start=1)
                ]
                parts = [future.result() for future in futures]
            self.client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=dst_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.abort_upload(dst_key, upload_id)
            raise

    def delete(self, path: str) -> None:
        key = self.key(path)
        prefix = key + "/"
        found = False
        first = True
        start_after: str | None = None
        while True:
            # The first page leaves room for the key itself in its
            # DeleteObjects: a file and a directory of one name both go.
            args: dict[str, Any] = {
                "Bucket": self._bucket,
                "Prefix": prefix,
                "MaxKeys": PAGE - 1 if first else PAGE,
            }
            if start_after is not None:
                args["StartAfter"] = start_after
            page = self.client.list_objects_v2(**args)
            keys = [item["Key"] for item in page.get("Contents", ())]
            if not keys:
                break
            # Only what no path shows so far (another store's records, a
            # marker): a directory only if a file follows.
            hidden_only = all(self.keys.hidden(k) or k.endswith("/") for k in keys)
            if first and hidden_only and not self._has_files(prefix):
                break
            found = True
            self._delete_keys([key, *keys] if first else keys)
            first = False
            start_after = keys[-1]
            if not page.get("IsTruncated"):
                break
        if found:
            return
        try:
            self.client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as err:
            if is_not_found(err):
                raise PathNotFoundError(path) from err
            raise
        self.client.delete_object(Bucket=self._bucket, Key=key)

    def _delete_keys(self, keys: Sequence[str]) -> None:
        response = self.client.delete_objects(
            Bucket=self._bucket,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )
        errors = response.get("Errors", ())
        if errors:
            shown = "; ".join(
                f"{e.get('Key')}: {e.get('Code')} {e.get('Message', '')}".strip()
                for e in errors[:5]
            )
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise StorageDriverError(f"delete failed for {len(errors)} keys: {shown}{more}")

    # -- redirects ----------------------------------------------------------

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        operation = "head_object" if method == "HEAD" else "get_object"
        url = self._signer.generate_presigned_url(
            operation,
            Params={"Bucket": self._bucket, "Key": self.key(path)},
            ExpiresIn=self.settings.redirect_expiry,
            HttpMethod=method,
        )
        return str(url)
