"""Thread safety: atomic put_content under readers, racing writers, and
writers racing with the cleanup of emptied directories."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from regstore import StorageDriver, StorageDriverError
from regstore_filesystem.uploads import STAGING_DIR


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as err:  # noqa: BLE001  (reported to the test thread)
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_put_content_is_atomic_under_concurrent_readers(driver: StorageDriver) -> None:
    versions = [bytes([65 + i]) * (200_000 + 37 * i) for i in range(4)]
    driver.put_content("/obj", versions[0])
    stop = threading.Event()
    seen: set[bytes] = set()

    def writer() -> None:
        try:
            for round_ in range(60):
                driver.put_content("/obj", versions[round_ % len(versions)])
        finally:
            stop.set()

    def reader() -> None:
        while not stop.is_set():
            data = driver.get_content("/obj")
            assert data in versions, f"torn read of {len(data)} bytes"
            seen.add(data[:1])
            with driver.reader("/obj", 100_000) as stream:
                tail = stream.read()
            assert any(tail == v[100_000:] for v in versions), "torn stream"

    errors = run_threads([writer, reader, reader, reader])
    assert errors == []
    assert len(seen) >= 2  # readers really overlapped with writes


def test_two_writers_on_one_path_last_commit_wins(driver: StorageDriver, root: Path) -> None:
    first = driver.writer("/p")
    first.write(b"1" * 500_000)
    first.close()
    # A resumed session and a fresh one at once: each commit publishes a
    # whole upload, never a mix.
    resumed = driver.writer("/p", append=True)
    resumed.write(b"2" * 10)
    resumed.commit()
    assert driver.get_content("/p") == b"1" * 500_000 + b"2" * 10

    barrier = threading.Barrier(4)
    payloads = [bytes([48 + i]) * (300_000 + i) for i in range(4)]

    def upload(payload: bytes) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            writer = driver.writer(f"/q{len(payload)}")
            for offset in range(0, len(payload), 65_536):
                writer.write(payload[offset : offset + 65_536])
            writer.commit()

        return run

    assert run_threads([upload(p) for p in payloads]) == []
    for payload in payloads:
        assert driver.get_content(f"/q{len(payload)}") == payload
    assert not (root / STAGING_DIR).exists()


def test_racing_writers_on_one_path_never_corrupt(driver: StorageDriver) -> None:
    payloads = [bytes([97 + i]) * (100_000 + i) for i in range(4)]

    def upload(payload: bytes) -> Callable[[], None]:
        def run() -> None:
            for _ in range(20):
                writer = driver.writer("/same")
                writer.write(payload)
                try:
                    writer.commit()
                except StorageDriverError as err:
                    # A newer writer on the same path discarded this upload;
                    # any other failure is a bug.
                    if "replaced by a newer writer" not in str(err):
                        raise

        return run

    assert run_threads([upload(p) for p in payloads]) == []
    assert driver.get_content("/same") in payloads


def test_writers_survive_concurrent_cleanup_of_empty_directories(driver: StorageDriver) -> None:
    # Thread A keeps creating and deleting /deep/a/x (its delete removes the
    # emptied /deep/a and /deep), while B and C put and commit beside it.
    def churn() -> None:
        for _ in range(300):
            driver.put_content("/deep/a/x", b"x")
            driver.delete("/deep/a/x")

    def putter() -> None:
        for i in range(300):
            driver.put_content(f"/deep/a/p{i % 3}", b"p")
            driver.delete(f"/deep/a/p{i % 3}")

    def committer() -> None:
        for _ in range(150):
            writer = driver.writer("/deep/a/w")
            writer.write(b"w")
            writer.commit()
            assert driver.get_content("/deep/a/w") == b"w"
            driver.delete("/deep/a/w")

    assert run_threads([churn, putter, committer]) == []
    assert driver.list("/") == []


def test_uploads_to_many_paths_race_with_staging_cleanup(driver: StorageDriver, root: Path) -> None:
    # Each commit removes the staging area once it is empty, while the other
    # threads keep creating their staging directories inside it.
    def uploads(worker: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(80):
                path = f"/w{worker}/u{i % 5}"
                writer = driver.writer(path)
                writer.write(b"%d" % i)
                writer.close()
                writer = driver.writer(path, append=True)
                writer.write(b"!")
                if i % 4 == 0:
                    writer.cancel()
                else:
                    writer.commit()
                    assert driver.get_content(path) == b"%d!" % i

        return run

    assert run_threads([uploads(w) for w in range(4)]) == []
    assert not (root / STAGING_DIR).exists()
