"""Many threads on one driver instance.

distribution's TestConcurrentStreamReads (10 readers at random offsets of a
128 MiB object) and TestConcurrentFileStreams (32 writers of 32 MiB each,
fed from real files), plus concurrent puts and listings.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from regstore.driver import StorageDriver
from regstore.errors import PathNotFoundError
from regstore.testing._base import Sizes, SuiteBase
from regstore.testing._data import Payload, assert_stream_equals, sha256_of_reader

__all__ = ["ConcurrencyTests", "run_threads"]


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run `work(i)` for i in range(count) on `count` threads at once and
    re-raise the first failure (a bare thread would swallow it)."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, i) for i in range(count)]
        for future in futures:
            future.result()


class ConcurrencyTests(SuiteBase):
    """Thread safety."""

    @pytest.mark.regstore_heavy
    def test_concurrent_stream_reads(
        self, driver: StorageDriver, sizes: Sizes, rng: random.Random
    ) -> None:
        payload = Payload("concurrent-reads", sizes.concurrent_read)
        writer = driver.writer("/concurrent/reads")
        payload.write_to(writer)
        writer.commit()
        offsets = [rng.randrange(payload.size) for _ in range(sizes.concurrent_readers)]

        def read(i: int) -> None:
            with driver.reader("/concurrent/reads", offsets[i]) as reader:
                assert_stream_equals(reader, payload, offsets[i])

        run_threads(sizes.concurrent_readers, read)
        self.remove(driver, "/concurrent")

    @pytest.mark.regstore_heavy
    def test_concurrent_file_streams(
        self, driver: StorageDriver, sizes: Sizes, tmp_path: Path
    ) -> None:
        def stream(i: int) -> None:
            payload = Payload(f"file-stream-{i}", sizes.file_stream_size)
            source = tmp_path / f"stream-{i}"
            with source.open("wb") as handle:
                payload.write_to(handle)
            path = f"/streams/{i}/file"
            writer = driver.writer(path)
            with source.open("rb") as handle:
                shutil.copyfileobj(handle, writer)
            assert writer.size == payload.size
            writer.commit()
            writer.close()
            source.unlink()
            with driver.reader(path) as reader:
                assert sha256_of_reader(reader) == (payload.sha256(), payload.size)

        run_threads(sizes.file_streams, stream)
        assert len(driver.list("/streams")) == sizes.file_streams
        self.remove(driver, "/streams")

    def test_concurrent_puts_and_lists(self, driver: StorageDriver) -> None:
        threads, per_thread = 8, 12

        def put(i: int) -> None:
            for j in range(per_thread):
                driver.put_content(f"/many/{i}/{j:02d}", f"{i}-{j}".encode())
                listed = driver.list(f"/many/{i}")
                assert listed == [f"/many/{i}/{k:02d}" for k in range(j + 1)]

        run_threads(threads, put)
        assert driver.list("/many") == sorted(f"/many/{i}" for i in range(threads))
        for i in range(threads):
            for j in range(per_thread):
                assert driver.get_content(f"/many/{i}/{j:02d}") == f"{i}-{j}".encode()
        self.remove(driver, "/many")

    def test_listing_shows_only_committed_names(self, driver: StorageDriver) -> None:
        """list and walk of a directory in which other threads are putting
        and committing at that moment show only committed objects: never a
        temporary file or an upload staged beside its target."""
        directory = "/busy/dir"
        committed: dict[str, bytes] = {}
        stop = threading.Event()
        problems: list[str] = []

        def expected(path: str) -> bytes | None:
            """The bytes a producer commits at `path`; None for a name no
            producer makes (a temporary file, a staged upload)."""
            name = path.rsplit("/", 1)[-1]
            kind, number = name[:-2], name[-2:]
            if kind not in ("put", "upload") or not number.isdigit():
                return None
            return f"{kind}-{int(number)}".encode() * 50

        def produce(kind: str) -> None:
            for j in range(40):
                path = f"{directory}/{kind}{j:02d}"
                data = expected(path)
                assert data is not None
                if kind == "put":
                    driver.put_content(path, data)
                else:
                    writer = driver.writer(path)
                    writer.write(data[:100])
                    writer.close()
                    writer = driver.writer(path, append=True)
                    writer.write(data[100:])
                    writer.commit()
                committed[path] = data

        def observe() -> None:
            try:
                while not stop.is_set():
                    try:
                        listed = driver.list(directory)
                        walked = [i.path for i in driver.walk("/busy") if not i.is_dir]
                    except PathNotFoundError:
                        continue  # nothing committed yet
                    for path in {*listed, *walked}:
                        want = expected(path)
                        if want is None or (
                            path not in committed and _content_now(driver, path) != want
                        ):
                            problems.append(path)
            except Exception as err:  # noqa: BLE001  (a dead observer must fail the test)
                problems.append(f"the observer failed: {err!r}")

        watcher = threading.Thread(target=observe)
        watcher.start()
        try:
            run_threads(2, lambda i: produce("put" if i == 0 else "upload"))
        finally:
            stop.set()
            watcher.join()
        assert not problems, f"listings showed uncommitted names: {sorted(set(problems))[:5]}"
        assert driver.list(directory) == sorted(committed)
        for path, data in committed.items():
            assert driver.get_content(path) == data
        self.remove(driver, "/busy")


def _content_now(driver: StorageDriver, path: str) -> bytes | None:
    """What `path` holds now (a listing may run just after a commit whose
    thread has not recorded it yet: then it holds the whole object)."""
    try:
        return driver.get_content(path)
    except (PathNotFoundError, ValueError):
        return None
