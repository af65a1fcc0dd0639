"""Moves: the copy poller with a fake (Azurite finishes every copy at once,
so pending, abort and failure are shown here without it), then a real move
on Azurite."""

from __future__ import annotations

from typing import Any

import pytest
from regstore_azure.client import Settings
from regstore_azure.copy import CopyState, wait_for_copy

import regstore
from regstore import StorageDriverError


class FakeCopy:
    """Get Blob Properties of a destination, as a script of copy states; it
    records the sleeps and aborts asked of it. A fake on purpose: Azurite
    reports every copy finished at once."""

    def __init__(self, states: list[CopyState]) -> None:
        self.states = list(states)
        self.sleeps: list[float] = []
        self.aborted: list[str] = []

    def poll(self) -> CopyState:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def run(self, started: CopyState, polls: int = 5, delay: float = 0.1) -> None:
        wait_for_copy(
            started,
            self.poll,
            self.aborted.append,
            polls=polls,
            delay=delay,
            what="move /a to /b",
            sleep=self.sleeps.append,
        )


def pending(copy_id: str = "c1") -> CopyState:
    return CopyState(copy_id, "pending")


def test_finished_copy_returns_without_polling() -> None:
    fake = FakeCopy([])
    fake.run(CopyState("c1", "success"))
    assert fake.sleeps == []
    assert fake.aborted == []


def test_pending_copy_is_polled_with_linear_delay_until_success() -> None:
    fake = FakeCopy([pending(), pending(), CopyState("c1", "success")])
    fake.run(pending(), polls=5, delay=0.1)
    assert fake.sleeps == pytest.approx([0.1, 0.2, 0.3])
    assert fake.aborted == []


def test_copy_still_pending_after_max_retries_is_aborted_and_raises() -> None:
    fake = FakeCopy([pending()])
    with pytest.raises(StorageDriverError, match=r"did not finish after 4 polls.*aborted"):
        fake.run(pending(), polls=4, delay=0.5)
    assert fake.sleeps == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert fake.aborted == ["c1"]


@pytest.mark.parametrize("status", ["failed", "aborted"])
def test_failed_copy_raises_without_abort(status: str) -> None:
    fake = FakeCopy([CopyState("c1", status, "500 InternalError")])
    with pytest.raises(StorageDriverError, match=f"ended {status}: 500 InternalError"):
        fake.run(pending())
    assert fake.aborted == []


def test_copy_replaced_by_another_raises() -> None:
    fake = FakeCopy([CopyState("c2", "success")])
    with pytest.raises(StorageDriverError, match="replaced by another one"):
        fake.run(pending("c1"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("100ms", 0.1), ("1.5s", 1.5), ("1m", 60.0), ("2500us", 0.0025), ("0.2", 0.2),
     (2, 2.0), ("1s500ms", 1.5)],
)  # fmt: skip
def test_retry_delay_takes_distribution_durations(text: object, seconds: float) -> None:
    from regstore_azure.client import parse_duration

    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "100", "-1s", "2m1s", "0", "1e400", "10ms x"])
def test_retry_delay_refuses_other_values(text: str, azure_params: dict[str, object]) -> None:
    with pytest.raises(regstore.InvalidParameterError, match="retry_delay"):
        regstore.create("azure", dict(azure_params, retry_delay=text))


def test_max_retries_zero_means_five_and_negative_is_refused(
    azure_params: dict[str, object],
) -> None:
    """distribution: 0 means the default (5); its -1 (abort, then report
    success) is refused at create()."""
    base: dict[str, Any] = {
        "container": "c" * 3,
        "rootdirectory": "",
        "chunksize": 1 << 20,
        "uploadconcurrency": 1,
        "redirectexpiry": 60,
        "retry_delay": "100ms",
    }
    assert Settings.from_parameters({**base, "max_retries": 0}).copy_polls == 5
    assert Settings.from_parameters({**base, "max_retries": 7}).copy_polls == 7
    with pytest.raises(regstore.InvalidParameterError, match="max_retries"):
        regstore.create("azure", dict(azure_params, max_retries=-1))
    driver: Any = regstore.create(
        "azure", dict(azure_params, copy_status_poll_max_retry=9, copy_status_poll_delay="500ms")
    )
    assert (driver.inner.settings.copy_polls, driver.inner.settings.copy_delay) == (9, 0.5)


def test_move_on_azurite_copies_then_deletes(azure_params: dict[str, object]) -> None:
    driver = regstore.create("azure", azure_params)
    driver.put_content("/src/blob", b"moved bytes")
    driver.put_content("/dst/blob", b"old")
    driver.move("/src/blob", "/dst/blob")
    assert driver.get_content("/dst/blob") == b"moved bytes"
    with pytest.raises(regstore.PathNotFoundError):
        driver.stat("/src/blob")
    with pytest.raises(regstore.PathNotFoundError):
        driver.list("/src")
    driver.delete("/dst")


def test_failed_copy_leaves_the_source(
    azure_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy that does not finish (the poller raises, as after an abort)
    fails the move: the source stays, and the blob the copy made at the
    destination (Azure leaves a zero-length one) is removed."""
    import regstore_azure.driver as driver_module

    def never(*args: object, **kwargs: object) -> None:
        raise StorageDriverError("move /src/blob to /dst/blob: the copy did not finish")

    monkeypatch.setattr(driver_module, "wait_for_copy", never)
    driver = regstore.create("azure", azure_params)
    driver.put_content("/src/blob", b"stays")
    with pytest.raises(StorageDriverError, match="did not finish"):
        driver.move("/src/blob", "/dst/blob")
    assert driver.get_content("/src/blob") == b"stays"
    driver.delete("/src")
    with pytest.raises(regstore.PathNotFoundError):
        driver.delete("/dst")


class _Response:
    def __init__(self, status_code: int, reason: str) -> None:
        self.status_code = status_code
        self.reason = reason


def test_delete_reports_per_blob_failures(
    azure_params: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Blob Batch answers per blob: a blob already gone (404) is fine,
    any other failure is reported with its name. The batch's answers are
    faked (Azurite deletes what it is asked to)."""
    managed: Any = regstore.create("azure", azure_params)
    driver = managed.inner
    root = str(azure_params["rootdirectory"])

    def answers(*names: str, raise_on_any_failure: bool) -> list[_Response]:
        assert raise_on_any_failure is False
        return [
            _Response(403, "AuthorizationPermissionMismatch")
            if name.endswith("/b")
            else _Response(404 if name.endswith("/c") else 202, "")
            for name in names
        ]

    monkeypatch.setattr(driver._container, "delete_blobs", answers)
    with pytest.raises(StorageDriverError) as info:
        driver._delete_names([f"{root}/d/a", f"{root}/d/b", f"{root}/d/c"])
    assert str(info.value).endswith(
        f"delete failed for 1 blobs: {root}/d/b: 403 AuthorizationPermissionMismatch"
    )
