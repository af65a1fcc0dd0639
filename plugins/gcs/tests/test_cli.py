"""The command lines: `regstore check gcs` against fake-gcs-server, and
purge-uploads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import regstore
from regstore.cli import cli


def test_regstore_check_gcs_passes_against_fake_gcs_server(gcs_server: Any, bucket: str) -> None:
    """The operator's line for an emulator or private endpoint: anonymous
    (no credentials given with an endpoint), the suite's own fault proxy in
    front of the endpoint (`--faults 0.2`). The redirect case is skipped
    (nothing to sign with), which the output shows."""
    regstore_cli = Path(sys.executable).parent / "regstore"
    env = {k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"}
    result = subprocess.run(
        [
            str(regstore_cli),
            "check",
            "gcs",
            "-p",
            f"bucket={bucket}",
            "-p",
            f"endpoint={gcs_server.endpoint}",
            "-p",
            "chunksize=256KiB",
            "-p",
            "retrytimeout=10",
            "--faults",
            "0.2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "fault rate 0.2" in result.stdout
    for case in ("test_random_faults[storage]", "test_failure_points[storage-commit]"):
        row = next(line for line in result.stdout.splitlines() if case in line)
        assert " passed " in row, row


def test_purge_uploads_command(gcs_params: dict[str, object], gcs: Any) -> None:
    driver = regstore.create("gcs", gcs_params)
    writer = driver.writer("/abandoned")
    writer.write(os.urandom(256 * 1024 + 1))
    writer.close()
    args = [
        arg
        for key, value in gcs_params.items()
        if key != "credentials"
        for arg in ("-p", f"{key}={value}")
    ]
    result = CliRunner().invoke(cli, ["purge-uploads", "gcs", *args, "--older-than", "0s"])
    assert result.exit_code == 0, result.output
    assert "purged 1 upload" in result.output
    prefix = f"{gcs_params['rootdirectory']}/"
    assert [b.name for b in gcs.list_blobs(gcs_params["bucket"], prefix=prefix)] == []
