"""The file commands (ls, stat, cat, put, get, rm, mv, url, walk, du) run
in-process against one shared inmemory store, registered as driver "shared"
so every command of a test sees the same content."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from regstore import DriverRegistry, StorageDriver
from regstore.cli import main
from regstore_inmemory.driver import InMemoryDriver


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> StorageDriver:
    """One inmemory store behind the driver name "shared"."""
    backing = InMemoryDriver()
    registry = DriverRegistry()
    registry.register("shared", lambda params: backing)
    monkeypatch.setattr("regstore.cli._common.default_registry", lambda: registry)
    return registry.create("shared")


def run(
    capsysbinary: pytest.CaptureFixture[bytes], *args: str, stdin: bytes | None = None
) -> tuple[int, bytes, str]:
    """main(args) with stdin fed; (exit status, stdout bytes, stderr text)."""
    if stdin is not None:
        import sys

        fake = io.TextIOWrapper(io.BytesIO(stdin))
        old = sys.stdin
        sys.stdin = fake
        try:
            code = main(list(args))
        finally:
            sys.stdin = old
    else:
        code = main(list(args))
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def test_put_cat_get_round_trip(
    store: StorageDriver, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    payload = os.urandom(20_000)
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    assert run(capsysbinary, "put", "shared", "/a/file.bin", str(src))[0] == 0
    assert store.get_content("/a/file.bin") == payload
    code, out, _ = run(capsysbinary, "cat", "shared", "/a/file.bin")
    assert (code, out) == (0, payload)
    code, out, _ = run(capsysbinary, "cat", "shared", "/a/file.bin", "--offset", "19990")
    assert out == payload[19990:]
    dest = tmp_path / "out.bin"
    assert run(capsysbinary, "get", "shared", "/a/file.bin", str(dest))[0] == 0
    assert dest.read_bytes() == payload
    assert run(capsysbinary, "get", "shared", "/a/file.bin", str(tmp_path))[0] == 0
    assert (tmp_path / "file.bin").read_bytes() == payload  # into a directory
    code, out, _ = run(capsysbinary, "get", "shared", "/a/file.bin", "-")
    assert (code, out) == (0, payload)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".regstore-get-")]


def test_put_from_stdin(store: StorageDriver, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert run(capsysbinary, "put", "shared", "/in", "-", stdin=b"piped bytes\x00\xff")[0] == 0
    assert store.get_content("/in") == b"piped bytes\x00\xff"


def test_ls_stat_walk_du(store: StorageDriver, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    store.put_content("/d/x", b"12345")
    store.put_content("/d/sub/y", b"1" * 3000)
    store.put_content("/top", b"")
    code, out, _ = run(capsysbinary, "ls", "shared")
    assert (code, out.decode().split()) == (0, ["/d", "/top"])
    code, out, _ = run(capsysbinary, "ls", "shared", "/d", "-l")
    text = out.decode()
    assert "/d/sub/" in text
    assert "5 B" in text
    code, out, _ = run(capsysbinary, "ls", "shared", "/d", "--json")
    entries = [json.loads(line) for line in out.decode().splitlines()]
    assert {(e["path"], e["dir"], e["size"]) for e in entries} == {
        ("/d/sub", True, None),
        ("/d/x", False, 5),
    }
    code, out, _ = run(capsysbinary, "stat", "shared", "/d/sub/y", "--json")
    assert json.loads(out)["size"] == 3000
    code, out, _ = run(capsysbinary, "stat", "shared", "/d")
    assert out.decode().strip() == "/d: directory"
    code, out, _ = run(capsysbinary, "walk", "shared", "/d")
    assert out.decode().split() == ["/d/sub/", "/d/sub/y", "/d/x"]
    code, out, _ = run(capsysbinary, "du", "shared", "--json")
    assert json.loads(out) == {"path": "/", "files": 3, "bytes": 3005}
    code, out, _ = run(capsysbinary, "du", "shared", "/d/sub/y", "--bytes")
    assert out.decode().split("\t")[:2] == ["3000", "1 files"]
    code, out, _ = run(capsysbinary, "du", "shared", "/d")
    assert out.decode().startswith("2.9 KiB\t2 files")


def test_rm_needs_r_for_a_directory_and_mv(
    store: StorageDriver, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    store.put_content("/d/x", b"x")
    store.put_content("/d/y", b"y")
    code, _, err = run(capsysbinary, "rm", "shared", "/d")
    assert code == 1
    assert "directory" in err
    assert "-r" in err
    assert store.list("/d") == ["/d/x", "/d/y"]
    assert run(capsysbinary, "mv", "shared", "/d/x", "/moved")[0] == 0
    assert store.get_content("/moved") == b"x"
    assert run(capsysbinary, "rm", "shared", "/moved")[0] == 0
    assert run(capsysbinary, "rm", "shared", "-r", "/d")[0] == 0
    assert run(capsysbinary, "ls", "shared")[1] == b""


@pytest.mark.parametrize(
    "args",
    [
        ("stat", "shared", "/nope"),
        ("cat", "shared", "/nope"),
        ("get", "shared", "/nope", "-"),
        ("rm", "shared", "/nope"),
        ("mv", "shared", "/nope", "/other"),
        ("ls", "shared", "/nope"),
        ("url", "shared", "/nope"),
        ("du", "shared", "/nope"),
    ],
)
def test_missing_path_is_one_line_and_exit_1(
    store: StorageDriver, capsysbinary: pytest.CaptureFixture[bytes], args: tuple[str, ...]
) -> None:
    code, out, err = run(capsysbinary, *args)
    assert code == 1
    assert out == b""
    assert err.count("\n") == 1
    assert "/nope" in err


def test_url_without_redirects_exits_1(
    store: StorageDriver, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    store.put_content("/f", b"f")
    code, _, err = run(capsysbinary, "url", "shared", "/f")
    assert code == 1
    assert "gives no URLs" in err


def test_config_in_place_of_name(
    store: StorageDriver, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    store.put_content("/c/f", b"via config")
    config = tmp_path / "config.yml"
    config.write_text("storage:\n  shared: {}\n")
    code, out, _ = run(capsysbinary, "cat", "--config", str(config), "/c/f")
    assert (code, out) == (0, b"via config")
    code, out, _ = run(capsysbinary, "ls", "--config", str(config))
    assert out.decode().split() == ["/c"]
    code, out, _ = run(capsysbinary, "ls", "shared", "/c", "--config", str(config))
    assert out.decode().split() == ["/c/f"]
    code, _, err = run(capsysbinary, "ls", "other", "/c", "--config", str(config))
    assert code == 2
    assert "does not match" in err


def test_usage_errors(store: StorageDriver, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert run(capsysbinary, "cat")[0] == 2
    assert run(capsysbinary, "cat", "shared")[0] == 2
    assert run(capsysbinary, "put", "shared", "/p")[0] == 2
    code, _, err = run(capsysbinary, "put", "shared", "/p", "/no/such/local/file")
    assert code == 1
    assert "/no/such/local/file" in err


def test_params_lists_kinds_defaults_limits_and_secrets(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    from regstore import Parameter

    registry = DriverRegistry()
    registry.register(
        "declared",
        lambda params: InMemoryDriver(),
        parameters=(
            Parameter("bucket", required=True, help="where"),
            Parameter("secretkey", secret=True, default="hidden-default"),
            Parameter("chunksize", "size", default=5 << 20, minimum=1 << 20, maximum=1 << 30),
            Parameter("retries", "int", default=5, minimum=0, maximum=9, aliases=("old_retries",)),
        ),
    )
    monkeypatch.setattr("regstore.cli._common.default_registry", lambda: registry)
    code, out, _ = run(capsysbinary, "params", "declared")
    text = out.decode()
    assert code == 0
    assert "hidden-default" not in text
    rows = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert "(required)" in rows["bucket"]
    assert "1048576..1073741824" in rows["chunksize"]
    assert "yes" in rows["secretkey"]
    assert "(old_retries)" in rows["retries"]
    code, out, _ = run(capsysbinary, "params", "declared", "--json")
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["secretkey"]["default"] is None
    assert listed["secretkey"]["secret"] is True
    assert listed["retries"]["maximum"] == 9
    assert run(capsysbinary, "params", "nosuch")[0] == 2
