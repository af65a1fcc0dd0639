"""`regstore copy` and `regstore sync` in-process between two inmemory
stores registered as drivers "left" and "right"."""

from __future__ import annotations

from pathlib import Path

import pytest

from regstore import DriverRegistry, StorageDriver
from regstore.cli import main
from regstore_inmemory.driver import InMemoryDriver


class _Stores:
    def __init__(self) -> None:
        self.left = InMemoryDriver()
        self.right = InMemoryDriver()
        self.registry = DriverRegistry()
        self.registry.register("left", lambda params: self.left)
        self.registry.register("right", lambda params: self.right)

    def driver(self, name: str) -> StorageDriver:
        return self.registry.create(name)


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> _Stores:
    made = _Stores()
    monkeypatch.setattr("regstore.cli._common.default_registry", lambda: made.registry)
    return made


def _fill(driver: StorageDriver) -> dict[str, bytes]:
    files = {f"/docker/d{i % 3}/f{i}": bytes([i]) * (1000 + i) for i in range(12)}
    files["/docker/big"] = b"B" * (3 << 20)
    for path, data in files.items():
        driver.put_content(path, data)
    return files


def test_copy_then_sync_with_nothing_to_do(
    stores: _Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _fill(stores.driver("left"))
    assert main(["copy", "left:/docker", "right:/mirror"]) == 0
    out, err = capsys.readouterr()
    assert "left:/docker -> right:/mirror: copied 13 files" in out
    assert "failed 0" in out
    right = stores.driver("right")
    for path, data in files.items():
        assert right.get_content(path.replace("/docker", "/mirror", 1)) == data
    # On a pipe (capsys is no terminal): no bar, no control characters.
    assert "\r" not in err
    assert "\x1b" not in err
    assert main(["sync", "left:/docker", "right:/mirror"]) == 0
    out, _ = capsys.readouterr()
    assert "copied 0 files" in out
    assert "skipped 13" in out


def test_sync_delete_dry_run_then_for_real(
    stores: _Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(stores.driver("left"))
    assert main(["copy", "left:/docker", "right:/m"]) == 0
    stores.driver("right").put_content("/m/extra", b"x")
    capsys.readouterr()
    assert main(["sync", "left:/docker", "right:/m", "--delete", "--dry-run"]) == 0
    out, _ = capsys.readouterr()
    assert "would delete /m/extra" in out
    assert "nothing written" in out
    assert stores.driver("right").get_content("/m/extra") == b"x"
    assert main(["sync", "left:/docker", "right:/m", "--delete"]) == 0
    assert "deleted 1" in capsys.readouterr().out
    assert "/m/extra" not in stores.driver("right").list("/m")


def test_forced_progress_bar_and_a_failed_file_exit_1(
    stores: _Stores, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(stores.driver("left"))

    real_put = stores.right.put_content

    def corrupting_put(path: str, data: bytes) -> None:
        if path.endswith("/big"):
            data = bytes(data)[:-1] + b"!"
        real_put(path, data)

    monkeypatch.setattr(stores.right, "put_content", corrupting_put)
    code = main(["copy", "left:/docker", "right:/c", "--progress", "--jobs", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "failed 1" in out
    assert "/docker/big" in err  # the file the destination corrupted: verification caught it
    assert "files" in err  # the bar's description: n/13 files


@pytest.mark.parametrize(
    "args",
    [
        ["copy", "left/docker", "right:/x"],
        ["copy", "left:docker", "right:/x"],
        ["copy", "nosuch:/a", "right:/x"],
    ],
)
def test_bad_sides_are_usage_errors(
    stores: _Stores, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(args) == 2
    assert capsys.readouterr().err.strip()


def test_missing_source_exit_1(stores: _Stores, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["copy", "left:/none", "right:/x"]) == 1
    assert "/none" in capsys.readouterr().err


def test_sides_from_config_files(
    stores: _Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _fill(stores.driver("left"))
    (tmp_path / "src.yml").write_text("storage:\n  left: {}\n")
    (tmp_path / "dst.yml").write_text("storage: right\n")
    args = ["sync", "--src-config", str(tmp_path / "src.yml"), "/docker"]
    args += ["--dst-config", str(tmp_path / "dst.yml"), "right:/cfg"]
    assert main(args) == 0, capsys.readouterr().err
    assert stores.driver("right").get_content("/cfg/big") == files["/docker/big"]
