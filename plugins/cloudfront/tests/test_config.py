"""cloudfront as operators configure it: a `middleware: storage:` entry in
distribution's config.yml over an s3 driver, through `regstore.load_config`
(upstream's documented example, with the moto endpoint and local files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import regstore
from regstore import DriverRegistry, RegstoreError, StorageDriver
from regstore.testing.services import LocalService

BLOB = "/docker/registry/v2/blobs/sha256/ef/ef01/data"
KEY_PAIR_ID = "APKAEIBAERJR2EXAMPLE"
US_EAST_V4 = "52.94.1.7"
Verify = Callable[..., tuple[str, int, str]]


def config_yaml(
    s3_params: dict[str, object], cloudfront: dict[str, object], **storage: object
) -> str:
    """A registry config.yml: storage s3, then middleware storage cloudfront."""
    document: dict[str, Any] = {
        "version": 0.1,
        "storage": {"s3": dict(s3_params), **storage},
        "middleware": {"storage": [{"name": "cloudfront", "options": cloudfront}]},
    }
    return yaml.safe_dump(document, sort_keys=False)


@pytest.fixture
def upstream_options(tmp_path: Path, key_file: Path) -> dict[str, object]:
    """distribution's documented cloudfront example, with local files."""
    ip_ranges_file = tmp_path / "ip-ranges.json"
    prefix = {"ip_prefix": "52.94.0.0/22", "region": "us-east-1", "service": "EC2"}
    ip_ranges_file.write_text(json.dumps({"prefixes": [prefix], "ipv6_prefixes": []}))
    return {
        "baseurl": "https://my.cloudfronted.domain.com/",
        "privatekey": str(key_file),
        "keypairid": KEY_PAIR_ID,
        "duration": "3000s",
        "ipfilteredby": "awsregion",
        "awsregion": "us-east-1, use-east-2",
        "updatefrequency": "12h",
        "iprangesurl": str(ip_ranges_file),
    }


def stop_ranges(driver: Any) -> None:
    """Stop the IP-ranges thread of the cloudfront layer in `driver` (the
    layers outside it forward the attribute)."""
    ranges = getattr(driver, "ip_ranges", None)
    if ranges is not None:
        ranges.stop()


def test_config_yml_gives_cloudfront_urls(
    s3_params: dict[str, object],
    upstream_options: dict[str, object],
    verify: Verify,
    moto_server: LocalService,
) -> None:
    config = regstore.load_config(config_yaml(s3_params, upstream_options), environ={})
    assert config.driver == "s3"
    assert [m.name for m in config.middleware] == ["cloudfront"]
    driver: Any = config.create()
    try:
        before = int(time.time())
        url = driver.redirect_url(BLOB)
        resource, expires, key_pair_id = verify(url)
        root = str(s3_params["rootdirectory"]).strip("/")
        assert resource == f"https://my.cloudfronted.domain.com/{root}{BLOB}"
        assert key_pair_id == KEY_PAIR_ID
        assert before + 3000 <= expires <= int(time.time()) + 3000
        # A client in us-east-1 gets the s3 URL once the ranges are in.
        assert driver.ip_ranges.wait_for(updates=1, timeout=10)
        s3_url = driver.redirect_url(BLOB, client_ip=US_EAST_V4)
        assert s3_url.startswith(moto_server.endpoint + "/")
    finally:
        stop_ranges(driver)


def test_environment_overrides_an_option(
    s3_params: dict[str, object], upstream_options: dict[str, object], verify: Verify
) -> None:
    environ = {"REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_DURATION": "1h"}
    driver = regstore.from_config(config_yaml(s3_params, upstream_options), environ=environ)
    try:
        before = int(time.time())
        _, expires, _ = verify(driver.redirect_url(BLOB))
        assert before + 3600 <= expires <= int(time.time()) + 3600
    finally:
        stop_ranges(driver)


def test_typo_updatefrenquency_is_accepted(
    s3_params: dict[str, object], upstream_options: dict[str, object]
) -> None:
    options = dict(upstream_options)
    options["updatefrenquency"] = options.pop("updatefrequency")
    driver: Any = regstore.from_config(config_yaml(s3_params, options), environ={})
    try:
        assert driver.ip_ranges.update_frequency.total_seconds() == 12 * 3600
    finally:
        stop_ranges(driver)


def test_redirect_disable_wins(
    s3_params: dict[str, object], upstream_options: dict[str, object]
) -> None:
    text = config_yaml(s3_params, upstream_options, redirect={"disable": True})
    driver = regstore.from_config(text, environ={})
    try:
        assert driver.redirect_url(BLOB) is None
    finally:
        stop_ranges(driver)


def test_disabled_entry_is_skipped(
    s3_params: dict[str, object], upstream_options: dict[str, object], moto_server: LocalService
) -> None:
    document = yaml.safe_load(config_yaml(s3_params, upstream_options))
    document["middleware"]["storage"][0]["disabled"] = True
    driver = regstore.from_config(document, environ={})
    url = driver.redirect_url(BLOB)
    assert url is not None
    assert url.startswith(moto_server.endpoint + "/")
    assert "Key-Pair-Id" not in url


def test_over_another_driver_is_a_clear_error(
    upstream_options: dict[str, object], not_s3: Callable[[], StorageDriver]
) -> None:
    registry = DriverRegistry()
    registry.register("notstore", lambda params: not_s3())
    document = {
        "storage": {"notstore": {}},
        "middleware": {"storage": [{"name": "cloudfront", "options": upstream_options}]},
    }
    config = regstore.load_config(document, environ={}, registry=registry)
    with pytest.raises(RegstoreError, match="cloudfront wraps the s3 driver, not 'notstore'"):
        config.create(registry)


def test_bad_option_in_config_names_it(
    s3_params: dict[str, object], upstream_options: dict[str, object]
) -> None:
    options = dict(upstream_options, ipfilteredby="everyone")
    with pytest.raises(RegstoreError, match="middleware cloudfront: parameter 'ipfilteredby'"):
        regstore.from_config(config_yaml(s3_params, options), environ={})


def test_regstore_check_config_with_cloudfront(
    tmp_path: Path,
    s3_params: dict[str, object],
    cloudfront_options: dict[str, object],
    cloudfront_stand_in: Any,
) -> None:
    """`regstore check --config` on a config.yml with cloudfront: the
    suite's redirect case fetches the signed URLs (from the CloudFront
    stand-in, which verifies them) and its content cases pass through."""
    options = dict(cloudfront_options, baseurl=cloudfront_stand_in.endpoint)
    config = tmp_path / "config.yml"
    config.write_text(config_yaml(s3_params, options))
    served = cloudfront_stand_in.requests
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "regstore"),
            "check",
            "--config",
            str(config),
            "-k",
            "redirect or put_get or get_content",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    row = next(line for line in result.stdout.splitlines() if "test_redirect_url " in line)
    assert " passed " in row, row
    assert cloudfront_stand_in.requests >= served + 2  # the GET and the HEAD
    assert cloudfront_stand_in.refused == 0
