"""The conformance suite fails broken drivers, test by test.

Runs `broken_suites.py` in a child pytest (so its failures do not fail this
run) and reads the per-test outcomes from its JUnit XML: each breakage must
fail the tests written to catch it, while a control test still passes and
the reference driver passes every one of them.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CONTROL = "test_write_read_1_byte"

#: class -> the tests its breakage must fail.
EXPECTED_FAILURES: dict[str, set[str]] = {
    "TestUnsortedList": {"test_list_sorted", "test_list", "test_list_direct_children_only"},
    "TestVisibleUploads": {
        "test_uncommitted_upload_invisible",
        "test_commit_replaces_old_content_at_commit",
    },
    "TestPrefixStat": {"test_stat_prefix_is_not_a_directory"},
    "TestMoveKeepsSource": {"test_move", "test_move_overwrite"},
    "TestPrefixDelete": {"test_delete_only_deletes_subpaths"},
    "TestKeepsUnclosedWrites": {"test_resume_discards_unclosed_writes"},
    "TestCancelKeeps": {"test_cancel_discards"},
    "TestNaiveModTime": {"test_stat"},
    "TestWrongWalkOrder": {"test_walk_every_entry_once_in_declared_order"},
    "TestLeavesFiles": {"test_a_leaky"},
    "TestLosesBufferOnFailedCommit": {"test_failure_points"},
    "TestSharedResumers": {"test_two_resumers"},
}


def _selection() -> str:
    """A -k expression running each class's targets plus the control."""
    parts = []
    every: set[str] = {CONTROL}
    for cls, names in EXPECTED_FAILURES.items():
        every |= names
        wanted = [*names, CONTROL] + (["test_b_after_leak"] if cls == "TestLeavesFiles" else [])
        parts.append(f"({cls} and ({' or '.join(sorted(wanted))}))")
    parts.append(f"(TestReference and ({' or '.join(sorted(every - {'test_a_leaky'}))}))")
    return " or ".join(parts)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[str, str]]:
    """(class, test) -> (outcome, message) from one child pytest run."""
    out = tmp_path_factory.mktemp("detects")
    report = out / "report.xml"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "broken_suites.py"),
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            _selection(),
            f"--junitxml={report}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), f"the child pytest wrote no report:\n{run.stdout}\n{run.stderr}"
    result: dict[tuple[str, str], tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        name = case.get("name", "").split("[", 1)[0]
        outcome, message = "passed", ""
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                outcome, message = child.tag, child.get("message", "") + (child.text or "")
        # A parametrized test counts as failed when any of its cases fails.
        if (cls, name) not in result or outcome in {"failure", "error"}:
            result[(cls, name)] = (outcome, message)
    return result


@pytest.mark.parametrize("cls", sorted(EXPECTED_FAILURES))
def test_breakage_is_caught(outcomes: dict[tuple[str, str], tuple[str, str]], cls: str) -> None:
    for name in EXPECTED_FAILURES[cls]:
        outcome, _ = outcomes[(cls, name)]
        assert outcome == "failure", f"{cls}.{name}: {outcome}, expected a failure"
    control, message = outcomes[(cls, CONTROL)]
    assert control == "passed", f"{cls}.{CONTROL} should pass: {message}"


def test_reference_passes_every_target(
    outcomes: dict[tuple[str, str], tuple[str, str]],
) -> None:
    reference = {name: o for (cls, name), o in outcomes.items() if cls == "TestReference"}
    targets = set().union(*EXPECTED_FAILURES.values()) - {"test_a_leaky"}
    assert targets <= reference.keys()
    # -k matches substrings: only the targets themselves must pass.
    bad = {name: o for name, o in reference.items() if name in targets and o[0] != "passed"}
    assert not bad, f"the reference driver fails: {bad}"


def test_leak_fails_the_test_and_store_is_cleaned(
    outcomes: dict[tuple[str, str], tuple[str, str]],
) -> None:
    outcome, message = outcomes[("TestLeavesFiles", "test_a_leaky")]
    assert outcome == "failure"  # the test itself fails, not its teardown
    assert "/forgotten" in message
    assert "leave the store empty" in message
    assert outcomes[("TestLeavesFiles", "test_b_after_leak")][0] == "passed"
