"""The command line: `regstore check azure` against Azurite, and purge-uploads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import regstore
from regstore.cli import cli


@pytest.mark.slow
def test_regstore_check_azure_passes_against_azurite(
    azurite: Any, container: str, account_key: str
) -> None:
    """The operator's line for Azurite (the issue's), with the random-fault
    uploads at a 20 % fault rate through the fault proxy (`--faults 0.2`,
    `serviceurl` being the spec's endpoint parameter)."""
    regstore_cli = Path(sys.executable).parent / "regstore"
    result = subprocess.run(
        [
            str(regstore_cli),
            "check",
            "azure",
            "-p",
            "accountname=devstoreaccount1",
            "-p",
            f"accountkey={account_key}",
            "-p",
            f"container={container}",
            "-p",
            f"serviceurl={azurite.service_url}",
            "-p",
            "chunksize=1MiB",
            "-p",
            "requestretrydelay=0.05",
            # Two blocks in flight, as in test_conformance.py (see there):
            # the suite's write failure points need a write that waits for
            # its background Put Blocks.
            "-p",
            "uploadconcurrency=2",
            "--faults",
            "0.2",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
        check=False,
    )
    failed = [
        line for line in result.stdout.splitlines() if " failed " in line or " error " in line
    ]
    shown = "\n".join([*failed, result.stdout[-5000:], result.stderr[-5000:]])
    assert result.returncode == 0, shown
    assert account_key not in result.stdout + result.stderr
    assert "fault rate 0.2" in result.stdout
    for case in ("test_random_faults[storage]", "test_failure_points[storage-commit]"):
        row = next(line for line in result.stdout.splitlines() if case in line)
        assert " passed " in row, row


def test_uploads_and_purge_uploads_commands(
    azure_params: dict[str, object], account_key: str
) -> None:
    driver = regstore.create("azure", azure_params)
    writer = driver.writer("/abandoned")
    writer.write(os.urandom((1 << 20) + 1))
    writer.close()
    args = [arg for key, value in azure_params.items() for arg in ("-p", f"{key}={value}")]
    listed = CliRunner().invoke(cli, ["uploads", "azure", *args])
    assert listed.exit_code == 0, listed.output
    assert "/abandoned" in listed.output
    assert str((1 << 20) + 1) in listed.output
    result = CliRunner().invoke(cli, ["purge-uploads", "azure", *args, "--older-than", "0s"])
    assert result.exit_code == 0, result.output
    assert "purged 1 upload" in result.output
    assert account_key not in result.output + listed.output
    assert list(driver.list_uploads()) == []
    with pytest.raises(regstore.PathNotFoundError):
        driver.writer("/abandoned", append=True)
