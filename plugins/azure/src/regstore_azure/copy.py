"""Waiting for a server-side copy (Copy Blob is asynchronous on Azure).

distribution polls `max_retries` times, sleeping `retry_delay x n` before
the n-th poll, aborts a copy still pending and fails; its `max_retries: -1`
aborted and then reported success. Here a copy that does not finish is
always aborted and raises; only "success" of *our* copy (its copy id)
returns. Azurite finishes every copy at once, so the pending, abort and
failure paths are unit-tested with a fake poller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from regstore import StorageDriverError

__all__ = ["CopyState", "wait_for_copy"]


@dataclass(frozen=True)
class CopyState:
    """What Get Blob Properties says of the destination's last copy."""

    copy_id: str | None
    status: str | None  # pending, success, aborted, failed
    description: str = ""


def wait_for_copy(
    started: CopyState,
    poll: Callable[[], CopyState],
    abort: Callable[[str], None],
    *,
    polls: int,
    delay: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once the copy `started` succeeded; raise (after aborting it,
    if it is still pending) when it fails, is replaced by another copy, or
    is still pending after `polls` polls."""
    state = started
    for attempt in range(1, polls + 1):
        if state.status == "success":
            return
        if state.status != "pending":
            break
        sleep(delay * attempt)
        state = poll()
        if state.copy_id != started.copy_id:
            raise StorageDriverError(
                f"{what}: the destination's copy was replaced by another one ({state.copy_id})"
            )
    if state.status == "success":
        return
    if state.status == "pending":
        if started.copy_id:
            abort(started.copy_id)
        raise StorageDriverError(
            f"{what}: the server-side copy did not finish after {polls} polls "
            f"(max_retries, retry_delay); it was aborted"
        )
    raise StorageDriverError(
        f"{what}: the server-side copy ended {state.status}: {state.description}".rstrip(": ")
    )
