"""Mutation testing of the conformance suite: how many plausible defects
does it catch?

    make mutation                         # the whole catalogue
    make mutation MUTANTS=im-list-unsorted,fs-*
    .venv/bin/python scripts/mutation/run.py --catalogue FILE --suite 'PYTEST ARGS'

Each mutant in the catalogue (`catalogue.toml` beside this file) is one
defect a driver author plausibly makes, written by hand: a target file, the
exact original snippet, its replacement, and the contract rule it breaks.
For each mutant the harness copies the top-level package that holds the
target (`regstore_inmemory`, `regstore_filesystem` or `regstore`) into a
temporary directory, replaces the snippet there (it must occur exactly once,
or the run stops with "stale mutant": code that moved on must not silently
turn a mutant into a no-op), checks in a fresh interpreter that the mutated
module is the one imported, and runs the suite in short mode in a fresh
pytest process with that directory first on PYTHONPATH (ahead of the
editable installs' .pth entries; the suite's child processes inherit it).
A failing run kills the mutant (the suite stops at its first failure, so
the test named is the first in run order that failed, not necessarily the
one written for that rule); a run that outlives its timeout counts as
killed too, reported as a timeout. Mutants no black-box suite can observe
(an fsync dropped: only a power cut shows it) are listed as equivalent with
the reason and not run. The clean code is run first: a suite that fails
without any mutant makes every kill meaningless, so the harness stops.

Why hand-written mutants and not mutmut or cosmic-ray (tried: mutmut 3.8.1
on a copy of this tree). mutmut generated about 900 mutants for the inmemory
driver and three core modules alone (managed.py about 500), mostly operator
and constant swaps (a message replaced by "XXXX", an argument by None) that
say nothing about the contract, and the filesystem driver would add as many
again. Each needs a suite run of its own (inmemory about 4 s, filesystem
about 10 s), which is well over an hour on 2 cores, not the 20 minutes this
must fit; mutmut narrows each run to the tests that cover the mutated
function, but its coverage run never started here: it rewrites the code into
its own `mutants/` tree (trampolines switched by an environment variable)
and drives pytest its own way, and the driver's entry point, found through
installed metadata, did not come along ("no storage driver named
'inmemory'"). The suite also starts child processes (resume in a new
process, after SIGKILL), which must import the mutated code too. And mutmut
3 mutates only inside functions, so a loosened path pattern (a module-level
regex) is out of its reach. cosmic-ray has the same cost per mutant. A
catalogue costs the effort of writing each mutant and buys mutants that each
name the rule they break, so a survivor reads as a missing test; about 120
of them run in well under 20 minutes.

Mutants name the suites that may kill them (`inmemory`, `filesystem`; core
mutants both, tried in that order until one kills). A third-party author
points `--catalogue` at a file of their own and `--suite` at the pytest
arguments that run the suite against their driver (see CONTRIBUTING.md).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CATALOGUE = HERE / "catalogue.toml"
#: Always added to a suite's pytest arguments: stop at the first failure
#: (a kill needs one), no cache, a one-line reason per failure.
PYTEST_FIXED = ["-x", "-q", "-p", "no:cacheprovider", "-rfE", "--tb=line", "--no-header"]
#: A clean suite run that takes longer than this is taken as hung.
BASELINE_TIMEOUT = 1800.0
#: Variables that would change what the suite runs (full mode, fault rate).
SCRUBBED_ENV = ("REGSTORE_FULL", "REGSTORE_FAULTS", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")


class CatalogueError(Exception):
    """The catalogue is malformed, or a mutant no longer applies."""


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One hand-written defect."""

    id: str
    file: str
    original: str
    replacement: str
    rule: str
    suites: tuple[str, ...]
    equivalent: str | None = None
    #: For an equivalent mutant: the plugin-level suites (white-box unit
    #: tests) that do see it; run to show they do, not counted in the rate.
    unit_suites: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Catalogue:
    base: Path
    suites: dict[str, list[str]]
    mutants: list[Mutant]


@dataclasses.dataclass
class Outcome:
    """What became of one mutant."""

    mutant: Mutant
    status: str  # killed, timeout, survived, equivalent
    suite: str = ""
    test: str = ""
    seconds: float = 0.0
    detail: str = ""


# -- the catalogue -------------------------------------------------------------


def _text(entry: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise CatalogueError(f"{where}: {key!r} must be a non-empty string")
    return value


def load_catalogue(path: Path, suite_override: str | None) -> Catalogue:
    """Read and check a catalogue file (see catalogue.toml for the format)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise CatalogueError(f"{path}: {err}") from err
    base = (path.parent / str(raw.get("base", "."))).resolve()
    suites: dict[str, list[str]] = {}
    for name, args in dict(raw.get("suites", {})).items():
        if not isinstance(args, str):
            raise CatalogueError(f"{path}: suites.{name} must be a string of pytest arguments")
        suites[str(name)] = shlex.split(args)
    if suite_override is not None:
        suites = {"custom": shlex.split(suite_override)}
    if not suites:
        raise CatalogueError(f"{path}: no [suites] table and no --suite")
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw.get("mutant", [])):
        if not isinstance(entry, dict):
            raise CatalogueError(f"{path}: mutant #{index + 1} is not a table")
        mutant_id = _text(entry, "id", f"{path}: mutant #{index + 1}")
        where = f"{path}: mutant {mutant_id}"
        if mutant_id in seen:
            raise CatalogueError(f"{where}: duplicate id")
        seen.add(mutant_id)
        named = entry.get("suites", list(suites) if len(suites) == 1 else None)
        if isinstance(named, str):
            named = [named]
        if suite_override is not None:
            named = ["custom"]
        if not isinstance(named, list) or not named:
            raise CatalogueError(f"{where}: 'suites' must name one or more of {sorted(suites)}")
        unknown = [s for s in named if s not in suites]
        if unknown:
            raise CatalogueError(f"{where}: unknown suites {unknown}; known: {sorted(suites)}")
        original = _text(entry, "original", where)
        replacement = _text(entry, "replacement", where, required=False)
        if original == replacement:
            raise CatalogueError(f"{where}: the replacement equals the original")
        equivalent = entry.get("equivalent")
        if equivalent is not None and (not isinstance(equivalent, str) or not equivalent):
            raise CatalogueError(f"{where}: 'equivalent' must be the reason, a string")
        unit = entry.get("unit_suites", [])
        if not isinstance(unit, list) or any(s not in suites for s in unit):
            raise CatalogueError(f"{where}: 'unit_suites' must name some of {sorted(suites)}")
        if unit and equivalent is None:
            raise CatalogueError(f"{where}: 'unit_suites' is for equivalent mutants")
        if suite_override is not None:
            unit = []
        mutants.append(
            Mutant(
                id=mutant_id,
                file=_text(entry, "file", where),
                original=original,
                replacement=replacement,
                rule=_text(entry, "rule", where),
                suites=tuple(str(s) for s in named),
                equivalent=equivalent,
                unit_suites=tuple(str(s) for s in unit),
            )
        )
    if not mutants:
        raise CatalogueError(f"{path}: no [[mutant]] entries")
    return Catalogue(base, suites, mutants)


def select(mutants: list[Mutant], patterns: str | None) -> list[Mutant]:
    """The mutants whose ids match the comma-separated `patterns` (exact
    ids or shell patterns such as `fs-*`); all without patterns."""
    if not patterns:
        return mutants
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [m for m in mutants if any(fnmatch.fnmatchcase(m.id, p) for p in wanted)]
    unmatched = [p for p in wanted if not any(fnmatch.fnmatchcase(m.id, p) for m in mutants)]
    if unmatched:
        raise CatalogueError(f"no mutant matches {', '.join(unmatched)}")
    return chosen


# -- applying a mutant ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Applied:
    """A mutant written into a copy of its package."""

    pythonpath: Path  # the directory to put first on PYTHONPATH
    module: str  # the dotted name of the mutated module
    mutated_file: Path


def package_top(target: Path) -> Path:
    """The top-level package directory holding `target` (the outermost
    directory above it that still has an __init__.py)."""
    top = target.parent
    if not (top / "__init__.py").exists():
        raise CatalogueError(f"{target} is not inside a package (no __init__.py beside it)")
    while (top.parent / "__init__.py").exists():
        top = top.parent
    return top


def mutate_text(mutant: Mutant, base: Path) -> tuple[Path, str]:
    """The target file and its mutated text; raises CatalogueError for a
    stale mutant (original not found exactly once) or one that does not
    compile."""
    target = (base / mutant.file).resolve()
    try:
        source = target.read_text(encoding="utf-8")
    except OSError as err:
        raise CatalogueError(f"stale mutant {mutant.id}: cannot read {mutant.file}: {err}") from err
    found = source.count(mutant.original)
    if found != 1:
        raise CatalogueError(
            f"stale mutant {mutant.id}: its original snippet occurs {found} times in "
            f"{mutant.file} (must be exactly once); update the catalogue to the code"
        )
    mutated = source.replace(mutant.original, mutant.replacement)
    try:
        compile(mutated, str(target), "exec")
    except SyntaxError as err:
        raise CatalogueError(
            f"mutant {mutant.id}: the mutated {mutant.file} does not compile: {err}"
        ) from err
    return target, mutated


def apply(mutant: Mutant, base: Path, workdir: Path) -> Applied:
    """Copy the package holding the target into `workdir` and mutate it."""
    target, mutated = mutate_text(mutant, base)
    top = package_top(target)
    copy = workdir / "src" / top.name
    shutil.copytree(top, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    relative = target.relative_to(top.parent)
    mutated_file = workdir / "src" / relative
    mutated_file.write_text(mutated, encoding="utf-8")
    module = ".".join(relative.with_suffix("").parts)
    module = module.removesuffix(".__init__")
    return Applied(workdir / "src", module, mutated_file)


def child_env(pythonpath: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if pythonpath is not None:
        rest = env.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *([rest] if rest else [])])
    return env


def verify_import(applied: Applied, env: dict[str, str]) -> None:
    """Fail unless a fresh interpreter imports the mutated copy."""
    probe = "import importlib, sys; print(importlib.import_module(sys.argv[1]).__file__)"
    run = subprocess.run(
        [sys.executable, "-c", probe, applied.module],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    imported = run.stdout.strip()
    if run.returncode != 0 or Path(imported).resolve() != applied.mutated_file.resolve():
        raise CatalogueError(
            f"importing {applied.module} gave {imported or run.stderr.strip()[-300:]!r}, "
            f"not the mutated copy {applied.mutated_file}"
        )


# -- running a suite ----------------------------------------------------------------

_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$")


@dataclasses.dataclass(frozen=True)
class SuiteRun:
    returncode: int | None  # None: timed out
    seconds: float
    output: str

    @property
    def first_failure(self) -> str:
        for line in self.output.splitlines():
            match = _FAILED.match(line)
            if match:
                return match.group(1).rsplit("::", 1)[-1]
        return ""


def run_suite(
    args: list[str], *, cwd: Path, env: dict[str, str], basetemp: Path, timeout: float
) -> SuiteRun:
    """One pytest process over the suite, killed with its whole process
    group (the suite's own child processes too) when it outlives `timeout`."""
    command = [sys.executable, "-m", "pytest", *args, *PYTEST_FIXED, "--basetemp", str(basetemp)]
    start = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        code = None
    return SuiteRun(code, time.monotonic() - start, output)


class Harness:
    def __init__(self, catalogue: Catalogue, *, timeout: float | None, scratch: Path) -> None:
        self.catalogue = catalogue
        self.timeout_override = timeout
        self.scratch = scratch
        self.baseline: dict[str, float] = {}
        self._print_lock = threading.Lock()

    def timeout(self, suite: str) -> float:
        if self.timeout_override is not None:
            return self.timeout_override
        return max(120.0, 4 * self.baseline.get(suite, 60.0))

    def say(self, line: str) -> None:
        with self._print_lock:
            print(line, flush=True)

    def run_baseline(self, suites: list[str], jobs: int) -> None:
        """Every suite on clean code; SystemExit when one fails."""

        def one(name: str) -> tuple[str, SuiteRun]:
            basetemp = self.scratch / f"baseline-{name}"
            result = run_suite(
                self.catalogue.suites[name],
                cwd=self.catalogue.base,
                env=child_env(None),
                basetemp=basetemp,
                timeout=BASELINE_TIMEOUT,
            )
            return name, result

        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for name, result in pool.map(one, suites):
                if result.returncode != 0:
                    tail = "\n".join(result.output.splitlines()[-30:])
                    how = "timed out" if result.returncode is None else f"exit {result.returncode}"
                    raise SystemExit(
                        f"baseline: the {name} suite fails on the clean code ({how}), so no "
                        f"mutant can be judged. Its output ends:\n{tail}"
                    )
                self.baseline[name] = result.seconds
                self.say(f"baseline  {name:<11} passed in {result.seconds:6.1f}s")

    def run_mutant(self, mutant: Mutant) -> Outcome:
        if mutant.equivalent is not None:
            # Only its unit tests run: show they see what the suite cannot.
            seen = self._run(mutant, mutant.unit_suites)
            return dataclasses.replace(seen, status="equivalent")
        return self._run(mutant, mutant.suites)

    def _run(self, mutant: Mutant, suites: tuple[str, ...]) -> Outcome:
        workdir = Path(tempfile.mkdtemp(prefix=f"{mutant.id}-", dir=self.scratch))
        try:
            applied = apply(mutant, self.catalogue.base, workdir)
            env = child_env(applied.pythonpath)
            verify_import(applied, env)
            total = 0.0
            for suite in suites:
                result = run_suite(
                    self.catalogue.suites[suite],
                    cwd=self.catalogue.base,
                    env=env,
                    basetemp=workdir / f"tmp-{suite}",
                    timeout=self.timeout(suite),
                )
                total += result.seconds
                if result.returncode is None:
                    return Outcome(mutant, "timeout", suite, "", total, "hung past the timeout")
                if result.returncode != 0:
                    detail = "" if result.returncode == 1 else f"pytest exit {result.returncode}"
                    return Outcome(mutant, "killed", suite, result.first_failure, total, detail)
            return Outcome(mutant, "survived", "", "", total)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


# -- reporting ---------------------------------------------------------------------


def _unit_verdict(outcome: Outcome) -> str:
    """What the plugin-level tests made of an equivalent mutant ("" when it
    names none)."""
    if outcome.test or outcome.detail:
        return f"the unit test {outcome.suite}: {outcome.test or outcome.detail} sees it"
    if outcome.mutant.unit_suites:
        return "NO unit test sees it"
    return ""


def report(outcomes: list[Outcome], wall: float, json_path: Path | None) -> dict[str, Any]:
    order = {"killed": 0, "timeout": 1, "survived": 2, "equivalent": 3}
    rows = sorted(outcomes, key=lambda o: (order[o.status], o.mutant.id))
    width = max(len(o.mutant.id) for o in outcomes)
    print()
    print(f"{'mutant':<{width}}  {'result':<10} {'suite':<10} {'seconds':>7}  killed by / rule")
    print("-" * (width + 60))
    for o in rows:
        if o.status in ("killed", "timeout"):
            what = o.test or o.detail or "(no test named)"
            if o.detail and o.test:
                what += f" ({o.detail})"
        elif o.status == "survived":
            what = o.mutant.rule
        else:
            what = "equivalent; " + (_unit_verdict(o) or "not run")
        print(f"{o.mutant.id:<{width}}  {o.status:<10} {o.suite:<10} {o.seconds:7.1f}  {what}")

    equivalent = [o for o in rows if o.status == "equivalent"]
    survivors = [o for o in rows if o.status == "survived"]
    killed = [o for o in rows if o.status == "killed"]
    timeouts = [o for o in rows if o.status == "timeout"]
    judged = len(outcomes) - len(equivalent)
    caught = len(killed) + len(timeouts)
    rate = 100.0 * caught / judged if judged else 0.0
    if equivalent:
        print("\nequivalent (no black-box suite can observe them):")
        for o in equivalent:
            verdict = _unit_verdict(o)
            print(f"  {o.mutant.id}: {o.mutant.equivalent}" + (f" [{verdict}]" if verdict else ""))
    if survivors:
        print("\nsurvivors (the rule each breaks, untested):")
        for o in survivors:
            print(f"  {o.mutant.id} [{o.mutant.file}]: {o.mutant.rule}")
    print(
        f"\nmutants {len(outcomes)}, equivalent {len(equivalent)}, killed {caught} "
        f"({len(timeouts)} by timeout), survived {len(survivors)}; "
        f"kill rate {caught}/{judged} = {rate:.1f}% of the non-equivalent; wall time {wall:.0f}s"
    )
    summary: dict[str, Any] = {
        "mutants": len(outcomes),
        "equivalent": len(equivalent),
        "killed": caught,
        "timeouts": len(timeouts),
        "survived": len(survivors),
        "kill_rate": round(rate, 1),
        "wall_seconds": round(wall, 1),
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "summary": summary,
            "mutants": [
                {
                    **dataclasses.asdict(o.mutant),
                    "status": o.status,
                    "suite": o.suite,
                    "test": o.test,
                    "seconds": round(o.seconds, 1),
                    "detail": o.detail,
                }
                for o in rows
            ],
        }
        json_path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        print(f"written: {json_path}")
    return summary


# -- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the conformance suite against hand-written mutants of drivers and core."
    )
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=DEFAULT_CATALOGUE,
        help="TOML file of mutants (default: catalogue.toml beside this script)",
    )
    parser.add_argument(
        "--suite",
        metavar="PYTEST_ARGS",
        help="pytest arguments running the suite, for every mutant (replaces the "
        "catalogue's [suites]), e.g. '--pyargs regstore.testing.check --regstore-driver mystore'",
    )
    parser.add_argument(
        "--mutants", metavar="IDS", help="comma-separated ids or patterns (fs-*) to run"
    )
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per suite run before a mutant counts as hung "
        "(default: 4 x the clean run, at least 120)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="where to write the results (default: .venvs/mutation.json under the "
        "catalogue's base directory)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check that every mutant applies, run nothing"
    )
    parser.add_argument(
        "--fail-under",
        type=float,
        metavar="PERCENT",
        help="exit 1 when the kill rate is below this",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        catalogue = load_catalogue(args.catalogue.resolve(), args.suite)
        chosen = select(catalogue.mutants, args.mutants)
        for mutant in chosen:  # every one, equivalent or not: stale is stale
            mutate_text(mutant, catalogue.base)
    except CatalogueError as err:
        print(f"mutation: {err}", file=sys.stderr)
        return 2
    print(f"{len(chosen)} mutants from {args.catalogue} apply cleanly")
    if args.check:
        return 0

    started = time.monotonic()
    to_run = [m for m in chosen if m.equivalent is None or m.unit_suites]
    outcomes = [Outcome(m, "equivalent") for m in chosen if m not in to_run]
    suites = sorted(
        {s for m in to_run for s in (m.unit_suites if m.equivalent else m.suites)},
        key=list(catalogue.suites).index,
    )
    with tempfile.TemporaryDirectory(prefix="regstore-mutation-") as scratch:
        harness = Harness(catalogue, timeout=args.timeout, scratch=Path(scratch))
        harness.run_baseline(suites, args.jobs)
        # Slowest suites first, so the two workers finish close together.
        to_run.sort(key=lambda m: -max(harness.baseline.get(s, 0.0) for s in m.suites))
        done = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(harness.run_mutant, m): m for m in to_run}
            try:
                for future in concurrent.futures.as_completed(futures):
                    try:
                        outcome = future.result()
                    except CatalogueError as err:
                        print(f"mutation: {err}", file=sys.stderr)
                        pool.shutdown(wait=False, cancel_futures=True)
                        return 2
                    outcomes.append(outcome)
                    done += 1
                    where = outcome.test or outcome.detail
                    harness.say(
                        f"[{done:3}/{len(to_run)}] {outcome.mutant.id:<40} {outcome.status:<9}"
                        f" {outcome.suite:<10} {outcome.seconds:6.1f}s  {where}"
                    )
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    json_path = args.json or catalogue.base / ".venvs" / "mutation.json"
    summary = report(outcomes, time.monotonic() - started, json_path)
    if args.fail_under is not None and summary["kill_rate"] < args.fail_under:
        print(f"mutation: kill rate below {args.fail_under}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
