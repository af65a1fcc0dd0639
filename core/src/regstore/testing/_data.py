"""Deterministic test data that never has to sit in memory whole.

distribution's suite keeps one 128 MiB random buffer and slices it; that
cannot scale to its own 5 GiB stream without holding 5 GiB. Here a
`Payload` is a recipe instead: one random block per seed, and block `i` of
the payload is that block rotated by an offset unique to `i`. Any byte range
can be regenerated on demand, by the test, a benchmark or a child process,
at the cost of one copy per block (cheap enough for benchmarks to generate
GiB streams on the fly); every block differs from every other at almost
every byte, so reordered, repeated or shifted data is caught; content is
compared block by block or by sha256 rather than against a stored copy.
"""

from __future__ import annotations

import functools
import hashlib
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

__all__ = [
    "BLOCK",
    "Payload",
    "assert_bytes_equal",
    "assert_stream_equals",
    "random_bytes",
    "random_name",
    "random_path",
    "sha256_of_reader",
]

#: The generation unit; also the default piece size when writing and reading.
BLOCK = 1 << 20

_NAME_CHARS = string.ascii_lowercase + string.digits
#: Block i is the seed's block rotated by i * _SPREAD (mod BLOCK); the factor
#: is odd, so the first BLOCK blocks (1 TiB) all get different rotations.
_SPREAD = 0x9E3779B1


@functools.lru_cache(maxsize=16)
def _seed_block(seed: str) -> bytes:
    return random.Random(seed).randbytes(BLOCK)


def random_bytes(size: int, seed: str | int | None = None) -> bytes:
    """`size` pseudo-random bytes; the same `seed` gives the same bytes."""
    return random.Random(seed).randbytes(size)


def random_name(rng: random.Random, length: int) -> str:
    """A path component of lowercase letters, digits and single dashes, as
    distribution's `randomFilename` makes them."""
    chars: list[str] = []
    was_separator = True
    for i in range(length):
        if not was_separator and i < length - 1 and rng.randrange(4) == 0:
            chars.append("-")
            was_separator = True
        else:
            chars.append(rng.choice(_NAME_CHARS))
            was_separator = False
    return "".join(chars)


def random_path(rng: random.Random, depth: int = 3, length: int = 8) -> str:
    """An absolute path of `depth` random components."""
    return "".join("/" + random_name(rng, length) for _ in range(depth))


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class Payload:
    """`size` deterministic pseudo-random bytes identified by `seed`."""

    seed: str
    size: int

    def _block(self, index: int) -> bytes:
        base = _seed_block(self.seed)
        shift = (index * _SPREAD) % BLOCK
        return base[shift:] + base[:shift]

    def chunks(
        self, start: int = 0, stop: int | None = None, piece: int = BLOCK
    ) -> Iterator[bytes]:
        """The bytes `[start, stop)` in pieces of at most `piece` bytes."""
        stop = self.size if stop is None else min(stop, self.size)
        position = start
        while position < stop:
            index, skip = divmod(position, BLOCK)
            block = self._block(index)
            end = min(BLOCK, skip + (stop - position))
            if skip == 0 and end == BLOCK and piece >= BLOCK:
                yield block  # a whole block: no further copy
                position += BLOCK
                continue
            view = memoryview(block)[skip:end]
            for offset in range(0, len(view), piece):
                yield bytes(view[offset : offset + piece])
            position += end - skip

    def buffer(self) -> bytearray:
        """The whole payload in one buffer, filled in place (for
        `put_content` of a large object: held once, not twice)."""
        whole = bytearray(self.size)
        offset = 0
        for chunk in self.chunks():
            whole[offset : offset + len(chunk)] = chunk
            offset += len(chunk)
        return whole

    def read(self, start: int = 0, stop: int | None = None) -> bytes:
        """The bytes `[start, stop)` in one piece (for small payloads)."""
        return b"".join(self.chunks(start, stop))

    def sha256(self, start: int = 0, stop: int | None = None) -> str:
        """The hex sha256 of the bytes `[start, stop)`, computed streaming."""
        digest = hashlib.sha256()
        for chunk in self.chunks(start, stop):
            digest.update(chunk)
        return digest.hexdigest()

    def write_to(
        self, sink: _Sink, start: int = 0, stop: int | None = None, piece: int = BLOCK
    ) -> int:
        """Write the bytes `[start, stop)` to `sink` in pieces; returns the
        count the sink reported taking."""
        total = 0
        for chunk in self.chunks(start, stop, piece):
            total += sink.write(chunk)
        return total


def sha256_of_reader(reader: BinaryIO, piece: int = BLOCK) -> tuple[str, int]:
    """The hex sha256 and the length of everything left in `reader`."""
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = reader.read(piece)
        if not chunk:
            return digest.hexdigest(), total
        digest.update(chunk)
        total += len(chunk)


def assert_stream_equals(reader: BinaryIO, payload: Payload, start: int = 0) -> None:
    """Assert that `reader` yields exactly `payload[start:]`, naming the
    first differing offset instead of dumping megabytes of bytes."""
    position = start
    for expected in payload.chunks(start):
        got = b""
        while len(got) < len(expected):
            more = reader.read(len(expected) - len(got))
            if not more:
                break
            got += more
        if got != expected:
            differ = next(
                (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                min(len(got), len(expected)),
            )
            raise AssertionError(
                f"content differs from the written payload at offset {position + differ} "
                f"(read {len(got)} of {len(expected)} bytes of this piece)"
            )
        position += len(expected)
    extra = reader.read(1)
    assert not extra, f"reader yields bytes past the end of the payload ({payload.size} bytes)"


def assert_bytes_equal(actual: bytes | None, expected: bytes, what: str = "content") -> None:
    """Assert `actual == expected`, saying where they differ. pytest's own
    report of a failed `==` on large bytes runs difflib over them, which
    takes minutes for a few hundred KiB: a failing suite must fail fast."""
    if actual == expected:
        return
    if actual is None:
        raise AssertionError(f"{what}: absent, expected {len(expected)} bytes")
    first = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    raise AssertionError(
        f"{what}: {len(actual)} bytes where {len(expected)} were expected; "
        f"they differ from byte {first}"
    )
