"""What a transfer reports: its events, its summary and its errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from regstore.errors import PathNotFoundError, RegstoreError

__all__ = [
    "EventKind",
    "FileError",
    "PlannedAction",
    "ProgressCallback",
    "SourceNotFoundError",
    "TransferError",
    "TransferEvent",
    "TransferSummary",
    "VerificationError",
]

#: - "scanned": both sides are listed; `files` and `size` are what will be
#:   sent (checksum mode may still skip some). Emitted once, first.
#: - "planned": dry run only, one per action (`action` "copy" or "delete").
#: - "started": a file begins; `offset` is where its destination upload
#:   resumed (0 for a fresh one). A file sent again whole (its resumed
#:   upload did not verify, or the source grew past the small-file size
#:   while being read) starts again; its "progress" counts both sends.
#: - "progress": `nbytes` more bytes were written to the destination.
#: - "finished", "skipped" (`reason` says why), "failed" (`error`),
#:   "deleted" (sync with delete: `dest` removed).
EventKind = Literal[
    "scanned", "planned", "started", "progress", "finished", "skipped", "failed", "deleted"
]


@dataclass(frozen=True, slots=True)
class TransferEvent:
    """One step of a transfer, for a progress display.

    Sum `nbytes` of "progress" events for bytes sent (a rate, an ETA
    against "scanned"'s `size`); count "finished", "skipped" and "failed"
    for files. Events come from worker threads but the callback is called
    under a lock, one event at a time, so it need not be thread-safe; keep
    it quick. An exception it raises stops the whole transfer (every worker
    closes its upload, so a rerun resumes) and reaches the caller of `copy`
    or `sync` as it was raised.
    """

    kind: EventKind
    #: The source path of the file ("" for "scanned"; for "deleted" and a
    #: planned delete, the destination path).
    path: str = ""
    #: The destination path of the file.
    dest: str = ""
    #: The file's size as listed; for "scanned", the bytes to send in all.
    size: int = 0
    #: "progress": bytes written by this step.
    nbytes: int = 0
    #: "scanned": how many files will be sent.
    files: int = 0
    #: "started": the offset a resumed destination upload continues from:
    #: bytes already there, which a progress bar counts as done (they are
    #: in "scanned"'s `size` but no "progress" event reports them).
    offset: int = 0
    #: "planned": "copy" or "delete".
    action: str = ""
    #: "skipped": why ("up to date", "same content"); "failed": the message.
    reason: str = ""
    #: "failed": the error.
    error: Exception | None = None


ProgressCallback = Callable[[TransferEvent], None]


@dataclass(frozen=True, slots=True)
class FileError:
    """A file that could not be transferred (or deleted); the others went on."""

    #: The source path ("" for a failed delete).
    path: str
    #: The destination path.
    dest: str
    error: Exception

    @property
    def message(self) -> str:
        """The error as one line: regstore errors name their driver already;
        others get their type name so "KeyError: 'x'" stays readable."""
        if isinstance(self.error, RegstoreError):
            return str(self.error)
        return f"{type(self.error).__name__}: {self.error}"


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """What a dry run would do."""

    action: Literal["copy", "delete"]
    #: The source path ("" for a delete).
    path: str
    dest: str
    size: int


@dataclass
class TransferSummary:
    """The outcome of `copy` or `sync`."""

    dry_run: bool = False
    files_copied: int = 0
    #: The sizes of the files copied, as listed.
    bytes_copied: int = 0
    #: Bytes actually written to the destination: less than `bytes_copied`
    #: when uploads resumed, more when a file was sent again after a failed
    #: verification. The "progress" events add up to it.
    bytes_written: int = 0
    #: Files whose destination upload was resumed rather than restarted.
    files_resumed: int = 0
    files_skipped: int = 0
    bytes_skipped: int = 0
    files_failed: int = 0
    files_deleted: int = 0
    #: Sync with delete: extras were kept because some file failed (as
    #: rclone does: a failed listing or copy must not cost data).
    deletions_skipped: bool = False
    errors: list[FileError] = field(default_factory=list)
    #: Dry run: what would be done, in order.
    actions: list[PlannedAction] = field(default_factory=list)
    #: Wall-clock seconds.
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.errors


class TransferError(RegstoreError):
    """A copy or sync cannot start (bad arguments, overlapping trees), or a
    file's transfer failed in a way no driver reported."""


class SourceNotFoundError(PathNotFoundError):
    """The source path of a copy or sync does not exist."""

    def __init__(self, path: str, *, driver_name: str = "") -> None:
        super().__init__(path, driver_name=driver_name, detail=f"transfer source not found: {path}")


class VerificationError(TransferError):
    """What was written does not read back as the source's bytes."""

    def __init__(self, dest: str, *, expected: str, actual: str, driver_name: str = "") -> None:
        self.dest = dest
        self.expected = expected
        self.actual = actual
        where = f"{driver_name}:{dest}" if driver_name else dest
        super().__init__(
            f"verification failed for {where}: sha256 {actual[:16]}... read back, "
            f"{expected[:16]}... sent; the destination file was removed"
        )
