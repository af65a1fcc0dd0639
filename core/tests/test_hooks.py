"""The `regstore_operation` hook: what instrumentation sees, and the fast
path that skips pluggy when nothing but core listens."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import pytest

from regstore import (
    DriverRegistry,
    ManagedDriver,
    OperationCall,
    PathNotFoundError,
    StorageDriverError,
    hookimpl,
)
from regstore import hooks as hooks_module


@dataclass
class Seen:
    driver_name: str
    operation: str
    path: str | None
    nbytes: int | None
    duration: float | None
    error: BaseException | None


class Recorder:
    """An instrumentation plugin, as a user writes one."""

    def __init__(self) -> None:
        self.calls: list[Seen] = []
        self.before: list[tuple[str, float | None]] = []

    @hookimpl(wrapper=True)
    def regstore_operation(self, call: OperationCall) -> Generator[None, None, None]:
        self.before.append((call.operation, call.duration))
        result = yield
        self.calls.append(
            Seen(
                call.driver_name, call.operation, call.path, call.nbytes, call.duration, call.error
            )
        )
        return result


@pytest.fixture
def registry() -> DriverRegistry:
    return DriverRegistry()


@pytest.fixture
def recorder(registry: DriverRegistry) -> Recorder:
    plugin = Recorder()
    registry.plugin_manager.register(plugin)
    return plugin


def test_sees_operations_with_bytes_and_duration(
    registry: DriverRegistry, recorder: Recorder
) -> None:
    driver = registry.create("inmemory")
    driver.put_content("/a", b"12345")
    assert driver.get_content("/a") == b"12345"
    writer = driver.writer("/b")
    writer.write(b"xyz")
    writer.commit()
    with driver.reader("/a", 1) as stream:
        assert stream.read() == b"2345"

    ops = [(c.operation, c.path, c.nbytes) for c in recorder.calls]
    assert ops == [
        ("put_content", "/a", 5),
        ("get_content", "/a", 5),
        ("writer", "/b", None),
        ("writer.commit", "/b", 3),
        ("reader", "/a", None),
        ("reader.close", "/a", 4),
    ]
    for call in recorder.calls:
        assert call.driver_name == "inmemory"
        assert call.error is None
        assert call.duration is not None
        assert call.duration >= 0
    # Before the operation runs, the wrapper sees no duration yet.
    assert all(duration is None for _, duration in recorder.before)


def test_sees_failures_and_caller_gets_translated_error(
    registry: DriverRegistry, recorder: Recorder
) -> None:
    driver = registry.create("inmemory")
    with pytest.raises(PathNotFoundError) as info:
        driver.get_content("/absent")
    assert str(info.value) == "inmemory: path not found: /absent"
    [call] = recorder.calls
    assert call.operation == "get_content"
    assert isinstance(call.error, PathNotFoundError)
    assert call.nbytes is None


def test_backend_failure_seen_raw_by_hook(registry: DriverRegistry, recorder: Recorder) -> None:
    def explode(path: str) -> bytes:
        raise OSError("disk on fire")

    driver = registry.create("inmemory")
    assert isinstance(driver, ManagedDriver)
    driver.inner.get_content = explode  # type: ignore[method-assign]
    with pytest.raises(StorageDriverError) as info:
        driver.get_content("/x")
    assert isinstance(info.value.__cause__, OSError)
    assert isinstance(recorder.calls[-1].error, OSError)


def test_fast_path_without_plugins(
    registry: DriverRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    executed: list[str] = []
    original = hooks_module.OperationCall.execute

    def counting(self: OperationCall) -> None:
        executed.append(self.operation)
        original(self)

    monkeypatch.setattr(hooks_module.OperationCall, "execute", counting)
    driver = registry.create("inmemory")
    driver.put_content("/a", b"1")
    assert driver.get_content("/a") == b"1"
    with pytest.raises(PathNotFoundError):
        driver.get_content("/absent")  # errors still translated on the fast path
    assert executed == []  # pluggy never involved

    plugin = Recorder()
    registry.plugin_manager.register(plugin)
    driver.get_content("/a")
    assert executed == ["get_content"]
    assert [c.operation for c in plugin.calls] == ["get_content"]

    registry.plugin_manager.unregister(plugin)
    driver.get_content("/a")
    assert executed == ["get_content"]  # back on the fast path


def test_plugins_of_one_registry_do_not_see_another(recorder: Recorder) -> None:
    other = DriverRegistry().create("inmemory")
    other.put_content("/a", b"1")
    assert recorder.calls == []
