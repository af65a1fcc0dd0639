"""Benchmark: the azure driver against azure-storage-blob's own transfers and
adlfs, on one Azurite started here.

    .venv/bin/python benchmarks/azure.py [--size 1GiB] [--chunksize 8MiB]
        [--concurrency 4] [--rounds 2] [--adlfs-python /path/to/adlfs-venv/bin/python]
        [--azurite /path/to/node_modules]

One run writes and reads one stream of `--size` bytes three ways, with the
same block size and concurrency: the driver (writer/reader), the SDK's
upload_blob/download_blob (max_concurrency equal to the driver's
uploadconcurrency), and adlfs (run by `--adlfs-python`, the interpreter of
a separate environment, so a benchmark never pins the driver's
dependencies). Rounds are interleaved; the best of each is kept. Then it
writes once more through the driver under tracemalloc for the peak memory
the writer allocates, whose goal is chunksize x (concurrency + 1) + 64 MiB.
Goals: driver >= 1.0x the SDK and >= 1.5x adlfs on write.

Azurite comes from plugins/azure/node_modules (`npm ci` there), or from
`--azurite` / REGSTORE_AZURITE. It keeps everything in memory and grows
with each object (rough figures in shared/design/emulators.md), so objects
are deleted after each run.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

# This file is named like the SDK's top-level package `azure`: keep its own
# folder off the import path, or `import azure.storage.blob` finds it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

MIB = 1 << 20
BLOCK = os.urandom(16 * MIB)
WRITE = 1 * MIB
ACCOUNT = "devstoreaccount1"
#: Azurite's well-known development key (public, in Microsoft's docs).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_MAIN = Path("azurite") / "dist" / "src" / "blob" / "main.js"
REPO = Path(__file__).resolve().parent.parent


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
    """Counts written bytes and discards them; seekable, as the SDK's
    parallel download wants (it writes each range at its offset)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._pos = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = offset if whence == io.SEEK_SET else self._pos + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.count += n
        self._pos += n
        return n


def azurite_main(given: str | None) -> Path:
    """Azurite's blob server script."""
    candidates: list[Path] = []
    for base in (given, os.environ.get("REGSTORE_AZURITE")):
        if base:
            candidates += [Path(base), Path(base) / _MAIN, Path(base) / "node_modules" / _MAIN]
    candidates.append(REPO / "plugins" / "azure" / "node_modules" / _MAIN)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit("Azurite is not installed: run `npm ci` in plugins/azure, or pass --azurite")


def timed(label: str, size: int, run: Callable[[], None]) -> float:
    """Run once; print and return the rate in MiB/s."""
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    rate = size / MIB / seconds
    print(f"{label:<28} {rate:8.1f} MiB/s  ({seconds:.1f} s)", flush=True)
    return rate


def _size(value: str) -> int:
    """ "1GiB", "256MiB", "10485760" (the adlfs side has no regstore to parse it)."""
    match = re.fullmatch(r"(\d+)([KMG]iB)?", value.strip(), re.IGNORECASE)
    if not match:
        raise SystemExit(f"not a size: {value}")
    units = {None: 1, "kib": 1 << 10, "mib": MIB, "gib": 1 << 30}
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1)) * units[unit]


def _connection_string(service_url: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint={service_url};"
    )


def adlfs_only(service_url: str, container: str, args: argparse.Namespace) -> int:
    """The adlfs side, run by an interpreter that has adlfs (not regstore)."""
    size, chunk, conc, rounds = (
        _size(args.size),
        _size(args.chunksize),
        args.concurrency,
        args.rounds,
    )
    import adlfs  # type: ignore[import-not-found]  # noqa: PLC0415

    fs = adlfs.AzureBlobFileSystem(
        connection_string=_connection_string(service_url),
        blocksize=chunk,
        max_concurrency=conc,
    )

    def adlfs_write() -> None:
        source = PatternReader(size)
        buffer = bytearray(WRITE)
        with fs.open(f"{container}/adlfs", "wb", block_size=chunk) as out:
            while n := source.readinto(buffer):
                out.write(memoryview(buffer)[:n])

    def adlfs_read() -> None:
        with fs.open(f"{container}/adlfs", "rb", block_size=chunk) as stream:
            while stream.read(WRITE):
                pass

    best = {"adlfs_write": 0.0, "adlfs_read": 0.0}
    for _ in range(rounds):
        best["adlfs_write"] = max(best["adlfs_write"], timed("adlfs write", size, adlfs_write))
        best["adlfs_read"] = max(best["adlfs_read"], timed("adlfs read", size, adlfs_read))
        fs.rm(f"{container}/adlfs")
    for label, rate in best.items():
        print(f"RESULT {label} {rate}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--chunksize", default="8MiB")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--adlfs-python", help="python of a venv with adlfs, for the comparison")
    parser.add_argument("--azurite", help="node_modules holding azurite (or its blob main.js)")
    parser.add_argument(
        "--adlfs-only", nargs=2, metavar=("SERVICE_URL", "CONTAINER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    size, chunk, conc = _size(args.size), _size(args.chunksize), args.concurrency
    if args.adlfs_only:
        return adlfs_only(args.adlfs_only[0], args.adlfs_only[1], args)

    # Imported here: the adlfs side runs in an environment without them.
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415

    import regstore  # noqa: PLC0415
    from regstore.testing.services import start_service  # noqa: PLC0415

    main_js = azurite_main(args.azurite)

    def command(port: int) -> list[str]:
        return [
            shutil.which("node") or "node",
            str(main_js),
            *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
            *("--inMemoryPersistence", "--disableTelemetry", "--silent", "--skipApiVersionCheck"),
        ]

    with start_service("azurite", command, ready_path=f"/{ACCOUNT}?comp=list") as azurite:
        service_url = f"{azurite.endpoint}/{ACCOUNT}"
        container_name = f"bench-{uuid.uuid4().hex[:8]}"
        service = BlobServiceClient.from_connection_string(
            _connection_string(service_url),
            max_block_size=chunk,
            max_single_put_size=chunk,
            max_chunk_get_size=chunk,
            max_single_get_size=chunk,
        )
        container = service.create_container(container_name)
        driver = regstore.create(
            "azure",
            {
                "accountname": ACCOUNT,
                "accountkey": KEY,
                "container": container_name,
                "serviceurl": service_url,
                "chunksize": chunk,
                "uploadconcurrency": conc,
            },
        )
        print(f"size {size / MIB:.0f} MiB, block {chunk / MIB:.0f} MiB, concurrency {conc}")

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

        def sdk_write() -> None:
            container.upload_blob(
                "sdk", PatternReader(size), length=size, overwrite=True, max_concurrency=conc
            )

        def sdk_read() -> None:
            sink = Sink()
            container.download_blob("sdk", max_concurrency=conc).readinto(cast("IO[bytes]", sink))
            assert sink.count == size

        results: dict[str, float] = {}
        runs = {
            "driver write": driver_write,
            "driver read": driver_read,
            "sdk write": sdk_write,
            "sdk read": sdk_read,
        }
        for round_ in range(1, args.rounds + 1):
            # Interleaved rounds, best of each: Azurite's speed drifts as
            # its memory grows, and no side should get only the fresh server.
            print(f"round {round_}")
            for label, run in runs.items():
                results[label] = max(results.get(label, 0.0), timed(label, size, run))
            driver.delete("/bench")
            container.delete_blob("sdk")
        if args.adlfs_python:
            out = subprocess.run(
                [
                    args.adlfs_python,
                    __file__,
                    *("--adlfs-only", service_url, container_name),
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
            print("adlfs: pass --adlfs-python PATH (a venv with adlfs) to compare")
        ok = True
        for op in ("write", "read"):
            ratio = results[f"driver {op}"] / results[f"sdk {op}"]
            line = f"driver/sdk {op}: {ratio:.2f}x" + (" (goal >= 1.0x)" if op == "write" else "")
            if f"adlfs {op}" in results:
                adlfs_ratio = results[f"driver {op}"] / results[f"adlfs {op}"]
                line += f"; driver/adlfs: {adlfs_ratio:.2f}x"
                line += " (goal >= 1.5x)" if op == "write" else ""
            print(line)

        tracemalloc.start()
        driver_write("/bench/memory")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        bound = chunk * (conc + 1) + 64 * MIB
        ok = ok and peak <= bound
        print(
            f"driver write peak allocations {peak / MIB:.1f} MiB "
            f"(goal <= chunksize x (concurrency + 1) + 64 MiB = {bound / MIB:.0f} MiB)"
        )
        driver.delete("/bench")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
