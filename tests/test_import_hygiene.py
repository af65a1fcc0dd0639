"""Listing drivers imports no plugin; creating one imports only that plugin
(never a cloud SDK it does not need). Run in a fresh interpreter, where
nothing has been imported yet, with the other plugins installed beside."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.helpers import run

HEAVY = ("boto3", "botocore", "azure", "google.cloud", "regstore_filesystem", "regstore_s3")

PROBE = """
import json, sys
import regstore

names = [d.name for d in regstore.drivers()]
after_listing = sorted(m for m in sys.modules if m.startswith("regstore_"))
driver = regstore.create(sys.argv[1], json.loads(sys.argv[2]))
driver.put_content("/probe", b"ok")
assert driver.get_content("/probe") == b"ok"
report = {"drivers": names, "after_listing": after_listing, "modules": sorted(sys.modules)}
print(json.dumps(report))
"""


def probe(name: str, params: dict[str, str] | None = None) -> dict[str, list[str]]:
    result = run([sys.executable, "-c", PROBE, name, json.dumps(params or {})])
    found: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def loaded(modules: list[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in modules)


def test_listing_drivers_imports_no_plugin() -> None:
    report = probe("inmemory")
    # The check means something only if other plugins are installed here.
    assert {"inmemory", "filesystem"} <= set(report["drivers"]), report["drivers"]
    assert report["after_listing"] == []


def test_creating_inmemory_imports_no_sdk_and_no_other_plugin() -> None:
    report = probe("inmemory")
    assert loaded(report["modules"], "regstore_inmemory")
    offenders = [prefix for prefix in HEAVY if loaded(report["modules"], prefix)]
    assert offenders == []


def test_creating_filesystem_imports_no_cloud_sdk(tmp_path: Path) -> None:
    report = probe("filesystem", {"rootdirectory": str(tmp_path)})
    assert loaded(report["modules"], "regstore_filesystem")
    offenders = [p for p in HEAVY if p != "regstore_filesystem" and loaded(report["modules"], p)]
    assert offenders == []
    assert not loaded(report["modules"], "regstore_inmemory")
