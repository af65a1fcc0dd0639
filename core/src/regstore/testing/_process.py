"""Persistence: new driver instances, new processes, and a killed writer.

The contract's resume promise ("in this process or in another one, days
later") is what a registry relies on when a push resumes on another
replica. distribution never tests it. These cases need a store that
outlives a driver instance (`capabilities.persistent`); the process cases
also need `driver_name` and JSON-serializable parameters, because the child
recreates the driver with `regstore.create(driver_name, params)` (a
`make_driver` override is not replayed in the child).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from regstore.driver import StorageDriver
from regstore.managed import ManagedDriver
from regstore.testing._base import Sizes, SuiteBase
from regstore.testing._data import Payload, sha256_of_reader

__all__ = ["ProcessTests"]

PATH = "/resume/upload"
CHILD_TIMEOUT = 300.0

#: The child: recreate the driver and run a small script of writer steps,
#: reporting sizes on stdout. Payload bytes are regenerated from the seed,
#: so nothing but this JSON crosses the process boundary.
CHILD = """
import json, sys, time
import regstore
from regstore.testing._data import Payload
job = json.loads(sys.argv[1])
driver = regstore.create(job["driver"], job["params"])
writer = None
for step in job["steps"]:
    op = step[0]
    if op == "open":
        writer = driver.writer(job["path"], append=step[1])
    elif op == "write":
        Payload(step[1], step[3]).write_to(writer, step[2], step[3])
    elif op == "close":
        writer.close()
    elif op == "size":
        print("size", writer.size, flush=True)
    elif op == "hang":
        print("ready", flush=True)
        time.sleep(3600)
"""


def _child_env() -> dict[str, str]:
    """The parent's environment, with the directories regstore and the
    driver plugins were imported from on PYTHONPATH (a test run may import
    them from paths a bare interpreter would not search)."""
    roots: list[str] = []
    for name in ("regstore", *sorted(m for m in sys.modules if m.startswith("regstore_"))):
        module = sys.modules.get(name.split(".")[0])
        origin = getattr(module, "__file__", None)
        if origin:
            root = str(Path(origin).resolve().parent.parent)
            if root not in roots:
                roots.append(root)
    env = dict(os.environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([*roots, *([existing] if existing else [])])
    return env


class _Child:
    """A child process running `CHILD` whose stdout lines arrive in a queue."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(job)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=CHILD_TIMEOUT)
        except queue.Empty:
            line = None
        if line is None:
            self.proc.kill()
            self.proc.wait()
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(
                f"the child process ended early (exit {self.proc.returncode}):\n{stderr}"
            )
        return line

    def finish(self) -> None:
        """Wait for a clean exit; fail with the child's stderr otherwise."""
        try:
            code = self.proc.wait(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        assert code == 0, f"the child process failed (exit {code}):\n{stderr}"

    def kill(self) -> None:
        """SIGKILL, as an OOM killer or a power cut would."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class ProcessTests(SuiteBase):
    """Persistence across instances and processes."""

    def require_persistent(self, driver: StorageDriver) -> None:
        if not driver.capabilities.persistent:
            pytest.skip("the driver declares capabilities.persistent = False")

    def child_job(self, driver: StorageDriver, params: dict[str, object]) -> dict[str, Any]:
        """The JSON the child gets, or a skip saying why there is none."""
        self.require_persistent(driver)
        if not self.driver_name:
            pytest.skip("no driver_name: a child process cannot recreate the driver")
        try:
            json.dumps(params)
        except TypeError as err:
            pytest.skip(f"the driver parameters are not JSON-serializable: {err}")
        return {"driver": self.driver_name, "params": params, "path": PATH}

    def finish_upload(self, driver: StorageDriver, payload: Payload, start: int) -> None:
        """Resume in this process at `start`, write the rest, commit, verify."""
        writer = driver.writer(PATH, append=True)
        assert writer.size == start, f"resumed size {writer.size}, expected exactly {start}"
        payload.write_to(writer, start)
        writer.commit()
        assert driver.stat(PATH).size == payload.size
        with driver.reader(PATH) as reader:
            assert sha256_of_reader(reader) == (payload.sha256(), payload.size)
        self.remove(driver, "/resume")

    def test_content_persists_across_instances(
        self, driver: StorageDriver, new_driver: Callable[[], StorageDriver]
    ) -> None:
        self.require_persistent(driver)
        driver.put_content("/persist/object", b"kept")
        other = new_driver()
        assert other.get_content("/persist/object") == b"kept"
        assert other.list("/persist") == ["/persist/object"]
        other.delete("/persist")
        self.assert_not_found(driver, lambda: driver.stat("/persist/object"))

    def test_resume_in_new_instance(
        self, driver: StorageDriver, new_driver: Callable[[], StorageDriver]
    ) -> None:
        self.require_persistent(driver)
        payload = Payload("new-instance", 3 * (1 << 20) + 17)
        first = (1 << 20) + 5
        writer = driver.writer(PATH)
        payload.write_to(writer, 0, first)
        writer.close()
        other = new_driver()
        resumed = other.writer(PATH, append=True)
        assert resumed.size == first
        payload.write_to(resumed, first, 2 * first)
        resumed.close()
        self.finish_upload(driver, payload, 2 * first)

    @pytest.mark.regstore_process
    def test_resume_in_new_process(
        self, driver: StorageDriver, suite_params: dict[str, object]
    ) -> None:
        """Parent writes and closes; a child resumes, writes, closes; the
        parent resumes with the exact size and commits."""
        job = self.child_job(driver, suite_params)
        payload = Payload("new-process", 3 * (1 << 20) + 333)
        first, second = (1 << 20) + 5, 2 * (1 << 20) + 11
        writer = driver.writer(PATH)
        payload.write_to(writer, 0, first)
        writer.close()

        job["steps"] = [
            ["open", True],
            ["size"],
            ["write", payload.seed, first, second],
            ["close"],
            ["size"],
        ]
        child = _Child(job)
        assert child.next_line() == f"size {first}"
        assert child.next_line() == f"size {second}"
        child.finish()
        self.finish_upload(driver, payload, second)

    @pytest.mark.regstore_process
    @pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
    def test_resume_after_sigkill(
        self, driver: StorageDriver, suite_params: dict[str, object], sizes: Sizes
    ) -> None:
        """A child writes and closes part 1, resumes, writes more without
        closing and is SIGKILLed. The resume sees exactly part 1; appending
        the rest and committing gives the exact bytes."""
        job = self.child_job(driver, suite_params)
        first = (1 << 20) + 5
        payload = Payload("sigkill-kept", first + 2 * (1 << 20) + 9)
        lost = Payload("sigkill-lost", first + sizes.crash_tail)
        job["steps"] = [
            ["open", False],
            ["write", payload.seed, 0, first],
            ["close"],
            ["open", True],
            ["write", lost.seed, first, lost.size],
            ["hang"],
        ]
        child = _Child(job)
        try:
            assert child.next_line() == "ready"
            time.sleep(0.5)  # let background part uploads reach the store
        finally:
            child.kill()
        self.finish_upload(driver, payload, first)

    def test_factory_wraps_driver(self, driver: StorageDriver) -> None:
        """The suite runs against the checked driver (path rules, names)."""
        assert isinstance(driver, ManagedDriver)
        assert driver.name
        if self.driver_name:
            assert driver.name == self.driver_name
