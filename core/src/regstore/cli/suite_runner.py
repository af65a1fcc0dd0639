"""`regstore check`: run the conformance suite against a live backend.

The suite is `regstore.testing.check`, collected with `--pyargs` and driven
by the options of the `regstore.testing.plugin` pytest plugin. pytest runs in
this process (parameters, secrets included, never appear in a child's argv)
and isolated from the caller's working directory: a throwaway rootdir, an
empty ini file and a conftest cut-off at the suite's own package, so a
random project's pytest.ini or conftest.py cannot leak in. A small collector
plugin records each test's outcome for the table the CLI prints.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["CheckOutcome", "Collector", "TestOutcome", "build_args", "run_check"]

SUITE_MODULE = "regstore.testing.check"


@dataclass
class TestOutcome:
    """One test's result, from its setup, call and teardown reports."""

    __test__ = False  # not a pytest test class, whatever its name says

    nodeid: str
    outcome: str = "passed"  # passed, failed, error, skipped, xfailed, xpassed
    duration: float = 0.0
    reason: str = ""

    @property
    def name(self) -> str:
        """The test's name without its file ("Class::test[param]")."""
        return self.nodeid.split("::", 1)[1] if "::" in self.nodeid else self.nodeid


@dataclass
class CheckOutcome:
    """What a suite run produced: pytest's exit code and the tests."""

    exit_code: int
    tests: list[TestOutcome] = field(default_factory=list)
    collect_errors: list[str] = field(default_factory=list)
    pytest_output: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for t in self.tests if t.outcome == outcome)


_QUALIFIED = re.compile(r"^(?:[A-Za-z_][\w]*\.)+(?=[A-Za-z_]\w*(?:Error|Exception|Failure)\b)")


def _first_line(text: str, limit: int = 160) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    line = _QUALIFIED.sub("", line)  # "pkg.mod.SomeError: x" -> "SomeError: x"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, "Skipped: why")
        text = str(longrepr[2])
        return _first_line(text.removeprefix("Skipped: "))
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return _first_line(str(crash.message))
    return _first_line(report.longreprtext)


class Collector:
    """A pytest plugin recording per-test outcomes in run order."""

    def __init__(self) -> None:
        self.tests: dict[str, TestOutcome] = {}
        self.collect_errors: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        test = self.tests.setdefault(report.nodeid, TestOutcome(report.nodeid))
        test.duration += report.duration
        wasxfail = getattr(report, "wasxfail", None)
        if report.when == "call":
            if wasxfail is not None:
                test.outcome = "xfailed" if report.skipped else "xpassed"
                test.reason = _first_line(str(wasxfail))
            elif report.outcome != "passed":
                test.outcome = report.outcome
                test.reason = _reason(report)
        elif report.skipped:  # skipped in setup: the usual pytest.skip / skipif
            test.outcome = "skipped"
            test.reason = _reason(report)
        elif report.failed:  # a fixture failed: an error, as pytest counts it
            if test.outcome in ("passed", "failed"):
                reason = _reason(report)
                test.reason = (
                    f"{report.when}: {reason}"
                    if test.outcome == "passed"
                    else f"{test.reason}; {report.when}: {reason}"
                )
            test.outcome = "error"

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(f"{report.nodeid or '<collection>'}: {_reason(report)}")


def build_args(
    name: str,
    params: Mapping[str, str],
    *,
    full: bool,
    keyword: str | None,
    exitfirst: bool,
    rootdir: str,
    faults: float | None = None,
    inifile: str,
    show_output: bool,
    config_file: str | None = None,
    shared_root: bool = False,
) -> list[str]:
    """pytest's argv for one suite run (parameters included: the list stays
    in this process and is never printed)."""
    args = ["--pyargs", SUITE_MODULE, "--regstore-driver", name]
    if config_file is not None:
        args += ["--regstore-config", os.path.abspath(config_file)]
    if shared_root:
        args += ["--regstore-root-param", "none"]
    for key, value in params.items():
        args += ["--regstore-param", f"{key}={value}"]
    if full:
        args.append("--regstore-full")
    if faults is not None:
        args += ["--regstore-faults", str(faults)]
    args += ["-p", "no:cacheprovider", "--rootdir", rootdir, "-c", inifile]
    confcut = _suite_dir()
    if confcut is not None:
        args += ["--confcutdir", confcut]
    if keyword:
        args += ["-k", keyword]
    if exitfirst:
        args.append("-x")
    if show_output:
        args += ["-rfEs", "--tb=short"]
    else:
        args += ["-q", "--tb=short", "--no-header"]
    return args


def _suite_dir() -> str | None:
    """The directory of the suite's package, where conftest lookup stops."""
    spec = importlib.util.find_spec("regstore.testing")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.fspath(next(iter(spec.submodule_search_locations)))


def run_check(
    name: str,
    params: Mapping[str, str],
    *,
    full: bool = False,
    faults: float | None = None,
    keyword: str | None = None,
    exitfirst: bool = False,
    show_output: bool = False,
    extra_plugins: Sequence[Any] = (),
    config_file: str | None = None,
    shared_root: bool = False,
) -> CheckOutcome:
    """Run the suite in this process and collect its outcomes. Unless
    `show_output`, pytest's own output is kept in `pytest_output` instead of
    the terminal (the CLI prints it when pytest itself failed)."""
    collector = Collector()
    with tempfile.TemporaryDirectory(prefix="regstore-check-") as tmp:
        inifile = os.path.join(tmp, "pytest.ini")
        with open(inifile, "w", encoding="utf-8") as f:
            f.write("[pytest]\n")
        args = build_args(
            name,
            params,
            full=full,
            faults=faults,
            keyword=keyword,
            exitfirst=exitfirst,
            rootdir=tmp,
            inifile=inifile,
            show_output=show_output,
            config_file=config_file,
            shared_root=shared_root,
        )
        # The suite module reads its options when imported; a cached copy
        # from an earlier run in this process would test the earlier driver.
        sys.modules.pop(SUITE_MODULE, None)
        buffer = io.StringIO()
        redirect: contextlib.AbstractContextManager[object] = (
            contextlib.nullcontext() if show_output else contextlib.redirect_stdout(buffer)
        )
        with redirect:
            code = pytest.main(args, plugins=[collector, *extra_plugins])
    return CheckOutcome(
        exit_code=int(code),
        tests=list(collector.tests.values()),
        collect_errors=collector.collect_errors,
        pytest_output=buffer.getvalue(),
    )
