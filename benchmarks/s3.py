"""Benchmark: the s3 driver against boto3's TransferManager and s3fs, on one
moto server started here.

    .venv/bin/python benchmarks/s3.py [--size 1GiB] [--chunksize 10MiB] [--concurrency 4]
        [--rounds 2] [--s3fs-python /path/to/s3fs-venv/bin/python]

One run writes and reads one stream of `--size` bytes three ways, with the
same part size and concurrency: the driver (writer/reader), boto3's
upload_fileobj/download_fileobj, and s3fs (run by `--s3fs-python`, the
interpreter of a separate environment, since s3fs's aiobotocore pins an
older botocore than the driver's). Rounds are interleaved; the best of each
is kept. Then it writes once
more through the driver under tracemalloc for the peak memory the writer
allocates, whose goal is chunksize x (concurrency + 1) + 64 MiB. Goals:
driver >= 1.0x boto3 and >= 1.5x s3fs.
"""

from __future__ import annotations

import argparse
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
KEY, SECRET = "bench", "bench-secret"  # moto checks no credentials


class PatternReader(io.RawIOBase):
    """`size` bytes of a repeated random block, as a readable stream."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

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


def moto_command(port: int) -> list[str]:
    """moto's server on loopback, from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]


def timed(label: str, size: int, run: Callable[[], None]) -> float:
    """Run once; print and return the rate in MiB/s."""
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    rate = size / MIB / seconds
    print(f"{label:<28} {rate:8.1f} MiB/s  ({seconds:.1f} s)", flush=True)
    return rate


def s3fs_only(endpoint: str, bucket: str, args: argparse.Namespace) -> int:
    """The s3fs side, run by an interpreter that has s3fs (not regstore)."""
    size, chunk, conc, rounds = (
        _size(args.size),
        _size(args.chunksize),
        args.concurrency,
        args.rounds,
    )
    import s3fs  # type: ignore[import-not-found]  # noqa: PLC0415

    fs = s3fs.S3FileSystem(
        key=KEY,
        secret=SECRET,
        client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"},
        default_block_size=chunk,
        max_concurrency=conc,
    )

    def s3fs_write() -> None:
        source = PatternReader(size)
        buffer = bytearray(WRITE)
        with fs.open(f"{bucket}/s3fs", "wb", block_size=chunk) as out:
            while n := source.readinto(buffer):
                out.write(memoryview(buffer)[:n])

    def s3fs_read() -> None:
        with fs.open(f"{bucket}/s3fs", "rb", block_size=chunk) as stream:
            while stream.read(WRITE):
                pass

    best = {"s3fs_write": 0.0, "s3fs_read": 0.0}
    for _ in range(rounds):
        best["s3fs_write"] = max(best["s3fs_write"], timed("s3fs write", size, s3fs_write))
        best["s3fs_read"] = max(best["s3fs_read"], timed("s3fs read", size, s3fs_read))
        fs.rm(f"{bucket}/s3fs")
    for label, rate in best.items():
        print(f"RESULT {label} {rate}")
    return 0


def _size(value: str) -> int:
    """ "1GiB", "256MiB", "10485760" (the s3fs side has no regstore to parse it)."""
    match = re.fullmatch(r"(\d+)([KMG]iB)?", value.strip(), re.IGNORECASE)
    if not match:
        raise SystemExit(f"not a size: {value}")
    units = {None: 1, "kib": 1 << 10, "mib": MIB, "gib": 1 << 30}
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1)) * units[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--chunksize", default="10MiB")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--s3fs-python", help="python of a venv with s3fs, for the comparison")
    parser.add_argument(
        "--s3fs-only", nargs=2, metavar=("ENDPOINT", "BUCKET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    size, chunk, conc = _size(args.size), _size(args.chunksize), args.concurrency
    if args.s3fs_only:
        return s3fs_only(args.s3fs_only[0], args.s3fs_only[1], args)

    # Imported here: the s3fs side runs in an environment without them.
    import boto3  # noqa: PLC0415
    from boto3.s3.transfer import TransferConfig  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    import regstore  # noqa: PLC0415
    from regstore.testing.services import start_service  # noqa: PLC0415

    with start_service("moto_server", moto_command) as moto:
        endpoint = moto.endpoint
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        creds = {"aws_access_key_id": KEY, "aws_secret_access_key": SECRET}
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=conc * 4),
            **creds,
        )
        client.create_bucket(Bucket=bucket)
        driver = regstore.create(
            "s3",
            {
                "bucket": bucket,
                "regionendpoint": endpoint,
                "forcepathstyle": True,
                "accesskey": KEY,
                "secretkey": SECRET,
                "chunksize": chunk,
                "uploadconcurrency": conc,
                # The same wire protocol as the baselines, whose botocore
                # defaults send CRC32 checksums (the driver's default omits
                # them for stores that reject them). It matters here: moto
                # computes a full-object CRC64 at Complete when an upload
                # declares no checksum, a second per GiB.
                "checksums": "when_supported",
            },
        )
        print(
            f"size {size / MIB:.0f} MiB, part {chunk / MIB:.0f} MiB, concurrency {conc}, "
            "CRC32 checksums on every side (botocore's default;"
            " the driver's checksums=when_supported)"
        )

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

        transfer = TransferConfig(
            multipart_threshold=chunk, multipart_chunksize=chunk, max_concurrency=conc
        )

        def boto3_write() -> None:
            client.upload_fileobj(PatternReader(size), bucket, "boto3", Config=transfer)

        def boto3_read() -> None:
            sink = Sink()
            client.download_fileobj(bucket, "boto3", sink, Config=transfer)
            assert sink.count == size

        results: dict[str, float] = {}
        runs = {
            "driver write": driver_write,
            "driver read": driver_read,
            "boto3 write": boto3_write,
            "boto3 read": boto3_read,
        }
        for round_ in range(1, args.rounds + 1):
            # Interleaved rounds, best of each: moto's speed drifts as its
            # memory grows, and no side should get only the fresh server.
            print(f"round {round_}")
            for label, run in runs.items():
                results[label] = max(results.get(label, 0.0), timed(label, size, run))
            driver.delete("/bench")
            client.delete_object(Bucket=bucket, Key="boto3")
        if args.s3fs_python:
            # s3fs in its own environment (its aiobotocore pins an older
            # botocore), against the same server and bucket.
            out = subprocess.run(
                [
                    args.s3fs_python,
                    __file__,
                    *("--s3fs-only", endpoint, bucket),
                    *("--size", str(size), "--chunksize", str(chunk)),
                    *("--concurrency", str(conc), "--rounds", str(args.rounds)),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            print(out, end="")
            for line in out.splitlines():
                if line.startswith("RESULT "):
                    _, label, rate = line.split(" ", 2)
                    results[label.replace("_", " ")] = float(rate)
        else:
            print("s3fs: pass --s3fs-python PATH (a venv with s3fs) to compare")
        for op in ("write", "read"):
            ratio = results[f"driver {op}"] / results[f"boto3 {op}"]
            line = f"driver/boto3 {op}: {ratio:.2f}x (goal >= 1.0x)"
            if f"s3fs {op}" in results:
                line += f"; driver/s3fs: {results[f'driver {op}'] / results[f's3fs {op}']:.2f}x"
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
