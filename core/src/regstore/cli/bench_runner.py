"""`regstore bench`: run the benchmark cases, each in a child process.

A case runs in a fresh interpreter so the peak memory it reports (the
resident high-water mark at its end minus the resident size at its start,
the mark reset at the start where Linux allows) is its own, not the
high-water mark of an earlier case, of the interpreter's start-up or of the
parent that started it. The child gets its job on stdin
as JSON (parameters, secrets included, never appear in a process listing)
and answers with one JSON line on stdout.

The driver works below a fresh random root: `regstore-bench-<hex>` joined
onto the `rootdirectory` parameter when the driver has one (a temporary
directory for a driver whose root is local when none is given), removed at the end.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from regstore.errors import PathNotFoundError
from regstore.factory import DriverRegistry
from regstore.testing.benchmarks import CASES, BenchCase, Mode, find_case
from regstore.testing.roots import scratch_root

__all__ = ["BenchRow", "bench_root", "child_main", "run_case_in_child"]

_CHILD_CODE = "import regstore.cli.bench_runner as b; b.child_main()"


@dataclass
class BenchRow:
    """One case's figures, as the CLI prints them (or its error)."""

    case: str
    unit: str
    amount: int
    repeat: int
    nbytes: int = 0
    ops: int = 0
    seconds: float = 0.0
    mb_per_s: float | None = None
    ops_per_s: float | None = None
    peak_rss_bytes: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- in the child ------------------------------------------------------------


def _reset_peak_rss() -> None:
    """Make the peak start from now, where the platform allows it (Linux:
    writing 5 to /proc/self/clear_refs resets the high-water mark that
    ru_maxrss reports). Without it, a transient peak while starting up
    (imports, reading entry points) would be charged to the case."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass


def _current_rss() -> int:
    """Resident bytes now: /proc where there is one, else the peak so far
    (which is the best a platform without /proc offers)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _peak_rss()


def _peak_rss() -> int:
    """The process's resident high-water mark in bytes.

    On Linux this is VmHWM, the current address space's own mark, which
    `_reset_peak_rss` resets. `ru_maxrss` there is also at least the RSS of
    the parent at the moment it forked the child (the kernel carries the
    pre-exec mark over), so a large parent (a test run that imported an SDK)
    would inflate every case; `ru_maxrss` is the fallback elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # KiB on Linux


def _run_job(job: Mapping[str, Any]) -> dict[str, Any]:
    registry = DriverRegistry()
    driver = registry.create(str(job["driver"]), dict(job["params"]))
    case = find_case(str(job["case"]))
    _reset_peak_rss()
    start_rss = _current_rss()
    result = case(driver, int(job["amount"]), repeat=int(job["repeat"]))
    peak = max(0, _peak_rss() - start_rss)
    return {
        "nbytes": result.nbytes,
        "ops": result.ops,
        "seconds": result.seconds,
        "mb_per_s": result.mb_per_s,
        "ops_per_s": result.ops_per_s,
        "peak_rss_bytes": peak,
    }


def child_main() -> None:
    """The child's entry: one job from stdin, one JSON answer on stdout."""
    job = json.load(sys.stdin)
    try:
        answer = _run_job(job)
    except Exception as err:  # noqa: BLE001  (reported to the parent, which decides)
        answer = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


# -- in the parent -----------------------------------------------------------


def _scrub(text: str, hidden: Sequence[str]) -> str:
    for value in sorted(hidden, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def run_case_in_child(
    driver: str,
    params: Mapping[str, str],
    case: BenchCase,
    amount: int,
    repeat: int,
    *,
    hidden: Sequence[str] = (),
) -> BenchRow:
    """Run one case in a fresh interpreter and return its figures. `hidden`
    lists values (secrets) scrubbed from any error text."""
    row = BenchRow(case.name, case.unit, amount, repeat)
    job = {
        "driver": driver,
        "params": dict(params),
        "case": case.name,
        "amount": amount,
        "repeat": repeat,
    }
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD_CODE],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        row.error = _scrub(f"child process exited with {proc.returncode}: {tail}", hidden)
        return row
    if "error" in answer:
        row.error = _scrub(str(answer["error"]), hidden)
        return row
    row.nbytes = int(answer["nbytes"])
    row.ops = int(answer["ops"])
    row.seconds = float(answer["seconds"])
    row.mb_per_s = answer["mb_per_s"]
    row.ops_per_s = answer["ops_per_s"]
    row.peak_rss_bytes = int(answer["peak_rss_bytes"])
    return row


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if base else name


@contextmanager
def bench_root(
    registry: DriverRegistry, name: str, params: Mapping[str, str]
) -> Iterator[dict[str, str]]:
    """Parameters with a fresh random root, cleaned up on exit.

    Drivers with a `rootdirectory` get `regstore-bench-<hex>` joined onto
    it; a driver whose root is local (`DriverSpec.local_root`) with none
    given gets a temporary directory.
    Drivers without one (inmemory) are fresh per process anyway. On exit
    anything left in the root is deleted, and a local root directory removed.
    """
    root_param, local = scratch_root(registry.spec(name), params)
    result = dict(params)
    local_root: str | None = None
    if root_param is not None:
        suffix = f"regstore-bench-{secrets.token_hex(6)}"
        if local:
            local_root = tempfile.mkdtemp(prefix=f"{suffix}-")
            result[root_param] = local_root
        else:
            result[root_param] = _join(result.get(root_param) or "", suffix)
            if registry.spec(name).local_root:
                local_root = result[root_param]
    # Create once here: bad parameters fail before any child starts.
    driver = registry.create(name, result)
    try:
        yield result
    finally:
        try:
            for leftover in driver.list("/"):
                driver.delete(leftover)
        except PathNotFoundError:
            pass
        if local_root is not None:
            shutil.rmtree(local_root, ignore_errors=True)


def select_cases(patterns: Sequence[str]) -> list[BenchCase]:
    """The cases whose name contains any of `patterns` (all if none)."""
    if not patterns:
        return list(CASES)
    lowered = [p.lower() for p in patterns]
    return [c for c in CASES if any(p in c.name.lower() for p in lowered)]


def plan(case: BenchCase, mode: Mode, size: int | None) -> tuple[int, int]:
    """The (amount, repeat) a case runs at."""
    return case.amount(mode, size), case.repeats(mode)
