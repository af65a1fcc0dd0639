"""The upload life cycle: close, resume, commit, cancel.

distribution's TestContinueStreamAppendSmall/Large,
TestWriteZeroByteStreamThenAppend and TestWriteZeroByteContentThenAppend,
plus the rules distribution leaves untested: nothing of an upload is visible
before commit, a resume sees exactly the bytes before the last close, the
append rules, the finished-writer rules and cancel.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable

import pytest

from regstore.driver import FileInfo, FileWriter, StorageDriver
from regstore.errors import (
    PathNotFoundError,
    StorageDriverError,
    UnsupportedMethodError,
    WriterFinishedError,
)
from regstore.testing._base import Sizes, SuiteBase
from regstore.testing._data import Payload, assert_bytes_equal, assert_stream_equals, random_bytes

__all__ = ["WriterTests"]

PATH = "/upload/dir/object"


class WriterTests(SuiteBase):
    """FileWriter semantics."""

    def discard_upload(self, driver: StorageDriver, path: str) -> None:
        """Cancel the closed upload at `path` so the store holds nothing."""
        driver.writer(path, append=True).cancel()

    def assert_invisible(self, driver: StorageDriver, path: str, old: bytes | None) -> None:
        """What readers see at `path` while an upload is open or closed:
        exactly the `old` committed content, or nothing at all."""
        if old is None:
            self.assert_not_found(driver, lambda: driver.stat(path))
            self.assert_not_found(driver, lambda: driver.get_content(path))
            self.assert_not_found(driver, lambda: driver.reader(path))
            walked = [info.path for info in _walk_or_empty(driver)]
            assert path not in walked, f"walk('/') shows the uncommitted upload {path}"
        else:
            assert_bytes_equal(driver.get_content(path), old)
            assert driver.stat(path).size == len(old)
            with driver.reader(path) as reader:
                assert_bytes_equal(reader.read(), old)
            sizes = {info.path: info.size for info in driver.walk("/")}
            assert sizes.get(path) == len(old)

    # -- distribution's cases ---------------------------------------------

    def continue_stream_append(self, driver: StorageDriver, chunk: int) -> None:
        payload = Payload(f"append-{chunk}", chunk * 3)
        writer = driver.writer(PATH)
        assert payload.write_to(writer, 0, chunk) == chunk
        writer.close()
        assert writer.size == chunk

        writer = driver.writer(PATH, append=True)
        assert writer.size == chunk
        assert payload.write_to(writer, chunk, 2 * chunk) == chunk
        writer.close()
        assert writer.size == 2 * chunk

        writer = driver.writer(PATH, append=True)
        assert writer.size == 2 * chunk
        assert payload.write_to(writer, 2 * chunk) == chunk
        writer.commit()
        writer.close()
        assert writer.size == 3 * chunk

        assert driver.stat(PATH).size == payload.size
        with driver.reader(PATH) as reader:
            assert_stream_equals(reader, payload)
        self.remove(driver, "/upload")

    def test_continue_stream_append_small(self, driver: StorageDriver) -> None:
        self.continue_stream_append(driver, 32)

    @pytest.mark.regstore_heavy
    def test_continue_stream_append_large(self, driver: StorageDriver, sizes: Sizes) -> None:
        self.continue_stream_append(driver, sizes.append_large_chunk)

    def test_write_zero_byte_stream_then_append(self, driver: StorageDriver) -> None:
        writer = driver.writer(PATH)
        writer.commit()
        writer.close()
        assert writer.size == 0
        with driver.reader(PATH) as reader:
            assert reader.read(32) == b""

        chunk = random_bytes(32, "zero-stream-append")
        appender = driver.writer(PATH, append=True)
        assert appender.size == 0
        assert appender.write(chunk) == len(chunk)
        appender.commit()
        appender.close()
        assert appender.size == len(chunk)
        with driver.reader(PATH) as reader:
            assert reader.read() == chunk
        self.remove(driver, "/upload")

    def test_write_zero_byte_content_then_append(self, driver: StorageDriver) -> None:
        driver.put_content(PATH, b"")
        with driver.reader(PATH) as reader:
            assert reader.read(32) == b""

        chunk = random_bytes(32, "zero-content-append")
        appender = driver.writer(PATH, append=True)
        assert appender.size == 0, "append on committed empty content starts a new upload"
        assert appender.write(chunk) == len(chunk)
        # The empty object stays as it is until commit.
        assert driver.get_content(PATH) == b""
        appender.commit()
        appender.close()
        assert appender.size == len(chunk)
        with driver.reader(PATH) as reader:
            assert reader.read() == chunk
        self.remove(driver, "/upload")

    # -- visibility -------------------------------------------------------

    def test_uncommitted_upload_invisible(self, driver: StorageDriver) -> None:
        driver.put_content("/upload/dir/sibling", b"sibling")
        writer = driver.writer(PATH)
        writer.write(random_bytes(5000, "invisible"))
        self.assert_invisible(driver, PATH, None)
        assert driver.list("/upload/dir") == ["/upload/dir/sibling"]
        writer.close()
        self.assert_invisible(driver, PATH, None)
        assert driver.list("/upload/dir") == ["/upload/dir/sibling"]

        writer = driver.writer(PATH, append=True)
        writer.write(b"more")
        self.assert_invisible(driver, PATH, None)
        writer.commit()
        assert driver.stat(PATH).size == 5004
        assert driver.list("/upload/dir") == [PATH, "/upload/dir/sibling"]
        self.remove(driver, "/upload")

    def test_upload_in_new_directory_invisible(self, driver: StorageDriver) -> None:
        """An upload alone in a directory does not make the directory exist."""
        writer = driver.writer("/fresh/deep/object")
        writer.write(b"data")
        writer.close()
        self.assert_not_found(driver, lambda: driver.stat("/fresh"))
        self.assert_not_found(driver, lambda: driver.list("/fresh/deep"))
        assert driver.list("/") == []
        self.discard_upload(driver, "/fresh/deep/object")

    def test_commit_replaces_old_content_at_commit(self, driver: StorageDriver) -> None:
        old = random_bytes(3000, "old-content")
        new = random_bytes(7000, "new-content")
        driver.put_content(PATH, old)
        writer = driver.writer(PATH)
        writer.write(new[:4000])
        self.assert_invisible(driver, PATH, old)
        writer.close()
        self.assert_invisible(driver, PATH, old)
        writer = driver.writer(PATH, append=True)
        assert writer.size == 4000
        writer.write(new[4000:])
        self.assert_invisible(driver, PATH, old)
        writer.commit()
        assert_bytes_equal(driver.get_content(PATH), new)
        assert driver.stat(PATH).size == len(new)
        self.remove(driver, "/upload")

    def test_new_writer_starts_a_new_upload(self, driver: StorageDriver) -> None:
        """writer(path) without append discards a closed upload's bytes."""
        writer = driver.writer(PATH)
        writer.write(b"first upload")
        writer.close()
        writer = driver.writer(PATH)
        assert writer.size == 0
        writer.write(b"second")
        writer.commit()
        assert driver.get_content(PATH) == b"second"
        self.remove(driver, "/upload")

    def test_superseded_upload_cannot_be_resumed(self, driver: StorageDriver) -> None:
        """A closed upload that a newer writer replaced and committed is
        gone: resuming it raises and the committed object stays."""
        writer = driver.writer(PATH)
        writer.write(b"first upload, closed")
        writer.close()
        newer = driver.writer(PATH)
        newer.write(b"newer")
        newer.commit()
        with pytest.raises(StorageDriverError):
            driver.writer(PATH, append=True)
        assert driver.get_content(PATH) == b"newer"
        self.remove(driver, "/upload")

    @pytest.mark.parametrize("last_word", ["commit", "close", "cancel"])
    def test_replaced_writer_cannot_harm_newer(self, driver: StorageDriver, last_word: str) -> None:
        """A writer replaced by a newer `writer(path)` can no longer commit;
        whatever it does, the newer upload commits exactly its own bytes."""
        older = driver.writer(PATH)
        older.write(b"older bytes")
        newer = driver.writer(PATH)
        newer.write(b"newer ")
        if last_word == "commit":
            with pytest.raises(StorageDriverError):
                older.commit()
            self.assert_not_found(driver, lambda: driver.stat(PATH))
        else:
            with contextlib.suppress(StorageDriverError):
                getattr(older, last_word)()
        newer.write(b"bytes")
        newer.close()
        resumed = driver.writer(PATH, append=True)
        assert resumed.size == len(b"newer bytes"), "the older writer changed the newer upload"
        resumed.commit()
        assert driver.get_content(PATH) == b"newer bytes"
        self.remove(driver, "/upload")

    # -- purging ------------------------------------------------------------

    def test_purge_uploads_by_age(self, driver: StorageDriver) -> None:
        """purge_uploads keeps uploads younger than its age, removes older
        ones, and finds nothing left after a commit or a cancel."""
        try:
            assert driver.purge_uploads(dt.timedelta(days=1)) == 0
        except UnsupportedMethodError:
            pytest.skip("the driver does not purge uploads")
        writer = driver.writer(PATH)
        writer.write(b"abandoned")
        writer.close()
        assert driver.purge_uploads(dt.timedelta(hours=1)) == 0, "purged a fresh upload"
        assert driver.purge_uploads(dt.timedelta(0), dry_run=True) == 1
        resumed = driver.writer(PATH, append=True)
        assert resumed.size == len(b"abandoned"), "a dry run or a young age removed the upload"
        resumed.close()
        try:
            listed = [u for u in driver.list_uploads() if u.path == PATH]
        except UnsupportedMethodError:
            listed = None
        if listed is not None:
            assert len(listed) == 1
            assert listed[0].ours
            assert listed[0].size in (None, len(b"abandoned"))
        time.sleep(0.05)
        assert driver.purge_uploads(dt.timedelta(0)) == 1
        self.assert_not_found(driver, lambda: driver.writer(PATH, append=True))
        assert driver.purge_uploads(dt.timedelta(0)) == 0

        committed = driver.writer(PATH)
        committed.write(b"published")
        committed.commit()
        cancelled = driver.writer("/upload/other")
        cancelled.write(b"dropped")
        cancelled.close()
        driver.writer("/upload/other", append=True).cancel()
        time.sleep(0.05)
        assert driver.purge_uploads(dt.timedelta(0)) == 0, "a commit or cancel left an upload"
        assert driver.get_content(PATH) == b"published"
        self.remove(driver, "/upload")

    # -- resume -----------------------------------------------------------

    def test_resume_discards_unclosed_writes(self, driver: StorageDriver) -> None:
        """A writer abandoned without close (as by a crash) loses what it
        wrote after the last close; the resume's size says so exactly."""
        first = random_bytes(1234, "abandon-first")
        writer = driver.writer(PATH)
        writer.write(first)
        writer.close()
        abandoned = driver.writer(PATH, append=True)
        abandoned.write(random_bytes(999, "abandon-lost"))
        del abandoned  # never closed

        rest = random_bytes(777, "abandon-rest")
        writer = driver.writer(PATH, append=True)
        assert writer.size == len(first)
        writer.write(rest)
        writer.commit()
        assert driver.get_content(PATH) == first + rest
        self.remove(driver, "/upload")

    def test_resume_after_several_closes(self, driver: StorageDriver) -> None:
        """Many short sessions, each adding an odd number of bytes."""
        payload = Payload("many-sessions", 10 * 1001)
        writer = driver.writer(PATH)
        writer.close()
        for i in range(10):
            writer = driver.writer(PATH, append=True)
            assert writer.size == i * 1001
            payload.write_to(writer, i * 1001, (i + 1) * 1001)
            if i < 9:
                writer.close()
        writer.commit()
        assert_bytes_equal(driver.get_content(PATH), payload.read())
        self.remove(driver, "/upload")

    # -- append rules -----------------------------------------------------

    def test_append_without_upload_raises_not_found(self, driver: StorageDriver) -> None:
        err = self.assert_not_found(driver, lambda: driver.writer(PATH, append=True))
        assert isinstance(err, FileNotFoundError)

    def test_append_to_committed_content_raises(self, driver: StorageDriver) -> None:
        content = random_bytes(100, "committed")
        driver.put_content(PATH, content)
        with pytest.raises(StorageDriverError) as info:
            driver.writer(PATH, append=True)
        assert driver.name in str(info.value)
        assert driver.get_content(PATH) == content
        self.remove(driver, "/upload")

    def test_append_after_commit_raises(self, driver: StorageDriver) -> None:
        """A committed upload is gone: it cannot be resumed, and the object
        it made is untouched by the attempt."""
        writer = driver.writer(PATH)
        writer.write(b"published")
        writer.commit()
        with pytest.raises(StorageDriverError):
            driver.writer(PATH, append=True)
        assert driver.get_content(PATH) == b"published"
        self.remove(driver, "/upload")

    # -- finished writers -------------------------------------------------

    @pytest.mark.parametrize("finish", ["commit", "cancel", "close"])
    def test_finished_writer_rules(self, driver: StorageDriver, finish: str) -> None:
        writer = driver.writer(PATH)
        writer.write(b"some bytes")
        getattr(writer, finish)()
        for name, call in _writer_calls(writer).items():
            with pytest.raises(WriterFinishedError) as info:
                call()
            assert driver.name in str(info.value), name
        writer.close()  # allowed after anything, any number of times
        writer.close()
        if finish == "commit":
            assert driver.get_content(PATH) == b"some bytes"
            self.remove(driver, "/upload")
        elif finish == "close":
            self.discard_upload(driver, PATH)
        # Whatever the finish, no upload remains to resume.
        self.assert_not_found(driver, lambda: driver.writer(PATH, append=True))

    def test_context_manager_closes_never_commits(self, driver: StorageDriver) -> None:
        with driver.writer(PATH) as writer:
            writer.write(b"inside a with block")
        self.assert_not_found(driver, lambda: driver.stat(PATH))
        with pytest.raises(WriterFinishedError):
            writer.write(b"after the block")
        resumed = driver.writer(PATH, append=True)
        assert resumed.size == len(b"inside a with block")
        resumed.cancel()

    def test_context_manager_closes_on_error(self, driver: StorageDriver) -> None:
        def fail_inside() -> None:
            with driver.writer(PATH) as writer:
                writer.write(b"kept")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail_inside()
        self.assert_not_found(driver, lambda: driver.stat(PATH))
        resumed = driver.writer(PATH, append=True)
        assert resumed.size == 4
        resumed.write(b"-done")
        resumed.commit()
        assert driver.get_content(PATH) == b"kept-done"
        self.remove(driver, "/upload")

    # -- cancel and zero bytes --------------------------------------------

    def test_cancel_discards(self, driver: StorageDriver) -> None:
        writer = driver.writer(PATH)
        writer.write(b"to be discarded")
        writer.cancel()
        self.assert_not_found(driver, lambda: driver.writer(PATH, append=True))
        self.assert_not_found(driver, lambda: driver.stat(PATH))

        writer = driver.writer(PATH)
        writer.write(b"closed, then cancelled")
        writer.close()
        driver.writer(PATH, append=True).cancel()
        self.assert_not_found(driver, lambda: driver.writer(PATH, append=True))
        assert driver.list("/") == []

    def test_cancel_keeps_old_content(self, driver: StorageDriver) -> None:
        driver.put_content(PATH, b"old")
        writer = driver.writer(PATH)
        writer.write(b"never published")
        writer.cancel()
        assert driver.get_content(PATH) == b"old"
        self.remove(driver, "/upload")

    def test_zero_byte_commit(self, driver: StorageDriver) -> None:
        writer = driver.writer(PATH)
        assert writer.size == 0
        writer.commit()
        info = driver.stat(PATH)
        assert (info.size, info.is_dir) == (0, False)
        assert driver.get_content(PATH) == b""
        with driver.reader(PATH) as reader:
            assert reader.read() == b""
        self.remove(driver, "/upload")

    def test_zero_byte_resumed_commit(self, driver: StorageDriver) -> None:
        writer = driver.writer(PATH)
        writer.close()
        resumed = driver.writer(PATH, append=True)
        assert resumed.size == 0
        resumed.commit()
        assert driver.get_content(PATH) == b""
        self.remove(driver, "/upload")


def _writer_calls(writer: FileWriter) -> dict[str, Callable[[], object]]:
    return {"write": lambda: writer.write(b"x"), "commit": writer.commit, "cancel": writer.cancel}


def _walk_or_empty(driver: StorageDriver) -> list[FileInfo]:
    try:
        return list(driver.walk("/"))
    except PathNotFoundError:
        return []
