"""Moving the bytes: workers, resumable streaming, verification.

The design (why each step is so) is in the package docstring.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from regstore.driver import FileWriter, StorageDriver, UploadInfo
from regstore.errors import (
    PathNotFoundError,
    StorageDriverError,
    UnsupportedMethodError,
    UploadInUseError,
)
from regstore.transfer._model import (
    FileError,
    PlannedAction,
    ProgressCallback,
    TransferError,
    TransferEvent,
    TransferSummary,
    VerificationError,
)
from regstore.transfer._plan import Item, Plan

__all__ = ["Options", "run"]

log = logging.getLogger("regstore.transfer")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Options:
    """The knobs of a transfer (validated by the public functions)."""

    jobs: int
    verify: bool
    dry_run: bool
    chunk_size: int
    small_file_size: int
    checkpoint_size: int


class _Stopped(Exception):  # noqa: N818  (internal signal, never reaches a caller)
    """The transfer is being interrupted: a worker stops at its next chunk."""


class _Restart(Exception):  # noqa: N818
    """The resumed upload cannot continue (the source is shorter than it)."""


class _CallbackFailed(BaseException):
    """The progress callback raised `error`: carried past the per-file error
    handling (a display bug is not a file's failure) and re-raised as it was
    by `run`, after the workers stopped."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end (raw streams may return
    short reads)."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class _Run:
    def __init__(
        self,
        src: StorageDriver,
        dst: StorageDriver,
        options: Options,
        progress: ProgressCallback | None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.opt = options
        self.progress = progress
        self.summary = TransferSummary(dry_run=options.dry_run)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._uploads: dict[str, UploadInfo] | None = None
        self._uploads_lock = threading.Lock()

    # -- reporting ---------------------------------------------------------

    def emit(
        self, event: TransferEvent, update: Callable[[TransferSummary], None] | None = None
    ) -> None:
        """Update the summary and call the callback, atomically: a display
        and the summary never disagree, and callbacks never overlap."""
        with self.lock:
            if update is not None:
                update(self.summary)
            if self.progress is not None:
                try:
                    self.progress(event)
                except Exception as err:
                    self.stop.set()
                    raise _CallbackFailed(err) from err

    def fail(self, path: str, dest: str, size: int, err: Exception) -> None:
        def update(s: TransferSummary) -> None:
            s.files_failed += 1
            s.errors.append(FileError(path, dest, err))

        reason = FileError(path, dest, err).message
        log.warning("transfer of %s to %s failed: %s", path, dest, reason)
        self.emit(TransferEvent("failed", path, dest, size, reason=reason, error=err), update)

    def skip(self, item: Item, reason: str) -> None:
        def update(s: TransferSummary) -> None:
            s.files_skipped += 1
            s.bytes_skipped += item.size

        self.emit(TransferEvent("skipped", item.src, item.dest, item.size, reason=reason), update)

    def wrote(self, item: Item, nbytes: int) -> None:
        def update(s: TransferSummary) -> None:
            s.bytes_written += nbytes

        self.emit(TransferEvent("progress", item.src, item.dest, item.size, nbytes=nbytes), update)

    # -- the run -----------------------------------------------------------

    def run(self, plan: Plan) -> TransferSummary:
        started = time.monotonic()
        self.emit(
            TransferEvent(
                "scanned",
                files=len(plan.copies),
                size=sum(item.size for item in plan.copies),
            )
        )
        for item, reason in plan.skips:
            self.skip(item, reason)
        if self.opt.dry_run:
            self.dry_run(plan)
        else:
            self.parallel(plan.conflicts, self.delete_one)
            self.parallel(plan.copies, self.transfer_one)
            if plan.extras and self.summary.errors:
                # As rclone: after an error, an extra may be a file whose
                # listing or copy went wrong; keep it.
                self.summary.deletions_skipped = True
                log.warning("not deleting %d extra files: some files failed", len(plan.extras))
            else:
                self.parallel(plan.extras, self.delete_one)
        self.summary.elapsed = time.monotonic() - started
        return self.summary

    def dry_run(self, plan: Plan) -> None:
        for dest in plan.conflicts:
            self.plan_action(PlannedAction("delete", "", dest, 0))
        # Checksum mode compares content even in a dry run (reading, not
        # writing), on `jobs` threads; the actions keep the walk's order.
        same: set[str] = set()
        failed: set[str] = set()

        def compare(item: Item) -> None:
            try:
                equal = self.same_content(item)
            except _Stopped:
                return
            except Exception as err:  # noqa: BLE001  (one failed file must not stop the others)
                failed.add(item.dest)
                self.fail(item.src, item.dest, item.size, err)
                return
            if equal:
                same.add(item.dest)

        self.parallel([item for item in plan.copies if item.compare], compare)
        for item in plan.copies:
            if item.dest in same:
                self.skip(item, "same content")
            elif item.dest not in failed:
                self.plan_action(PlannedAction("copy", item.src, item.dest, item.size))
        for dest in plan.extras:
            self.plan_action(PlannedAction("delete", "", dest, 0))

    def plan_action(self, action: PlannedAction) -> None:
        def update(s: TransferSummary) -> None:
            s.actions.append(action)

        event = TransferEvent(
            "planned", action.path or action.dest, action.dest, action.size, action=action.action
        )
        self.emit(event, update)

    def parallel(self, items: list[_T], work: Callable[[_T], None]) -> None:
        """Run `work` over `items` on `jobs` threads, at most 2 x jobs queued.

        Workers record their own failures; what reaches here is a
        BaseException (KeyboardInterrupt, or one a callback raised): the
        other workers are then told to stop at their next chunk (closing
        their uploads, so a rerun resumes them) and it is re-raised."""
        if not items:
            return
        limit = self.opt.jobs * 2
        with cf.ThreadPoolExecutor(self.opt.jobs, thread_name_prefix="regstore-transfer") as pool:
            pending: set[cf.Future[None]] = set()
            try:
                for entry in items:
                    while len(pending) >= limit:
                        done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    pending.add(pool.submit(work, entry))
                for future in cf.as_completed(pending):
                    future.result()
            except BaseException:
                self.stop.set()
                for future in pending:
                    future.cancel()
                raise

    # -- one file ----------------------------------------------------------

    def delete_one(self, dest: str) -> None:
        if self.stop.is_set():
            return
        try:
            self.dst.delete(dest)
        except PathNotFoundError:
            pass  # gone already: the outcome asked for
        except Exception as err:  # noqa: BLE001  (one failed file must not stop the others)
            self.fail("", dest, 0, err)
            return

        def update(s: TransferSummary) -> None:
            s.files_deleted += 1

        self.emit(TransferEvent("deleted", dest, dest), update)

    def transfer_one(self, item: Item) -> None:
        if self.stop.is_set():
            return
        try:
            if item.compare and self.same_content(item):
                self.skip(item, "same content")
                return
            self.copy_file(item)
        except _Stopped:
            return
        except Exception as err:  # noqa: BLE001  (one failed file must not stop the others)
            self.fail(item.src, item.dest, item.size, err)
            return

        def update(s: TransferSummary) -> None:
            s.files_copied += 1
            s.bytes_copied += item.size

        self.emit(TransferEvent("finished", item.src, item.dest, item.size), update)

    def copy_file(self, item: Item) -> None:
        """Copy, verify, and after a failed verification of a resumed upload
        send the whole file again (the resumed prefix may be another version
        of the source); a second failure removes the destination file so the
        skip rule cannot take it for a finished copy."""
        resumed = False
        if item.size <= self.opt.small_file_size:
            self.emit(TransferEvent("started", item.src, item.dest, item.size))
            small = self.copy_small(item)
            if small is None:  # the source grew past the small size meanwhile
                digest, _ = self.copy_streamed(item, resume=False)
            else:
                digest = small
        else:
            digest, resumed = self.copy_streamed(item, resume=self.opt.verify)
        if not self.opt.verify:
            return
        actual = self.hash_of(self.dst, item.dest)
        if actual != digest and resumed:
            log.warning("resumed upload of %s did not verify; sending it whole", item.dest)
            digest, _ = self.copy_streamed(item, resume=False)
            actual = self.hash_of(self.dst, item.dest)
        if actual != digest:
            try:
                self.dst.delete(item.dest)
            except Exception:
                log.warning("could not remove unverified %s", item.dest, exc_info=True)
            raise VerificationError(
                item.dest, expected=digest, actual=actual, driver_name=self.dst.name
            )

    def copy_small(self, item: Item) -> str | None:
        """One read, one `put_content` (a single request on object stores).
        Returns the sha256, or None when the source is no longer small."""
        with self.src.reader(item.src) as stream:
            data = bytearray()
            while len(data) <= self.opt.small_file_size:
                chunk = stream.read(self.opt.chunk_size)
                if not chunk:
                    break
                data += chunk
        if len(data) > self.opt.small_file_size:
            return None
        self.check_stop()
        self.dst.put_content(item.dest, data)
        self.wrote(item, len(data))
        return hashlib.sha256(data).hexdigest()

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def open_writer(self, item: Item, resume: bool) -> tuple[FileWriter, int]:
        """The destination's upload: the one an interrupted run left (when
        resuming), else a new one (which discards any left over)."""
        if resume:
            try:
                writer = self.dst.writer(item.dest, append=True)
            except UploadInUseError:
                raise  # another transfer is writing this file right now
            except StorageDriverError:
                pass  # nothing to resume (PathNotFoundError), or committed content only
            else:
                if writer.size <= item.size and not self.stale(item):
                    return writer, writer.size
                # Longer than the source, or older than its last change:
                # the upload holds another version's bytes.
                writer.cancel()
        return self.dst.writer(item.dest), 0

    def stale(self, item: Item) -> bool:
        """Whether the source changed after the destination's upload was
        last touched (then its bytes are another version's). The uploads are
        listed once, on the first resume, where the driver can list them; a
        change the listing cannot show (the source changed while the
        interrupted run was still writing) is left to verification."""
        with self._uploads_lock:
            if self._uploads is None:
                try:
                    self._uploads = {
                        u.path: u for u in self.dst.list_uploads() if u.path is not None and u.ours
                    }
                except UnsupportedMethodError:
                    self._uploads = {}
                except StorageDriverError:
                    log.warning("cannot list the uploads of %s", self.dst.name, exc_info=True)
                    self._uploads = {}
            upload = self._uploads.get(item.dest)
        return upload is not None and item.mod_time > upload.modified

    def copy_streamed(self, item: Item, *, resume: bool) -> tuple[str, bool]:
        """Stream through the destination's writer, closing it every
        `checkpoint_size` bytes so an interruption loses at most that much.
        Returns (sha256 of the source bytes, whether it resumed)."""
        try:
            return self.stream_once(item, resume=resume)
        except _Restart:
            return self.stream_once(item, resume=False)

    def stream_once(self, item: Item, *, resume: bool) -> tuple[str, bool]:
        writer, offset = self.open_writer(item, resume)
        if offset:
            self.emit(
                TransferEvent("started", item.src, item.dest, item.size, offset=offset),
                _count_resumed,
            )
        else:
            self.emit(TransferEvent("started", item.src, item.dest, item.size))
        hasher = hashlib.sha256()
        chunk_size = self.opt.chunk_size
        live: FileWriter | None = writer
        try:
            # One reader from 0: the hash of the prefix already uploaded and
            # the bytes sent now come from one version of the source (a
            # reader never splices two), so verification compares the
            # destination with a real version of it.
            with self.src.reader(item.src) as stream:
                position = 0
                while position < offset:
                    chunk = _read_full(stream, min(chunk_size, offset - position))
                    if not chunk:  # the source is now shorter than the upload
                        writer.cancel()
                        live = None
                        raise _Restart
                    hasher.update(chunk)
                    position += len(chunk)
                since_checkpoint = 0
                while True:
                    self.check_stop()
                    chunk = _read_full(stream, chunk_size)
                    if not chunk:
                        break
                    hasher.update(chunk)
                    writer.write(chunk)
                    position += len(chunk)
                    since_checkpoint += len(chunk)
                    self.wrote(item, len(chunk))
                    if since_checkpoint >= self.opt.checkpoint_size:
                        writer.close()
                        live = None
                        writer = self.dst.writer(item.dest, append=True)
                        live = writer
                        if writer.size != position:
                            raise TransferError(
                                f"{self.dst.name}: resumed upload of {item.dest} holds "
                                f"{writer.size} bytes after a checkpoint at {position}"
                            )
                        since_checkpoint = 0
            writer.commit()
            live = None
        finally:
            if live is not None:
                # Keep what was sent, so a rerun resumes instead of resending.
                try:
                    live.close()
                except Exception:
                    log.warning("could not close the upload to %s", item.dest, exc_info=True)
        return hasher.hexdigest(), offset > 0

    def same_content(self, item: Item) -> bool:
        return self.hash_of(self.src, item.src, interruptible=True) == self.hash_of(
            self.dst, item.dest, interruptible=True
        )

    def hash_of(self, driver: StorageDriver, path: str, *, interruptible: bool = False) -> str:
        """The sha256 of what `path` holds. Verification is not
        interruptible: a committed file left unverified would pass the skip
        rule on the next run and never be checked."""
        hasher = hashlib.sha256()
        with driver.reader(path) as stream:
            while True:
                if interruptible:
                    self.check_stop()
                chunk = stream.read(self.opt.chunk_size)
                if not chunk:
                    return hasher.hexdigest()
                hasher.update(chunk)


def _count_resumed(summary: TransferSummary) -> None:
    summary.files_resumed += 1


def run(
    src: StorageDriver,
    dst: StorageDriver,
    plan: Plan,
    options: Options,
    progress: ProgressCallback | None,
) -> TransferSummary:
    """Carry out `plan`. An exception the progress callback raises stops
    the transfer (the workers close their uploads, so a rerun resumes) and
    reaches the caller unchanged."""
    try:
        return _Run(src, dst, options, progress).run(plan)
    except _CallbackFailed as failed:
        raise failed.error from None
