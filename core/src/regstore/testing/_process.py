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

import contextlib
import datetime as dt
import hashlib
import json
import os
import queue
import random
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
from regstore.errors import PathNotFoundError, UnsupportedMethodError
from regstore.managed import ManagedDriver
from regstore.testing._base import Sizes, SuiteBase
from regstore.testing._data import Payload, sha256_of_reader

__all__ = ["ProcessTests"]


def _sha(driver: StorageDriver) -> str:
    with driver.reader(PATH) as reader:
        return sha256_of_reader(reader)[0]


def _sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    elif op == "put-loop":
        for i in range(100000):
            driver.put_content(f"/crash/{i}/deep/{i}/object", bytes(step[1]))
            if i == 0:
                print("ready", flush=True)
    elif op == "await":
        print("waiting", flush=True)
        sys.stdin.readline()
    elif op == "try-open":
        try:
            writer = driver.writer(job["path"], append=step[1])
        except Exception as err:
            writer = None
            print("error", type(err).__name__, " ".join(str(err).split()), flush=True)
        else:
            print("opened", writer.size, flush=True)
    elif op == "try-write" and writer is not None:
        try:
            Payload(step[1], step[3]).write_to(writer, step[2], step[3])
        except Exception as err:
            print("error", type(err).__name__, " ".join(str(err).split()), flush=True)
        else:
            print("wrote", writer.size, flush=True)
    elif op == "try-commit" and writer is not None:
        try:
            writer.commit()
        except Exception as err:
            print("error", type(err).__name__, " ".join(str(err).split()), flush=True)
        else:
            print("committed", flush=True)
    elif op == "commit":
        writer.commit()
        print("committed", flush=True)
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
            stdin=subprocess.PIPE,
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

    def go(self) -> None:
        """Let a child waiting at an `await` step go on (a no-op once the
        child has ended)."""
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()

    def poll_line(self, timeout: float) -> str | None:
        """The next line within `timeout`, or None while the child is busy
        (or blocked: a driver may make a second resumer wait)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            self.lines.put(None)  # next_line reports the early end
            return self.next_line()
        return line

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

    @pytest.mark.regstore_process
    def test_two_resumers_in_two_processes(
        self, driver: StorageDriver, suite_params: dict[str, object]
    ) -> None:
        """Two processes resume one closed upload, as two registry replicas
        do when a client retries a PATCH. The second waits, fails, or works
        on its own copy; the published object is exactly one process's
        bytes and does not change when the other goes on writing."""
        job = self.child_job(driver, suite_params)
        first = 100_000
        one = Payload("two-procs-one", first + 2 * 300_000)
        two = Payload("two-procs-two", first + 2 * 200_000)
        writer = driver.writer(PATH)
        one.write_to(writer, 0, first)
        writer.close()

        a = _Child(
            {
                **job,
                "steps": [
                    ["open", True],
                    ["size"],
                    ["write", one.seed, first, first + 300_000],
                    ["await"],
                    ["write", one.seed, first + 300_000, one.size],
                    ["try-commit"],
                ],
            }
        )
        b: _Child | None = None
        try:
            assert a.next_line() == f"size {first}"
            assert a.next_line() == "waiting"
            b = _Child(
                {
                    **job,
                    "steps": [
                        ["try-open", True],
                        ["try-write", two.seed, first, first + 200_000],
                        ["await"],
                        ["try-write", two.seed, first + 200_000, two.size],
                        ["await"],
                        ["try-commit"],
                    ],
                }
            )
            opened = b.poll_line(10.0)  # None: the second resumer waits
            if opened is not None and opened.startswith("opened"):
                assert opened == f"opened {first}", f"second resumer: {opened}"
                assert b.next_line().startswith(("wrote", "error"))
                assert b.next_line() == "waiting"
            a.go()
            first_won = a.next_line() == "committed"
            a.finish()
            if not first_won:
                # The second process took the upload over (its own copy):
                # the first may not publish; the second publishes its bytes.
                assert (opened or "").startswith("opened"), (
                    "the first process could not commit, and the second was refused"
                )
                self.assert_not_found(driver, lambda: driver.stat(PATH))
                b.go()
                assert b.next_line().startswith("wrote")
                assert b.next_line() == "waiting"
                b.go()
                assert b.next_line() == "committed"
                b.finish()
                assert _sha(driver) == _sha_bytes(one.read(0, first) + two.read(first))
                self.remove(driver, "/resume")
                return
            published = one.read()
            assert _sha(driver) == _sha_bytes(published), (
                "the first process's commit is not exactly its own bytes"
            )
            if opened is None:
                late = b.next_line()
                assert late.startswith("error"), (
                    f"a resumer that waited was given the upload committed meanwhile: {late}"
                )
            elif opened.startswith("opened"):
                b.go()
                assert b.next_line().startswith(("wrote", "error"))
                assert b.next_line() == "waiting"
                assert _sha(driver) == _sha_bytes(published), (
                    "the second process's writes changed the published object in place"
                )
                b.go()
                if b.next_line() == "committed":
                    assert _sha(driver) == _sha_bytes(one.read(0, first) + two.read(first)), (
                        "the second process's commit is not exactly its own bytes"
                    )
            else:
                assert opened.startswith("error"), opened
                assert driver.name in opened, f"the error lacks the driver name: {opened}"
            if opened is None or not opened.startswith("opened"):
                b.go()  # the refused child still passes its two await steps
                b.go()
            b.finish()
        finally:
            a.kill()
            if b is not None:
                b.kill()
        self.remove(driver, "/resume")

    @pytest.mark.regstore_process
    @pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
    def test_crashes_during_put_content_leave_no_trace(
        self, driver: StorageDriver, suite_params: dict[str, object], rng: random.Random
    ) -> None:
        """A process SIGKILLed again and again while it puts objects at new
        deep paths: every object is whole, and every directory that stat,
        list or walk shows holds an object (a directory created for a put
        that never finished is no part of the store)."""
        job = self.child_job(driver, suite_params)
        size = 64 * 1024
        job["steps"] = [["put-loop", size]]
        for _ in range(8):
            child = _Child(job)
            try:
                assert child.next_line() == "ready"
                time.sleep(rng.uniform(0.0, 0.15))
            finally:
                child.kill()
        files = {info.path: info for info in driver.walk("/") if not info.is_dir}
        walked_dirs = {info.path for info in driver.walk("/") if info.is_dir}
        assert files, "the child stored nothing before it was killed"
        for path in files:
            assert driver.get_content(path) == bytes(size), f"{path} is not whole"
        numbers = sorted({int(path.split("/")[2]) for path in files})
        for i in range(numbers[-1] + 2):
            for directory in (f"/crash/{i}", f"/crash/{i}/deep", f"/crash/{i}/deep/{i}"):
                try:
                    info = driver.stat(directory)
                except PathNotFoundError:
                    assert directory not in walked_dirs
                    continue
                assert info.is_dir
                assert any(f.startswith(directory + "/") for f in files), (
                    f"{directory} is shown as a directory but holds no object"
                )
        for directory in walked_dirs:
            assert any(f.startswith(directory + "/") for f in files), (
                f"walk shows {directory}, which holds no object"
            )
        with contextlib.suppress(UnsupportedMethodError):
            driver.purge_uploads(dt.timedelta(0))  # crash leftovers, where kept
        self.remove(driver, "/crash")

    def test_factory_wraps_driver(self, driver: StorageDriver) -> None:
        """The suite runs against the checked driver (path rules, names)."""
        assert isinstance(driver, ManagedDriver)
        assert driver.name
        if self.driver_name:
            assert driver.name == self.driver_name
