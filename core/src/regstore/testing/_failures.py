"""Failure paths: a step fails halfway, then the caller retries, resumes or
gives up.

A registry does not stop at the first error: a client retries a failed
PATCH, a commit that timed out is tried again, an upload whose writer broke
is resumed at the offset the registry reports. These cases make the
driver's own storage steps fail (`regstore.testing.injection`: the fault
proxy for HTTP drivers, failing `os` calls for local ones, and for every
driver faults at the method boundary) and hold it to three rules:

1. Every `commit()` that returns has published exactly the bytes that
   `write()` accepted (compared by sha256).
2. After a failure, the path holds the old content or nothing (or, after a
   commit whose reply was lost, exactly the new bytes): never a mix, never
   short data.
3. After a failure a resume reports in `size` exactly what was kept, so
   writing the rest from there and committing gives the exact bytes.

`test_failure_points` walks every failure point of write, close and commit
in turn (let n steps through, fail the rest, for n = 0, 1, 2, ... until the
operation completes). `test_random_faults` runs uploads the way a registry
would, with faults at random (`--regstore-faults RATE`, `regstore check
--faults RATE`), retrying and resuming until each upload is published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import hashlib
import json
import pickle
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from secrets import token_hex as secrets_token
from typing import ClassVar

import pytest

import regstore
from regstore.driver import StorageDriver
from regstore.errors import (
    PathNotFoundError,
    RegstoreError,
    StorageDriverError,
    UnsupportedMethodError,
    WriterFailedError,
    WriterFinishedError,
)
from regstore.managed import ManagedDriver
from regstore.params import is_secret_key
from regstore.testing._base import SuiteBase
from regstore.testing._data import Payload, random_bytes
from regstore.testing.injection import (
    FaultInjector,
    InjectedFaultError,
    OperationFaults,
    OSFaults,
    ProxyFaults,
)

__all__ = ["FailureTests", "FaultedDriver"]

PATH = "/failure/dir/object"
PARENT = "/failure/dir"
#: No operation of a driver takes more steps than this; past it the
#: enumeration stops with a failure rather than loop for ever.
MAX_POINTS = 60
#: Default rate of `test_random_faults` without `--regstore-faults`.
DEFAULT_RATE = 0.1

_LAYERS = ("storage", "operation")
_OPS = ("put", "write", "close", "commit")


class FaultedDriver:
    """A driver over the test's store whose steps fail on demand."""

    def __init__(self, driver: StorageDriver, injector: FaultInjector, layer: str) -> None:
        self.driver = driver
        self.injector = injector
        self.layer = layer

    @contextlib.contextmanager
    def armed(self, arm: Callable[[], None]) -> Iterator[None]:
        """Faults as `arm` sets them, only inside the block."""
        arm()
        try:
            yield
        finally:
            self.injector.disarm()


def _await_quiet(faults: FaultInjector, quiet: float = 0.1, limit: float = 3.0) -> None:
    """Wait until no new storage step has arrived for `quiet` seconds (at
    most `limit`): the background sends a write started are then through."""
    deadline = time.monotonic() + limit
    seen = faults.steps
    while time.monotonic() < deadline:
        time.sleep(quiet)
        if faults.steps == seen:
            return
        seen = faults.steps


def _content(driver: StorageDriver, path: str) -> bytes | None:
    try:
        return driver.get_content(path)
    except PathNotFoundError:
        return None


def _digest(data: bytes | None) -> str:
    return "absent" if data is None else hashlib.sha256(data).hexdigest()[:16]


class FailureTests(SuiteBase):
    """Failures halfway through storage steps, then retry, resume, give up."""

    #: Whether the driver's storage steps can be made to fail (by its
    #: spec's `endpoint_parameter` or `fault_modules`); override
    #: `storage_faults` to supply an injector of your own.
    fault_layers: ClassVar[tuple[str, ...]] = _LAYERS

    # -- injectors ------------------------------------------------------------

    def storage_faults(self, params: dict[str, object]) -> FaultInjector | None:
        """The injector for the driver's own storage steps, or None when the
        driver declares no way to make them fail. Override for a driver
        the factory does not know."""
        if not self.driver_name:
            return None
        spec = regstore.default_registry().spec(self.driver_name)
        if spec.endpoint_parameter:
            upstream = params.get(spec.endpoint_parameter)
            if not isinstance(upstream, str) or not upstream.startswith("http://"):
                return None  # no plain-HTTP endpoint the proxy could stand in front of
            try:
                return ProxyFaults(spec.endpoint_parameter, upstream)
            except ValueError:
                return None  # not on loopback: the proxy forwards only there
        if spec.fault_modules:
            return OSFaults(spec.fault_modules)
        return None

    def fault_parameters(self) -> dict[str, object]:
        """Parameters a driver gets under faults (its spec's
        `fault_parameters`: retries off, so one fault surfaces)."""
        if not self.driver_name:
            return {}
        return dict(regstore.default_registry().spec(self.driver_name).fault_parameters)

    def _secrets(self, params: dict[str, object]) -> list[str]:
        declared: set[str] = set()
        if self.driver_name:
            spec = regstore.default_registry().spec(self.driver_name)
            declared = {p.name for p in spec.parameters if p.secret}
        return [
            str(v)
            for k, v in params.items()
            if isinstance(v, str) and v and (k in declared or is_secret_key(k))
        ]

    @pytest.fixture(params=_LAYERS)
    def faulted(
        self,
        request: pytest.FixtureRequest,
        driver: StorageDriver,
        suite_params: dict[str, object],
    ) -> Iterator[FaultedDriver]:
        """The test's driver, or a second instance over the same store, whose
        storage steps ("storage") or method calls ("operation") fail on
        demand."""
        layer: str = request.param
        if layer not in self.fault_layers:
            pytest.skip(f"fault layer {layer!r} is off for this suite")
        params = {**suite_params, **self.fault_parameters()}
        injector: FaultInjector | None
        if layer == "storage":
            injector = self.storage_faults(params)
            if injector is None:
                pytest.skip(
                    "the driver declares no way to make its storage steps fail "
                    "(DriverSpec.endpoint_parameter or fault_modules)"
                )
        else:
            injector = OperationFaults()
        injector.install()
        try:
            faulty_params = injector.params(params)
            # Another endpoint or other settings: a new instance over the same
            # store (checked through `driver`); else the test's own instance
            # (so drivers that are not persistent work too).
            changed = faulty_params != suite_params
            created = self._create(faulty_params) if changed else driver
            inner = created.inner if isinstance(created, ManagedDriver) else created
            faulty = ManagedDriver(
                injector.wrap(inner),
                name=created.name or self.driver_name,
                secrets=self._secrets(params),
            )
            yield FaultedDriver(faulty, injector, layer)
        finally:
            injector.disarm()
            injector.uninstall()

    @pytest.fixture
    def fault_rate(self, request: pytest.FixtureRequest) -> float:
        """`--regstore-faults RATE` (or REGSTORE_FAULTS), else DEFAULT_RATE."""
        from regstore.testing.plugin import fault_rate  # noqa: PLC0415

        rate = fault_rate(request.config)
        return DEFAULT_RATE if rate is None else rate

    # -- helpers ----------------------------------------------------------------

    def assert_old_or_absent(
        self, driver: StorageDriver, old: bytes | None, *, new: bytes | None = None, when: str
    ) -> None:
        """Rule 2: after a failure the path holds `old`, nothing, or (a
        commit whose reply was lost) exactly `new`."""
        seen = _content(driver, PATH)
        allowed = {_digest(old)} | ({_digest(new)} if new is not None else set())
        if old is None:
            allowed.add("absent")
        assert _digest(seen) in allowed, (
            f"{when}: the path holds {len(seen or b'')} bytes that are neither the old "
            f"content ({len(old or b'')} bytes) nor {'the new' if new else 'absent'}"
        )
        if seen is None:
            # Nothing was published: no directory that holds no object may
            # show up either (a failed commit must not leave a hollow one).
            self.assert_not_found(driver, lambda: driver.stat(PARENT))
            assert "/failure" not in driver.list("/"), f"{when}: an empty directory shows"

    def finish_by_resume(
        self, driver: StorageDriver, payload: Payload, *, when: str, expect: int | None = None
    ) -> None:
        """Rule 3: resume, write the rest from the reported size, commit;
        the result must be exactly `payload` (or it was committed already).
        `expect`: the size the resume must report (after a close that
        returned, every byte written)."""
        try:
            writer = driver.writer(PATH, append=True)
        except StorageDriverError:
            # No upload: fine only if the commit did happen before.
            assert _digest(_content(driver, PATH)) == _digest(payload.read()), (
                f"{when}: the upload is gone but the path does not hold its bytes"
            )
            return
        size = writer.size
        assert 0 <= size <= payload.size, (
            f"{when}: resumed at {size}, beyond the {payload.size} bytes ever written"
        )
        if expect is not None:
            assert size == expect, f"{when}: resumed at {size}, expected exactly {expect}"
        payload.write_to(writer, size)
        writer.commit()
        published = _content(driver, PATH)
        assert _digest(published) == _digest(payload.read()), (
            f"{when}: resumed at {size}, wrote the rest and committed, but the path holds "
            f"{len(published or b'')} bytes that differ from the {payload.size} written"
        )

    def cleanup(self, driver: StorageDriver) -> None:
        """Nothing of this round may stay: content, an upload, or what an
        outage kept the driver from cleaning up (a temporary file whose
        removal failed too), which purge_uploads reclaims."""
        with contextlib.suppress(StorageDriverError):
            driver.writer(PATH, append=True).cancel()
        self.remove(driver, "/failure")
        with contextlib.suppress(UnsupportedMethodError):
            driver.purge_uploads(dt.timedelta(0))

    # -- failure points ---------------------------------------------------------

    def one_point(  # noqa: PLR0917  (one failure point is this many things)
        self,
        driver: StorageDriver,
        faulted: FaultedDriver,
        op: str,
        point: int,
        kind: str,
        payload: Payload,
        old: bytes | None,
        once: bool = False,
    ) -> bool:
        """Let `point` steps of `op` through and fail the rest (`once`: fail
        only the next one), then recover as a registry would; True when `op`
        completed untouched."""
        how = "at step" if once else "after"
        when = f"{faulted.layer} fault {kind!r} {how} {point} step(s) of {op}"
        faults = faulted.injector
        arm = faults.fail_once_at if once else faults.fail_after
        fdrv = faulted.driver
        if old is not None:
            driver.put_content(PATH, old)
        if op == "put":
            return self.one_put(driver, faulted, point, kind, payload, old, once=once)
        split = payload.size // 2
        writer = fdrv.writer(PATH)
        payload.write_to(writer, 0, split)
        writer.close()
        writer = fdrv.writer(PATH, append=True)
        assert writer.size == split, f"{when}: resumed at {writer.size}, expected {split}"

        failure: RegstoreError | None = None
        if op == "write":
            with faulted.armed(lambda: arm(point, kind)):
                try:
                    payload.write_to(writer, split)
                except RegstoreError as err:
                    failure = err
                if payload.size > 64 * 1024:
                    # A write may hand full parts to background sends that
                    # reach storage after it returns: they are steps of the
                    # write too, so the faults stay armed until they arrive.
                    _await_quiet(faults)
            if failure is None:
                writer.commit()
            else:
                self.assert_old_or_absent(driver, old, when=when)
                # Part of the failed write may be stored: the writer goes no
                # further (core's rule), so nothing after it can be trusted.
                with pytest.raises(WriterFailedError):
                    writer.write(b"more")
                with pytest.raises(WriterFailedError):
                    writer.commit()
                self.assert_old_or_absent(driver, old, when=f"{when}, then commit refused")
                writer.close()  # keeps what reached storage; size says how much
                self.assert_old_or_absent(driver, old, when=f"{when}, then close")
                self.finish_by_resume(driver, payload, when=f"{when}, then resume")
        elif op == "close":
            payload.write_to(writer, split)
            with faulted.armed(lambda: arm(point, kind)):
                try:
                    writer.close()
                except RegstoreError as err:
                    failure = err
            if failure is None:
                self.finish_by_resume(driver, payload, when=when, expect=payload.size)
            elif point % 2:
                self.assert_old_or_absent(driver, old, when=when)
                try:
                    writer.commit()  # the caller commits after a failed close
                except StorageDriverError:
                    self.finish_by_resume(driver, payload, when=f"{when}, commit refused")
            else:
                self.assert_old_or_absent(driver, old, when=when)
                writer.close()  # the caller retries the close, then resumes
                self.finish_by_resume(
                    driver, payload, when=f"{when}, then close", expect=payload.size
                )
        else:
            payload.write_to(writer, split)
            with faulted.armed(lambda: arm(point, kind)):
                try:
                    writer.commit()
                except RegstoreError as err:
                    failure = err
            if failure is not None:
                self.assert_old_or_absent(driver, old, new=payload.read(), when=when)
                try:
                    writer.commit()  # the caller retries the commit
                except StorageDriverError:
                    self.finish_by_resume(driver, payload, when=f"{when}, retry failed")
        published = _content(driver, PATH)
        assert _digest(published) == _digest(payload.read()), (
            f"{when}{', then recovered' if failure else ''}: commit returned but the path "
            f"holds {len(published or b'')} bytes, not the {payload.size} written"
        )
        self.check_failure(failure, faulted, when)
        self.cleanup(driver)
        return failure is None and faults.injected == 0

    def check_failure(
        self, failure: RegstoreError | None, faulted: FaultedDriver, when: str
    ) -> None:
        """What a failure looks like: a StorageDriverError naming the driver,
        with the backend's error chained as its cause."""
        if failure is None:
            return
        assert isinstance(failure, StorageDriverError), f"{when}: raised {failure!r}"
        assert faulted.driver.name in str(failure), f"{when}: error lacks the driver name"
        if faulted.layer == "operation" and not isinstance(failure, WriterFinishedError):
            causes: list[BaseException] = []
            current: BaseException | None = failure
            while current is not None and len(causes) < 10:
                causes.append(current)
                current = current.__cause__
            assert any(isinstance(c, InjectedFaultError) for c in causes), (
                f"{when}: the error does not chain the fault that caused it: {failure!r}"
            )

    def one_put(  # noqa: PLR0917  (one failure point is this many things)
        self,
        driver: StorageDriver,
        faulted: FaultedDriver,
        point: int,
        kind: str,
        payload: Payload,
        old: bytes | None,
        *,
        once: bool,
    ) -> bool:
        """put_content under a failure: the old bytes or nothing stay, and a
        retried put stores exactly the new bytes."""
        how = "at step" if once else "after"
        when = f"{faulted.layer} fault {kind!r} {how} {point} step(s) of put_content"
        new = payload.read()
        failure: RegstoreError | None = None
        faults = faulted.injector
        arm = faults.fail_once_at if once else faults.fail_after
        with faulted.armed(lambda: arm(point, kind)):
            try:
                faulted.driver.put_content(PATH, new)
            except RegstoreError as err:
                failure = err
        if failure is not None:
            self.assert_old_or_absent(driver, old, new=new, when=when)
            self.check_failure(failure, faulted, when)
            faulted.driver.put_content(PATH, new)  # the caller retries
        published = _content(driver, PATH)
        assert _digest(published) == _digest(new), (
            f"{when}: put_content returned but the path holds {len(published or b'')} bytes, "
            f"not the {len(new)} given"
        )
        self.cleanup(driver)
        return failure is None and faulted.injector.injected == 0

    @pytest.mark.parametrize("op", _OPS)
    def test_failure_points(
        self, driver: StorageDriver, faulted: FaultedDriver, op: str, full_mode: bool
    ) -> None:
        """Every failure point of `op`, each followed by the recovery a
        registry makes; rules 1-3 hold at each."""
        kinds = faulted.injector.kinds
        # Larger than a part of part-uploading drivers (S3's 5 MiB), odd.
        sizes = [1000, 6 * (1 << 20) + 3] if full_mode else [6 * (1 << 20) + 3]
        sizes.insert(0, 1000)
        sizes = sorted(set(sizes))
        failures_seen = 0
        for size in sizes:
            payload = Payload(f"failure-{op}-{size}", size)
            old = random_bytes(777, f"old-{op}")
            for point in range(MAX_POINTS):
                # Each point in two ways: every step from there on fails (an
                # outage), or that step alone (a transient fault, which the
                # driver must survive exactly or report).
                if full_mode:
                    rounds = [(k, o, n) for k in kinds for o in (None, old) for n in (0, 1)]
                elif size <= 64 * 1024:
                    # Small uploads are cheap: every kind at every point,
                    # over old content and over none.
                    rounds = [(k, o, n) for k in kinds for o in (None, old) for n in (0, 1)]
                else:
                    kind = kinds[point % len(kinds)]
                    rounds = [(kind, old if point % 2 else None, n) for n in (0, 1)]
                done = False
                for kind, previous, once in rounds:
                    done = self.one_point(
                        driver, faulted, op, point, kind, payload, previous, once=bool(once)
                    )
                    failures_seen += faulted.injector.injected > 0
                if done:
                    break
            else:
                pytest.fail(f"{op} of {size} bytes still failed after {MAX_POINTS} steps")
        assert failures_seen, f"no fault was ever injected into {op}: the test proved nothing"

    # -- random faults ------------------------------------------------------------

    def upload_through_faults(
        self, driver: StorageDriver, fdrv: StorageDriver, payload: Payload, piece: int
    ) -> int:
        """Upload `payload` to PATH as a registry would under faults:
        retry what failed, resume at the reported size, start over when
        nothing was kept. Returns how many failures it met."""
        failures = 0
        writer: regstore.FileWriter | None = None
        for _attempt in range(500):
            try:
                if writer is None:
                    try:
                        writer = fdrv.writer(PATH, append=True)
                    except PathNotFoundError:
                        writer = fdrv.writer(PATH)
                    assert writer.size <= payload.size, (
                        f"resumed at {writer.size}, beyond the {payload.size} bytes written"
                    )
                while writer.size < payload.size:
                    start = writer.size
                    payload.write_to(writer, start, min(payload.size, start + piece))
                writer.commit()
                return failures
            except RegstoreError as err:
                failures += 1
                if _content(driver, PATH) == payload.read():
                    return failures  # a commit whose reply was lost
                self.assert_old_or_absent(driver, None, when=f"random fault ({err})")
                if writer is not None:
                    try:
                        writer.close()
                    except RegstoreError:
                        # Dropped: a driver must not keep the upload locked
                        # for a writer nobody holds (a crashed client).
                        del writer
                        gc.collect()
                    writer = None
        pytest.fail(f"gave up after 500 attempts ({failures} failures)")

    @pytest.mark.regstore_heavy
    def test_random_faults(
        self, driver: StorageDriver, faulted: FaultedDriver, fault_rate: float, full_mode: bool
    ) -> None:
        """Uploads under faults at random, recovered as a registry would;
        each ends with exactly its bytes published."""
        rng = random.Random(f"random-faults-{faulted.layer}")
        count = 12 if full_mode else 4
        failures = 0
        faults = faulted.injector
        for index in range(count):
            size = rng.choice([0, 1, 999, 256 * 1024 + 1, 6 * (1 << 20) + 7])
            payload = Payload(f"random-{index}", size)
            piece = rng.choice([1000, 64 * 1024, 1 << 20])
            with faulted.armed(functools.partial(faults.fail_randomly, fault_rate, index)):
                failures += self.upload_through_faults(driver, faulted.driver, payload, piece)
            published = _content(driver, PATH)
            assert _digest(published) == _digest(payload.read()), (
                f"upload {index} ({size} bytes): published {len(published or b'')} bytes "
                "that differ from what was written"
            )
            self.cleanup(driver)
        if fault_rate > 0:
            assert failures, "no fault surfaced: raise --regstore-faults"

    # -- readers and concurrent commits ---------------------------------------------

    def test_reader_sees_one_version(self, driver: StorageDriver) -> None:
        """A reader that keeps reading while its path is committed over sees
        the old bytes or the new ones (or an error), never a mix."""
        size = 3 * (1 << 20) + 5
        old = random_bytes(size, "reader-old")
        new = random_bytes(size, "reader-new")
        path = "/failure/read/object"
        driver.put_content(path, old)
        got = bytearray()
        try:
            with driver.reader(path) as reader:
                got += reader.read(64 * 1024)
                writer = driver.writer(path)
                writer.write(new)
                writer.commit()
                driver.put_content(path, new)
                while chunk := reader.read(256 * 1024):
                    got += chunk
        except StorageDriverError:
            got = bytearray(old)  # an error is allowed; a mix is not
        assert _digest(bytes(got)) in (_digest(old), _digest(new)), (
            f"the reader returned {len(got)} bytes mixing the old and the new content"
        )
        self.remove(driver, "/failure")

    # -- two resumers -----------------------------------------------------------------

    def test_two_resumers(
        self, driver: StorageDriver, new_driver: Callable[[], StorageDriver]
    ) -> None:
        """Two writers resume one closed upload (a client retrying a PATCH).
        The second waits, fails with a clear error, or works on its own copy;
        what is published is exactly one writer's bytes, and it never
        changes after the commit."""
        other = new_driver() if driver.capabilities.persistent else driver
        first = random_bytes(10_000, "resumers-first")
        one = random_bytes(70_000, "resumers-one")
        two = random_bytes(50_000, "resumers-two")
        writer = driver.writer(PATH)
        writer.write(first)
        writer.close()

        w1 = driver.writer(PATH, append=True)
        w1.write(one[:30_000])
        opener = _Opener(lambda: other.writer(PATH, append=True))
        w2 = opener.result(2.0)
        if w2 is not None:
            assert w2.size == len(first), f"the second resumer sees size {w2.size}"
            w2.write(two[:20_000])  # would truncate or overwrite a shared file
        w1.write(one[30_000:])
        try:
            w1.commit()
        except StorageDriverError:
            # The second resumer took the upload over (its own copy): the
            # first may not publish, and nothing of it may show.
            assert w2 is not None, "the first resumer could not commit, and the second was refused"
            self.assert_not_found(driver, lambda: driver.stat(PATH))
            w2.write(two[20_000:])
            w2.commit()
            assert _digest(_content(driver, PATH)) == _digest(first + two), (
                "the second resumer's commit is not exactly its own bytes"
            )
            self.remove(driver, "/failure")
            return
        assert _digest(_content(driver, PATH)) == _digest(first + one), (
            "the first resumer's commit published bytes that are not exactly its own"
        )
        if w2 is None:
            late = opener.result(30.0)  # one that waited gets its answer now
            if late is not None:
                late.cancel()
                pytest.fail("a resumer that waited was given the upload committed meanwhile")
            assert isinstance(opener.error, StorageDriverError), (
                f"the second resumer failed with {opener.error!r}, not a StorageDriverError"
            )
            assert driver.name in str(opener.error), f"error lacks the driver name: {opener.error}"
        else:
            try:
                w2.write(two[20_000:])
                assert _digest(_content(driver, PATH)) == _digest(first + one), (
                    "a second resumer's writes changed the published object in place"
                )
                w2.commit()
                assert _digest(_content(driver, PATH)) == _digest(first + two), (
                    "the second resumer's commit is not exactly its own bytes"
                )
            except StorageDriverError:
                assert _digest(_content(driver, PATH)) == _digest(first + one)
        self.remove(driver, "/failure")

    # -- secrets ------------------------------------------------------------------------

    def test_secrets_never_shown(
        self, driver: StorageDriver, suite_params: dict[str, object]
    ) -> None:
        """No error shows a secret, in any shape, anywhere a user could see
        it: message, repr, args, attributes, the chained causes, a formatted
        traceback, a pickle. Checked for the driver's configured secret
        parameters (errors the driver raises itself) and, for every driver,
        for a synthetic secret that faults carry raw, repr'd, JSON-escaped
        and in their chained cause (core's scrubbing)."""
        configured = self._secrets(suite_params)
        synthetic = f'S3cr3t-"q" \\ b\u00e4ck\n-{secrets_token()}'
        provoked = self.provoke_errors(driver) if configured else []

        faults = OperationFaults(detail=synthetic)
        inner = driver.inner if isinstance(driver, ManagedDriver) else driver
        carrying = ManagedDriver(
            faults.wrap(inner), name=driver.name, secrets=[*configured, synthetic]
        )
        faults.fail_after(0, "refuse")
        provoked += self.provoke_errors(carrying)
        faults.fail_after(0, "lost-reply")
        provoked += self.provoke_errors(carrying, existing=True)
        faults.disarm()
        assert provoked, "nothing raised: the cases proved nothing"
        shapes = sorted({shape for s in [*configured, synthetic] for shape in _shapes(s)}, key=len)
        for err in provoked:
            for text in _every_view(err):
                for shape in shapes:
                    assert shape not in text, (
                        f"a secret shows in {type(err).__name__}: {text[:200]!r}"
                    )
        self.remove(driver, "/failure")

    def provoke_errors(
        self, driver: StorageDriver, *, existing: bool = False
    ) -> list[BaseException]:
        """The errors a set of calls raises (paths absent unless `existing`)."""
        provoked: list[BaseException] = []

        def provoke(call: Callable[[], object]) -> None:
            try:
                call()
            except Exception as err:  # noqa: BLE001  (every error is inspected)
                provoked.append(err)

        missing = "/failure/missing"
        if existing:
            provoke(lambda: driver.put_content(PATH, b"content"))
        provoke(lambda: driver.get_content(PATH if existing else missing))
        provoke(lambda: driver.reader(PATH if existing else missing))
        provoke(lambda: driver.stat(PATH if existing else missing))
        provoke(lambda: driver.list("/failure" if existing else missing))
        provoke(lambda: driver.move(missing, "/failure/other"))
        provoke(lambda: driver.writer(missing, append=True))
        provoke(lambda: driver.get_content("relative"))
        provoke(lambda: driver.reader(missing, -1))
        provoke(lambda: driver.delete(PATH if existing else missing))
        return provoked


def _shapes(secret: str) -> set[str]:
    """The ways a secret shows in text, written out here rather than taken
    from core's scrubber, so the check does not share its blind spots."""
    found = set()
    for value in (secret, secret.strip()):
        found |= {
            value,
            repr(value)[1:-1],
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            repr(value.encode())[2:-1],
            value.encode("unicode_escape").decode(),
        }
    return {shape for shape in found if len(shape) >= 8}


def _every_view(err: BaseException) -> Iterator[str]:
    """Everything of `err` a user or a log could see."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield from (str(arg) for arg in current.args)
        yield repr(vars(current)) if hasattr(current, "__dict__") else ""
        current = current.__cause__ or current.__context__
    yield "".join(traceback.format_exception(err))
    with contextlib.suppress(Exception):
        yield repr(pickle.dumps(err))


class _Opener:
    """Runs `call()` in a thread, so a driver that makes a second resumer
    wait does not hang the test."""

    def __init__(self, call: Callable[[], regstore.FileWriter]) -> None:
        self._call = call
        self.writer: regstore.FileWriter | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.writer = self._call()
        except Exception as err:  # noqa: BLE001  (reported to the test)
            self.error = err

    def result(self, timeout: float) -> regstore.FileWriter | None:
        """The writer once the call returned within `timeout`; None while it
        waits or when it raised (then `error` says what)."""
        self._thread.join(timeout)
        return self.writer
