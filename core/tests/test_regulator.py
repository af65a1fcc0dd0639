"""The concurrency regulator admits at most `limit` holders at once."""

from __future__ import annotations

import threading
import time

import pytest

from regstore import Regulator


@pytest.mark.parametrize("limit", [1, 3])
def test_never_more_than_limit(limit: int) -> None:
    regulator = Regulator(limit)
    lock = threading.Lock()
    inside = 0
    peak = 0
    done = 0

    def work() -> None:
        nonlocal inside, peak, done
        with regulator:
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.02)
            with lock:
                inside -= 1
                done += 1

    threads = [threading.Thread(target=work) for _ in range(4 * limit + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert done == len(threads)
    assert peak == limit  # reached, never exceeded
    assert inside == 0


def test_released_on_exception() -> None:
    regulator = Regulator(1)
    with pytest.raises(RuntimeError), regulator:
        raise RuntimeError("fail inside")
    acquired = threading.Event()

    def take() -> None:
        with regulator:
            acquired.set()

    t = threading.Thread(target=take)
    t.start()
    t.join(timeout=5)
    assert acquired.is_set()


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_must_be_positive(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Regulator(limit)
