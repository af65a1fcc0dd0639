"""The command lines: `regstore check s3` against moto, and purge-uploads."""

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
def test_regstore_check_s3_passes_against_moto(moto_server: Any, bucket: str) -> None:
    """The operator's line for an S3-compatible store (no region: the
    driver falls back to us-east-1 for signing), with the random-fault
    uploads at a 20 % fault rate (`--faults 0.2`)."""
    regstore_cli = Path(sys.executable).parent / "regstore"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing-key")
    result = subprocess.run(
        [
            str(regstore_cli),
            "check",
            "s3",
            "-p",
            f"bucket={bucket}",
            "-p",
            f"regionendpoint={moto_server.endpoint}",
            "-p",
            "forcepathstyle=true",
            "-p",
            "chunksize=5MiB",
            "--faults",
            "0.2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "fault rate 0.2" in result.stdout
    for case in ("test_random_faults[storage]", "test_failure_points[storage-commit]"):
        row = next(line for line in result.stdout.splitlines() if case in line)
        assert " passed " in row, row


def test_purge_uploads_command(s3_params: dict[str, object], s3: Any) -> None:
    driver = regstore.create("s3", s3_params)
    writer = driver.writer("/abandoned")
    writer.write(os.urandom(5 * (1 << 20) + 1))
    writer.close()
    args = [arg for key, value in s3_params.items() for arg in ("-p", f"{key}={value}")]
    result = CliRunner().invoke(cli, ["purge-uploads", "s3", *args, "--older-than", "0s"])
    assert result.exit_code == 0, result.output
    assert "purged 1 upload" in result.output
    assert "testing-secret-key" not in result.output
    prefix = str(s3_params["rootdirectory"])
    assert not s3.list_multipart_uploads(Bucket=s3_params["bucket"], Prefix=prefix).get("Uploads")


@pytest.mark.slow
def test_regstore_check_s3_with_config_and_redirect_middleware(
    moto_server: Any, bucket: str, tmp_path: Path
) -> None:
    """`regstore check --config data/s3.yml` on moto, the redirect
    middleware configured: the suite's redirect case fetches the
    middleware's URLs (base URL + path: moto serves the bucket path-style,
    so a base URL of endpoint/bucket/root serves the store's keys). The
    tests share the configured root (--shared-root), since the base URL
    names it. Parameters and the base URL come partly from REGISTRY_*
    variables, and the secret key never shows."""
    root = f"cfg-{os.urandom(5).hex()}"
    env = dict(
        os.environ,
        REGISTRY_STORAGE_S3_REGIONENDPOINT=moto_server.endpoint,
        REGISTRY_STORAGE_S3_BUCKET=bucket,
        REGISTRY_STORAGE_S3_ROOTDIRECTORY=root,
        REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_BASEURL=f"{moto_server.endpoint}/{bucket}/{root}",
    )
    regstore_cli = Path(sys.executable).parent / "regstore"
    config = Path(__file__).parent / "data" / "s3.yml"
    result = subprocess.run(
        [str(regstore_cli), "check", "--config", str(config), "--shared-root"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "middleware redirect" in result.stdout
    assert "config-secret-key" not in output
    row = next(line for line in result.stdout.splitlines() if "test_redirect_url " in line)
    assert " passed " in row, row

    # The URL is the middleware's, not a presigned S3 URL.
    loaded = regstore.load_config(config, environ=env)
    driver = loaded.create()
    url = driver.redirect_url("/docker/registry/v2/blobs/x")
    assert url == f"{moto_server.endpoint}/{bucket}/{root}/docker/registry/v2/blobs/x"
