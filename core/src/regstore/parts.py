"""A writer that sends its upload as numbered parts, in parallel, retry-safe.

Object stores publish a large upload from pieces: S3 multipart parts, Azure
blocks, GCS part objects composed at the end. The way a writer feeds those
pieces is the same everywhere, so it lives here once and a driver supplies
only the store's requests (`send_part`, `persist`, `publish`, `discard`):

- the caller's bytes fill a buffer of exactly `part_size`; a full buffer is
  handed to a per-writer thread pool as part n (1, 2, ...) while the caller
  keeps writing. A semaphore keeps at most `concurrency` parts in flight, so
  the writer holds at most part_size x (concurrency + 1) bytes;
- a part whose background send fails keeps its buffer (it takes the place of
  the buffer the writer would fill next, so memory stays bounded); the next
  `write()` reports the failure and the writer then takes no more data;
  `close()` and `commit()` send the kept parts again under their own numbers
  before anything else, so a record never names a part that is not there.
  Sending a part under the same number again must replace it on the store
  (S3 part numbers, Azure block ids, GCS object names all do), which is what
  makes a retry after an ambiguous failure safe;
- the buffer holding the tail (the bytes that do not fill a part) is freed
  only when close, commit or cancel succeeds: a failure leaves everything a
  retry needs. `sent_tail()` sends the tail as the final short part once per
  (number, length), so a retried commit reuses it;
- `size` is exactly the parts counted plus the tail, so `close()` persists
  exactly the bytes `write()` accepted, also after a failed write.

Resume is the driver's: it reads its record and builds the writer with the
confirmed parts and the tail; parts a dead writer sent after its last close
are numbered above the record's count and get replaced.
"""

from __future__ import annotations

import abc
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ClassVar, Generic, TypeVar

from regstore.driver import Buffer, FileWriter
from regstore.errors import StorageDriverError

__all__ = ["PartWriter"]

#: What a driver keeps of a confirmed part (an S3 ETag entry, an Azure block
#: id, a GCS object name with its generation).
P = TypeVar("P")


class PartWriter(FileWriter, Generic[P], abc.ABC):
    """See the module docstring. Subclasses implement `send_part`,
    `persist`, `publish` and `discard`, and may override `prepare`,
    `check_publish` and `after_publish`."""

    #: The store's limit on the parts of one upload; a write that would
    #: exceed it fails before sending anything, naming `part_parameter`.
    max_parts: ClassVar[int] = 10_000
    #: What the store calls a part, for messages ("part", "block").
    part_noun: ClassVar[str] = "part"
    #: The driver parameter that sets the part size, for messages.
    part_parameter: ClassVar[str] = "chunksize"

    def __init__(
        self,
        path: str,
        *,
        part_size: int,
        concurrency: int,
        parts: dict[int, P] | None = None,
        tail: bytes = b"",
        thread_name: str = "regstore-upload",
    ) -> None:
        if part_size < 1 or concurrency < 1:
            raise ValueError(
                f"part_size and concurrency must be positive: {part_size}, {concurrency}"
            )
        if len(tail) > part_size:
            raise ValueError(f"a tail of {len(tail)} bytes does not fit a part of {part_size}")
        self.path = path
        self.part_size = part_size
        self.concurrency = concurrency
        #: Parts the store confirmed, by number.
        self.parts: dict[int, P] = dict(parts or {})
        missing = [n for n in range(1, len(self.parts) + 1) if n not in self.parts]
        if missing:
            raise ValueError(f"parts must be numbered 1..n; missing {missing[:5]}")
        #: Parts whose send failed, kept to be sent again by close/commit.
        self._kept: dict[int, bytearray] = {}
        #: The number the part being filled will get; parts below it are
        #: confirmed, in flight or kept.
        self._next_part = len(self.parts) + 1
        self._buffer = bytearray(part_size)
        self._buffer[: len(tail)] = tail
        self._filled = len(tail)
        self._thread_name = thread_name
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        #: The first background failure no write() has reported yet.
        self._failure: tuple[int, BaseException] | None = None
        #: A write() raised: the writer takes no more data.
        self._write_failed = False
        #: publish() succeeded; only after_publish() may still fail.
        self.published = False
        self._tail_sent: tuple[int, int, P] | None = None
        self._finished_size: int | None = None

    # -- what a driver implements --------------------------------------------

    def prepare(self) -> None:
        """Called in the caller's thread before the first part is handed to
        the pool (S3 creates its multipart upload here). A failure leaves
        the full buffer counted, for close() to persist."""

    @abc.abstractmethod
    def send_part(self, number: int, body: bytes | bytearray) -> P:
        """Send one part (from any thread); sending the same number again
        must replace it. Returns what publish needs of it."""

    @abc.abstractmethod
    def persist(self, parts: list[P], tail: bytes) -> None:
        """close(): record, atomically, what a resume needs: parts 1..n (all
        confirmed, in order) and the tail."""

    @abc.abstractmethod
    def publish(self, parts: list[P], tail: bytes) -> None:
        """commit(): make parts 1..n plus the tail the content at the path,
        atomically. It may call `sent_tail()` to send the tail as part
        n+1. A failure must leave a retry able to publish."""

    @abc.abstractmethod
    def discard(self) -> None:
        """cancel(): remove every part and record of this upload."""

    def check_publish(self) -> None:
        """Raise when this writer must not publish (a newer writer took the
        path over); called by commit() before anything is sent."""

    def after_publish(self) -> None:
        """Cleanup after publish (records, leftover parts); a retried commit
        repeats it until it succeeds."""

    # -- FileWriter ------------------------------------------------------------

    @property
    def size(self) -> int:
        if self._finished_size is not None:
            return self._finished_size
        return (self._next_part - 1) * self.part_size + self._filled

    @property
    def part_count(self) -> int:
        """Parts 1..n that are full (confirmed, in flight or kept)."""
        return self._next_part - 1

    def write(self, data: Buffer) -> int:
        if self._write_failed or self.published or self._finished_size is not None:
            raise StorageDriverError(
                f"write {self.path}: the writer takes no more data after a failed write, "
                f"a commit or a close; close() keeps the {self.size} bytes accepted"
            )
        view = memoryview(data).cast("B")
        total = len(view)
        limit = self.max_parts * self.part_size
        if self.size + total > limit:
            raise StorageDriverError(
                f"write {self.path}: the upload would exceed {self.max_parts} "
                f"{self.part_noun}s of {self.part_parameter}={self.part_size} bytes "
                f"({limit} bytes); raise {self.part_parameter}"
            )
        try:
            self._raise_failure()
            taken = 0
            while taken < total:
                if self._filled == self.part_size:
                    # A full buffer left by a failed hand-over: send it first.
                    self._hand_over()
                n = min(self.part_size - self._filled, total - taken)
                self._buffer[self._filled : self._filled + n] = view[taken : taken + n]
                self._filled += n
                taken += n
                if self._filled == self.part_size:
                    self._hand_over()
        except BaseException:
            # `size` counts exactly the bytes taken before the failure, and
            # close() persists exactly those.
            self._write_failed = True
            raise
        return total

    def close(self) -> None:
        self.settle()
        if self._filled == self.part_size:
            # A full part left over by a failed hand-over: a part, not a tail.
            self._send_buffer_now()
        self.persist(self.confirmed_parts(), self.tail)
        self._finish()

    def commit(self) -> None:
        if not self.published:
            self.check_publish()
            self.settle()
            self.publish(self.confirmed_parts(), self.tail)
            self.published = True
        self.after_publish()
        self._finish()

    def cancel(self) -> None:
        self._wait_pending()
        self.discard()
        self._finish()

    # -- for subclasses ----------------------------------------------------------

    @property
    def tail(self) -> bytes:
        """The bytes after the last full part (a copy)."""
        return bytes(memoryview(self._buffer)[: self._filled])

    def confirmed_parts(self) -> list[P]:
        """Parts 1..n in order; only valid after `settle()`."""
        count = self._next_part - 1
        missing = [n for n in range(1, count + 1) if n not in self.parts]
        if missing:  # a bug, not a store failure: never name absent parts
            raise StorageDriverError(
                f"{self.path}: {self.part_noun}s {missing[:5]} are not confirmed"
            )
        return [self.parts[n] for n in range(1, count + 1)]

    def sent_tail(self) -> P:
        """Send the tail as part n+1, once per (number, length): the buffer
        only grows, so the same number and length mean the same bytes, and
        a retried commit reuses the part it already sent."""
        number, length = self._next_part, self._filled
        if self._tail_sent is not None and self._tail_sent[:2] == (number, length):
            return self._tail_sent[2]
        entry = self.send_part(number, self.tail)
        self._tail_sent = (number, length, entry)
        return entry

    def settle(self) -> None:
        """Wait for the parts in flight, then send the kept ones again under
        their own numbers; raises (keeping what is still unsent) if that
        fails. Afterwards parts 1..n are all confirmed."""
        self._wait_pending()
        with self._lock:
            kept = sorted(self._kept.items())
        for number, body in kept:
            entry = self.send_part(number, body)
            with self._lock:
                self.parts[number] = entry
                del self._kept[number]
        with self._lock:
            if not self._kept:
                self._failure = None

    # -- internals -----------------------------------------------------------------

    def _hand_over(self) -> None:
        """Hand the full buffer to the pool. A failure before the hand-over
        (prepare, or an earlier part's failure) leaves the buffer full and
        counted, for close() to persist."""
        self.prepare()
        # Wait for a slot before allocating the next buffer: at most
        # `concurrency` parts in flight plus the one being filled.
        self._slots.acquire()
        try:
            self._raise_failure()
        except BaseException:
            self._slots.release()
            raise
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self._thread_name)
        part, number = self._buffer, self._next_part
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._pool.submit(self._send_in_slot, number, part))
        self._next_part += 1
        self._buffer = bytearray(self.part_size)
        self._filled = 0

    def _send_in_slot(self, number: int, body: bytearray) -> None:
        """A background send: on failure the part's buffer is kept (its
        slot's memory moves to the kept part) for close/commit to send
        again, and the next write() reports the failure."""
        try:
            entry = self.send_part(number, body)
        except BaseException as err:  # noqa: BLE001  (kept and reported by write/close)
            with self._lock:
                self._kept[number] = body
                if self._failure is None:
                    self._failure = (number, err)
        else:
            with self._lock:
                self.parts[number] = entry
        finally:
            self._slots.release()

    def _send_buffer_now(self) -> None:
        """Send the full buffer as the next part, in this thread."""
        self.prepare()
        entry = self.send_part(self._next_part, self._buffer)
        with self._lock:
            self.parts[self._next_part] = entry
        self._next_part += 1
        self._filled = 0

    def _raise_failure(self) -> None:
        with self._lock:
            failure = self._failure
        if failure is not None:
            number, err = failure
            raise StorageDriverError(
                f"write {self.path}: sending {self.part_noun} {number} failed: "
                f"{type(err).__name__}: {err}; close() keeps the bytes accepted, cancel() "
                "discards them"
            ) from err

    def _wait_pending(self) -> None:
        for future in self._pending:
            future.exception()
        self._pending = []

    def _finish(self) -> None:
        """Free the buffer and the pool; `size` keeps its last value. Only
        after a success: a failed operation keeps everything for a retry."""
        if self._finished_size is None:
            self._finished_size = self.size
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._buffer = bytearray()
        self._filled = 0
        self._kept.clear()
