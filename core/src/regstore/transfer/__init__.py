"""Copy and sync between any two drivers: parallel, streaming, resumable,
verified, with progress events.

    from regstore import create
    from regstore.transfer import copy, sync

    src = create("filesystem", {"rootdirectory": "/srv/registry"})
    dst = create("s3", {...})
    summary = copy(src, "/docker", dst, "/docker", jobs=8)
    assert summary.ok, [e.message for e in summary.errors]

Semantics are rclone's: the *contents* of the source go into the
destination (copying /a to /b puts /a/x at /b/x); a source that is a file
copies to the destination path as a file (rclone's copyto). `copy` skips
files that are already there (same size and a destination not older than
the source) unless `force`; `sync` also compares content with `checksum`
and removes destination files the source lacks with `delete`.

Design, and why:

- **Up to date** means same size and a destination not older than the
  source, within `modify_window` (1 s: S3 keeps whole seconds, local
  filesystems tick every few milliseconds, clocks of two stores differ). A
  source rewritten with the same size within that second after its copy is
  missed by this rule; `sync(checksum=True)` compares content instead.
- **Listing.** Both sides are walked once and held in memory (about 100
  bytes a file plus its path), so totals are known before the first byte moves (a
  progress bar's ETA) and the skip rule needs no `stat` per file: a sync
  with nothing to do costs two walks and reads no file contents. `walk`
  shows committed objects only, and no path can name a driver's `~`
  bookkeeping, so uploads in flight (ours, a registry's) and regstore's
  records are never copied; neither is a path whose only content is an
  upload in flight, since it does not exist through the driver API.
- **Streaming.** Each of `jobs` threads moves one file at a time. Small
  files (up to `small_file_size`) are read into memory and stored with one
  `put_content` (one request on object stores); larger ones are read in
  `chunk_size` pieces with `reader()` and written with the destination's
  `writer()`. Content memory is therefore at most
  `jobs x max(small_file_size, chunk_size)` plus what each driver's writer
  documents (s3: chunksize x (uploadconcurrency + 1)).
- **Resuming.** A finished file is recognised by the skip rule, so a rerun
  sends none of them again. A large file's writer is closed every
  `checkpoint_size` bytes (and when the file fails or the run is
  interrupted) and reopened with `append=True`: a crash loses at most one
  checkpoint's worth. A rerun opens `writer(dest, append=True)`, and when an
  upload is there, continues from its `size`; a rerun that finds none (or
  finds committed content only) starts a new upload, which also discards
  any stale one.
- **A source that changed in between.** No state can be kept beside the
  destination through the driver API (paths cannot hold `~`, and a visible
  state file would be copied, synced and deleted like data), so a resumed
  upload is trusted only as far as verification can check it. The resume
  reads the source from 0 with one reader, hashing the prefix the upload
  already holds without sending it, then sends the rest: hash and sent
  bytes come from one version of the source (a reader never splices two).
  An upload that cannot be the source's prefix is cancelled and the file
  sent whole: one longer than the source, one the source ends before, and
  one last touched before the source's last change (the destination's
  `list_uploads`, read once at the first resume, gives that time where the
  driver can list its uploads; skewed clocks of the two stores can only
  make it restart needlessly, or let verification catch what it missed).
  After the commit the destination is read back; if its sha256 differs
  from the source's (the prefix came from a version the times could not
  tell apart), the file is sent again whole and verified again. So the
  final content is never a mix; between that commit and the re-send a
  reader of the destination may briefly see the mixed file. That is why
  resuming is only done with `verify=True`: with `verify=False` a large
  file's leftover upload is discarded and the file sent whole, never
  resumed on trust.
- **Verification** (`verify=True`, the default) hashes the source while
  streaming it and re-reads the destination after the commit. A file that
  does not verify is removed from the destination (or the skip rule would
  take it for a finished copy next time) and reported failed.
- **Failures.** A failed file is recorded in the summary and the others go
  on. `sync(delete=True)` then keeps the extras (as rclone does after
  errors). Destination files in the way of a source file (a file where the
  source has a directory, or below a path the source has as a file) are
  removed first in delete mode; without it the copy of that file fails.
- **Interruption.** A `KeyboardInterrupt`, or any exception the progress
  callback raises, tells every worker to stop at its next chunk, closing
  its upload so a rerun resumes it, and reaches the caller as it was
  raised. A verification in progress is finished first: a committed file
  left unverified would pass the skip rule next time.

Not done: one large file is not split across threads (the destination's
writer may upload parts in parallel itself, as s3's does); two instances of
one store under different names are not recognised as overlapping.
"""

from __future__ import annotations

import datetime as dt

from regstore.driver import StorageDriver
from regstore.transfer._engine import Options, run
from regstore.transfer._model import (
    EventKind,
    FileError,
    PlannedAction,
    ProgressCallback,
    SourceNotFoundError,
    TransferError,
    TransferEvent,
    TransferSummary,
    VerificationError,
)
from regstore.transfer._plan import make_plan

__all__ = [
    "CHECKPOINT_SIZE",
    "CHUNK_SIZE",
    "MODIFY_WINDOW",
    "SMALL_FILE_SIZE",
    "EventKind",
    "FileError",
    "PlannedAction",
    "ProgressCallback",
    "SourceNotFoundError",
    "TransferError",
    "TransferEvent",
    "TransferSummary",
    "VerificationError",
    "copy",
    "sync",
]

MiB = 1024 * 1024
#: The size of each read from the source and write to the destination.
CHUNK_SIZE = 1 * MiB
#: Files up to this size go in one `put_content`; larger ones through a writer.
SMALL_FILE_SIZE = 8 * MiB
#: A large file's upload is closed (made resumable) every this many bytes.
CHECKPOINT_SIZE = 64 * MiB
#: Modification times this close count as equal: S3 keeps whole seconds
#: (a copy finished in the source's second looks older than it), local
#: filesystems stamp files with a clock ticking every few milliseconds, and
#: two stores' clocks differ.
MODIFY_WINDOW = 1.0
#: More threads than this is a typo, not a plan.
MAX_JOBS = 256


def _options(
    *,
    jobs: int,
    verify: bool,
    dry_run: bool,
    chunk_size: int,
    small_file_size: int,
    checkpoint_size: int,
) -> Options:
    for name, value, low, high in (
        ("jobs", jobs, 1, MAX_JOBS),
        ("chunk_size", chunk_size, 1, 1024 * MiB),
        ("small_file_size", small_file_size, 0, 1024 * MiB),
        ("checkpoint_size", checkpoint_size, 1, 2**63 - 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise TransferError(f"{name} must be an int from {low} to {high}, not {value!r}")
    return Options(jobs, verify, dry_run, chunk_size, small_file_size, checkpoint_size)


def _window(seconds: float) -> dt.timedelta:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 1e6:
        raise TransferError(f"modify_window must be seconds from 0, not {seconds!r}")
    return dt.timedelta(seconds=seconds)


def copy(
    src: StorageDriver,
    src_path: str,
    dst: StorageDriver,
    dst_path: str,
    *,
    jobs: int = 4,
    verify: bool = True,
    dry_run: bool = False,
    force: bool = False,
    modify_window: float = MODIFY_WINDOW,
    progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
    small_file_size: int = SMALL_FILE_SIZE,
    checkpoint_size: int = CHECKPOINT_SIZE,
) -> TransferSummary:
    """Copy what is at `src_path` in `src` to `dst_path` in `dst`.

    A directory's contents go into `dst_path`; a file goes to `dst_path`.
    Files already at the destination with the same size and a modification
    time not older than the source's (within `modify_window` seconds) are
    skipped (so rerunning an
    interrupted copy resumes it) unless `force`. Returns a summary; a file
    that failed is listed in its `errors` and did not stop the others.

    Raises `SourceNotFoundError` (a `PathNotFoundError`) when `src_path`
    does not exist, `TransferError` for arguments that cannot work (a
    directory onto a file, overlapping paths in one store, a bad `jobs`),
    `InvalidPathError` for an invalid path.
    """
    options = _options(
        jobs=jobs,
        verify=verify,
        dry_run=dry_run,
        chunk_size=chunk_size,
        small_file_size=small_file_size,
        checkpoint_size=checkpoint_size,
    )
    plan = make_plan(
        src,
        src_path,
        dst,
        dst_path,
        force=force,
        checksum=False,
        delete=False,
        modify_window=_window(modify_window),
    )
    return run(src, dst, plan, options, progress)


def sync(
    src: StorageDriver,
    src_path: str,
    dst: StorageDriver,
    dst_path: str,
    *,
    delete: bool = False,
    checksum: bool = False,
    jobs: int = 4,
    verify: bool = True,
    dry_run: bool = False,
    modify_window: float = MODIFY_WINDOW,
    progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
    small_file_size: int = SMALL_FILE_SIZE,
    checkpoint_size: int = CHECKPOINT_SIZE,
) -> TransferSummary:
    """Make `dst_path` in `dst` hold what `src_path` in `src` holds.

    Files already equal are skipped: by default, same size and a
    destination not older than the source, within `modify_window` seconds
    (so a sync with nothing to do reads no file contents); with `checksum`,
    files of the same size are compared by sha256 of both sides whatever
    their times. With `delete`,
    destination files the source lacks are removed, after the copies, and
    only if no file failed. `dry_run` reports in `summary.actions` (and in
    "planned" events) what would be done, and writes nothing.

    Raises as `copy` does.
    """
    options = _options(
        jobs=jobs,
        verify=verify,
        dry_run=dry_run,
        chunk_size=chunk_size,
        small_file_size=small_file_size,
        checkpoint_size=checkpoint_size,
    )
    plan = make_plan(
        src,
        src_path,
        dst,
        dst_path,
        force=False,
        checksum=checksum,
        delete=delete,
        modify_window=_window(modify_window),
    )
    return run(src, dst, plan, options, progress)
