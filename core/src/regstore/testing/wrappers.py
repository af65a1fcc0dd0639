"""A writer that hands every call to another, for tests that change one
step of a driver's writer (a broken driver, a writer that counts or fails)
without writing the other four again."""

from __future__ import annotations

from regstore.driver import Buffer, FileWriter

__all__ = ["ForwardingWriter"]


class ForwardingWriter(FileWriter):
    """`inner`'s writer, unchanged; subclasses override what they alter."""

    def __init__(self, inner: FileWriter) -> None:
        self._inner = inner

    @property
    def size(self) -> int:
        return self._inner.size

    def write(self, data: Buffer) -> int:
        return self._inner.write(data)

    def close(self) -> None:
        self._inner.close()

    def commit(self) -> None:
        self._inner.commit()

    def cancel(self) -> None:
        self._inner.cancel()
