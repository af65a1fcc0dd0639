"""The `regstore` command line: drivers, check, bench.

`drivers` and `bench` run in this process through `main(argv)` (bench
starts its own child per case). `check` runs in a child process: it runs
pytest, and its failing-driver case needs a driver that only a real
installed distribution (a .dist-info on PYTHONPATH) can provide to it.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from regstore import factory
from regstore.cli import main
from regstore.testing.benchmarks import CASES

SECRET = "TopSecretValue-9f8e7d"


def run_cli(*args: str, extra_path: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    """`regstore ARGS` in a child process, from a neutral directory."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(extra_path), env.get("PYTHONPATH", "")) if p
        )
    code = "import sys; from regstore.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=str(extra_path or pathlib.Path.cwd()),
        timeout=300,
    )


# -- basics -------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "regstore, version 0.1.0" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["drivers"], ["check"], ["bench"], ["purge-uploads"]])
def test_help_everywhere(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: regstore" in out
    assert "--help" in out


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err


# -- drivers --------------------------------------------------------------------


def test_drivers_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drivers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "CAPABILITIES"]
    [row] = [line for line in lines if line.startswith("inmemory ")]
    assert row.split() == ["inmemory", "regstore-inmemory", "0.1.0", "walk=tree"]


def test_drivers_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drivers", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["inmemory"] == {
        "name": "inmemory",
        "distribution": "regstore-inmemory",
        "version": "0.1.0",
        "target": "regstore_inmemory.plugin:SPEC",
        "capabilities": {"redirect": False, "persistent": False, "walk_order": "tree"},
        "error": None,
    }


def test_drivers_shows_broken_plugin_in_its_row(installed_fakes: pathlib.Path) -> None:
    proc = run_cli("drivers", extra_path=installed_fakes)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert (
        "error: ImportError: the SDK of unloadablefake is not installed" in rows["unloadablefake"]
    )
    assert rows["brokenfake"].split()[1:] == ["regstore-brokenfake", "0.0.1", "walk=tree"]
    assert "inmemory" in rows


def test_drivers_imports_no_cloud_sdk() -> None:
    code = (
        "import sys; from regstore.cli import main; main(['drivers']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'aiobotocore', 'azure', 'google')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# -- check ------------------------------------------------------------------------


def test_check_inmemory_passes() -> None:
    proc = run_cli("check", "inmemory")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "checking inmemory (short mode)"
    assert lines[1].split() == ["TEST", "OUTCOME", "TIME", "REASON"]
    summary = lines[-1]
    passed, failed, skipped = (int(part.split()[0]) for part in summary.split(", ")[:3])
    assert failed == 0
    assert passed > 50
    rows = lines[2:-1]
    assert len(rows) == passed + skipped
    assert any("test_benchmark_case[Stream1MBFiles]" in r and " passed " in r for r in rows)
    # Skips say why: inmemory declares it persists nothing.
    assert any(" skipped " in r and "persistent" in r for r in rows)


def test_check_unknown_driver() -> None:
    proc = run_cli("check", "nosuchdriver")
    assert proc.returncode == 2
    assert "no storage driver named 'nosuchdriver'" in proc.stderr
    assert "inmemory" in proc.stderr  # the installed list
    assert proc.stdout == ""


def test_check_unknown_own_driver_gives_pip_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine without regstore-gcs (the dev venv has every plugin).
    real = factory._entry_points
    monkeypatch.setattr(
        factory,
        "_entry_points",
        lambda group: {k: v for k, v in real(group).items() if k != "gcs"},
    )
    monkeypatch.setattr(factory, "_default", None)
    assert main(["check", "gcs"]) == 2
    assert "pip install regstore-gcs" in capsys.readouterr().err


def test_check_failing_driver(installed_fakes: pathlib.Path) -> None:
    proc = run_cli("check", "brokenfake", "-p", f"secretkey={SECRET}", extra_path=installed_fakes)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert SECRET not in output
    assert "checking brokenfake (short mode) with secretkey=***" in proc.stdout
    failed_rows = [line for line in proc.stdout.splitlines() if " failed " in line]
    assert any("test_write_read_1_mib" in r for r in failed_rows)
    summary = proc.stdout.splitlines()[-1]
    assert int(summary.split(", ")[1].split()[0]) == len(failed_rows) > 0


def test_check_no_test_ran() -> None:
    proc = run_cli("check", "inmemory", "-k", "no_test_has_this_name")
    assert proc.returncode == 5
    assert "no test ran" in proc.stderr


def test_check_keyword_and_exitfirst(installed_fakes: pathlib.Path) -> None:
    proc = run_cli("check", "brokenfake", "-x", "-k", "write_read", extra_path=installed_fakes)
    assert proc.returncode == 1
    rows = proc.stdout.splitlines()[2:-1]
    assert all("write_read" in r for r in rows)
    assert sum(" failed " in r for r in rows) == 1  # -x: stopped at the first


@pytest.mark.parametrize("command", ["check", "bench"])
def test_bad_param_syntax_is_usage_error(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert main([command, "inmemory", "-p", "a=1", "-p", SECRET]) == 2
    captured = capsys.readouterr()
    assert "Invalid value for '-p' / '--param'" in captured.err
    assert "value number 2 is not of the form key=value" in captured.err
    assert SECRET not in captured.out + captured.err


@pytest.mark.parametrize("command", ["check", "bench"])
def test_unknown_param_rejected_without_echo(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command, "inmemory", "-p", f"secretkey={SECRET}"]) == 2
    captured = capsys.readouterr()
    assert "parameter 'secretkey': unknown parameter" in captured.err
    assert SECRET not in captured.out + captured.err


# -- bench ------------------------------------------------------------------------


def test_bench_quick_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "inmemory", "--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "benchmarking inmemory (quick)"
    assert lines[1].split()[:3] == ["CASE", "SIZE", "OPS"]
    assert "MB/S" in lines[1]
    assert "PEAK MEM" in lines[1]
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert list(rows) == [case.name for case in CASES]
    assert lines[-1] == f"{len(CASES)} passed, 0 failed"
    assert "error" not in "".join(rows.values())
    # A payload case prints a rate; a listing case prints none ("-").
    stream_fields = rows["Stream1MBFiles"].split()
    assert stream_fields[1:3] == ["1.0", "MiB"]
    assert float(stream_fields[4].replace(",", "")) > 0
    assert rows["List5Files"].split()[4] == "-"


def test_bench_json_figures(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "inmemory", "--quick", "--json", "--case", "Stream1GB", "--case", "List50"]
    assert main([*args, "--size", "8MiB"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["driver"] == "inmemory"
    assert report["mode"] == "quick"
    cases = {c["case"]: c for c in report["cases"]}
    assert list(cases) == ["Stream1GBFiles", "List50Files"]
    stream = cases["Stream1GBFiles"]
    assert stream["error"] is None
    assert stream["amount"] == 8 * 1024 * 1024  # --size sets the large cases
    assert stream["nbytes"] == stream["amount"] * stream["repeat"]
    assert stream["ops"] == stream["repeat"]
    assert stream["mb_per_s"] > 0
    # inmemory keeps the whole upload: its own peak is at least the object.
    assert stream["peak_rss_bytes"] >= 8 * 1024 * 1024
    listing = cases["List50Files"]
    assert listing["amount"] == 50
    assert listing["mb_per_s"] is None
    assert listing["ops_per_s"] > 0
    # Each case measured in its own process: the small case does not
    # inherit the stream case's peak.
    assert listing["peak_rss_bytes"] < 8 * 1024 * 1024, report


def test_bench_failing_driver_hides_secret(installed_fakes: pathlib.Path) -> None:
    proc = run_cli(
        "bench",
        "brokenfake",
        "--quick",
        "--case",
        "PutGet1KB",
        "--case",
        "List5Files",
        "-p",
        f"secretkey={SECRET}",
        extra_path=installed_fakes,
    )
    assert proc.returncode == 1
    assert SECRET not in proc.stdout + proc.stderr
    assert "with secretkey=***" in proc.stdout
    assert "error: BenchmarkMismatchError" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "1 passed, 1 failed"


def test_bench_option_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "inmemory", "--quick", "--full"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["bench", "inmemory", "--size", "lots"]) == 2
    assert "Invalid value for '--size'" in capsys.readouterr().err
    assert main(["bench", "inmemory", "--case", "NoSuchCase"]) == 2
    assert "no benchmark case matches" in capsys.readouterr().err
    assert main(["bench", "nosuchdriver"]) == 2
    assert "no storage driver named 'nosuchdriver'" in capsys.readouterr().err


def test_bench_filesystem_root_cleaned_up(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    pytest.importorskip("regstore_filesystem", reason="the filesystem plugin is not installed")
    base = tmp_path / "base"
    base.mkdir()
    args = ["bench", "filesystem", "--quick", "--case", "Walk", "--case", "Stream1KB"]
    assert main([*args, "-p", f"rootdirectory={base}"]) == 0
    out = capsys.readouterr().out
    assert "2 passed, 0 failed" in out
    assert list(base.iterdir()) == []  # the random regstore-bench-<hex> root is gone


def test_purge_uploads_unsupported_driver(capsys: pytest.CaptureFixture[str]) -> None:
    """inmemory keeps no uploads that outlive it: a clear refusal, exit 2."""
    assert main(["purge-uploads", "inmemory", "--older-than", "1h"]) == 2
    assert "keeps no uploads" in capsys.readouterr().err


@pytest.mark.parametrize("age", ["1y", "2w", "36h", "168h", "1h30m"])
def test_purge_uploads_takes_ages_in_every_form(
    capsys: pytest.CaptureFixture[str], age: str
) -> None:
    """`1y` was refused; Go's forms (upstream's config) work too. inmemory
    then refuses for its own reason, after the age was accepted."""
    assert main(["purge-uploads", "inmemory", "--older-than", age]) == 2
    err = capsys.readouterr().err
    assert "keeps no uploads" in err
    assert "not an age" not in err


def test_purge_uploads_rejects_bad_age(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge-uploads", "inmemory", "--older-than", "soon"]) == 2
    assert "'soon' is not an age" in capsys.readouterr().err


def test_without_pytest_the_cli_works_and_check_names_the_extra() -> None:
    """pytest is the `testing` extra, not a dependency: without it the CLI
    and the drivers work, and check/bench say how to get the suite."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import regstore\n"
        "from regstore.cli import main\n"
        "d = regstore.create('inmemory'); d.put_content('/a', b'x'); assert d.get_content('/a')\n"
        "assert main(['drivers']) == 0\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for command in ("check", "bench"):
        proc = subprocess.run(
            [sys.executable, "-c", code, command, "inmemory"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert "pip install 'regstore[testing]'" in proc.stderr


def test_bench_marks_scaled_down_large_cases(capsys: pytest.CaptureFixture[str]) -> None:
    """Quick mode runs the 1 GB cases at 4 MiB: the row says so rather than
    claiming a gigabyte."""
    assert main(["bench", "inmemory", "--quick", "--case", "PutGet1GB"]) == 0
    out = capsys.readouterr().out
    assert "PutGet1GBFiles (at 4.0 MiB)" in out
