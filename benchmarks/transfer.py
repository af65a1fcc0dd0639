"""Benchmark: `regstore copy` against `rclone copy`, filesystem to s3 (moto).

    .venv/bin/python benchmarks/transfer.py [--files 2000] [--large 3] [--large-size 64MiB]
        [--jobs 8] [--rounds 2] [--rclone rclone]

One tree (a registry's shape: `--files` small blobs of 0-4 KiB and `--large`
files of `--large-size`) is written to a temporary directory, then copied to
a moto server started here, into a fresh prefix each time, by:

- regstore's `copy` (the library `regstore copy` runs), with verification
  (every file read back and compared by sha256, the default) and without;
- `rclone copy --transfers J --checkers J` (Debian's rclone, an `s3` remote
  with provider Other and path-style addressing), which does not read back.

Rounds are interleaved and the best of each kept (moto's speed drifts as it
fills). Printed: seconds, MiB/s, files/s and the ratio of each to rclone.
Goal: regstore without verification at least 1.0x rclone.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

MIB = 1 << 20
KEY, SECRET = "bench", "bench-secret"  # moto checks no credentials


def _size(value: str) -> int:
    from regstore.params import parse_size  # noqa: PLC0415

    return parse_size(value)


def make_tree(root: Path, files: int, large: int, large_size: int) -> int:
    """The source tree; returns its bytes."""
    rng = random.Random(1)
    total = 0
    for index in range(files):
        path = root / f"docker/registry/v2/blobs/sha256/{index % 64:02x}/{index:06d}/data"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randrange(0, 4096))
        path.write_bytes(data)
        total += len(data)
    block = os.urandom(16 * MIB)
    for index in range(large):
        path = root / f"docker/registry/v2/blobs/large/{index}/data"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            left = large_size
            while left:
                piece = block[: min(left, len(block))]
                out.write(piece)
                left -= len(piece)
        total += large_size
    return total


def moto_command(port: int) -> list[str]:
    """moto's server on loopback, from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--large", type=int, default=3)
    parser.add_argument("--large-size", type=_size, default=64 * MIB)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rclone", default="rclone", help="the rclone binary")
    parser.add_argument("--verbose", action="store_true", help="show rclone's own output")
    args = parser.parse_args()
    rclone = shutil.which(args.rclone)
    if rclone is None:
        print(f"error: {args.rclone} not found (apt-get install rclone)", file=sys.stderr)
        return 2

    import boto3  # noqa: PLC0415

    import regstore  # noqa: PLC0415
    from regstore.testing.services import start_service  # noqa: PLC0415
    from regstore.transfer import copy  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="regstore-bench-copy-") as tmp:
        source = Path(tmp) / "src"
        total = make_tree(source, args.files, args.large, args.large_size)
        count = args.files + args.large
        print(
            f"tree: {count} files, {total / MIB:.1f} MiB "
            f"({args.large} x {args.large_size / MIB:.0f} MiB); jobs {args.jobs}"
        )
        with start_service("moto_server", moto_command) as moto:
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            s3 = boto3.client(
                "s3",
                endpoint_url=moto.endpoint,
                region_name="us-east-1",
                aws_access_key_id=KEY,
                aws_secret_access_key=SECRET,
            )
            s3.create_bucket(Bucket=bucket)
            local = regstore.create("filesystem", {"rootdirectory": str(source)})
            # A CA bundle for the real AWS would make rclone's SDK fail on a
            # plain-http endpoint; moto is on loopback, http.
            env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
            env.update(
                RCLONE_CONFIG_MOTO_TYPE="s3",
                RCLONE_CONFIG_MOTO_PROVIDER="Other",
                RCLONE_CONFIG_MOTO_ENDPOINT=moto.endpoint,
                RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=KEY,
                RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=SECRET,
                RCLONE_CONFIG_MOTO_REGION="us-east-1",
                RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE="true",
                RCLONE_CONFIG=str(Path(tmp) / "rclone.conf"),  # none: the remote is env
            )

            def remote(prefix: str) -> regstore.StorageDriver:
                return regstore.create(
                    "s3",
                    {
                        "bucket": bucket,
                        "region": "us-east-1",
                        "regionendpoint": moto.endpoint,
                        "forcepathstyle": "true",
                        "accesskey": KEY,
                        "secretkey": SECRET,
                        "rootdirectory": prefix,
                    },
                )

            def regstore_copy(verify: bool) -> None:
                summary = copy(
                    local,
                    "/docker",
                    remote(f"r-{uuid.uuid4().hex[:8]}"),
                    "/docker",
                    jobs=args.jobs,
                    verify=verify,
                )
                if not summary.ok or summary.files_copied != count:
                    raise SystemExit(f"regstore copy failed: {summary}")

            def rclone_copy() -> None:
                subprocess.run(
                    [
                        rclone,
                        "copy",
                        str(source / "docker"),
                        f"moto:{bucket}/c-{uuid.uuid4().hex[:8]}/docker",
                        "--transfers",
                        str(args.jobs),
                        "--checkers",
                        str(args.jobs),
                        "--s3-chunk-size",
                        "10M",
                    ],
                    env=env,
                    check=True,
                    stderr=subprocess.DEVNULL if not args.verbose else None,
                )

            contenders: dict[str, Callable[[], None]] = {
                "rclone copy": rclone_copy,
                "regstore copy": lambda: regstore_copy(True),
                "regstore copy --no-verify": lambda: regstore_copy(False),
            }
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for name, run in contenders.items():
                    start = time.perf_counter()
                    run()
                    elapsed = time.perf_counter() - start
                    best[name] = min(best.get(name, elapsed), elapsed)
    baseline = best["rclone copy"]
    print(f"{'contender':<28}{'seconds':>9}{'MiB/s':>9}{'files/s':>9}{'vs rclone':>11}")
    for name, seconds in best.items():
        print(
            f"{name:<28}{seconds:>9.2f}{total / MIB / seconds:>9.1f}{count / seconds:>9.0f}"
            f"{baseline / seconds:>10.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
