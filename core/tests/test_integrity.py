"""Regression tests for core's integrity fixes.

- Secrets: a secret in any shape (a YAML `|` block's trailing newline,
  `repr()`, `b'...\\n'` as an HTTP library quotes a header, bytes in `args`,
  an attribute dict, a message computed by `__str__`) never reaches
  `str`/`repr`/`args` of an error, its chained causes, its pickle, its
  formatted traceback, nor a record of regstore's or the plugin's logger.
- Parameters: non-finite floats, a params object that is no mapping, and a
  `-p` key given twice are refused, naming the key.
- Factory: whatever a driver's factory raises becomes one scrubbed
  `RegstoreError` naming the driver, its cause chained.
- CLI: an age too large, and a `RegstoreError` from a command, are one line
  and an exit status, never a traceback; `purge-uploads --dry-run` and
  `regstore uploads` list without removing.
- Writers: a failed `write()` finishes the writer for `write`/`commit`
  (`WriterFailedError`) but not for `close`/`cancel`; a failed `commit`,
  `close` or `cancel` leaves it open for a retry.

Names that only the fixed core has (`regstore.scrub`, `UploadInfo`,
`WriterFailedError`) are imported or looked up inside the tests, so this
module also imports against an older core and each test fails on its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import json
import logging
import pickle
import traceback
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

import regstore
from regstore import (
    Buffer,
    DriverRegistry,
    FileInfo,
    FileWriter,
    InvalidParameterError,
    ManagedDriver,
    OperationCall,
    Parameter,
    PathNotFoundError,
    RegstoreError,
    StorageDriver,
    StorageDriverError,
    WriterFinishedError,
    hookimpl,
)
from regstore.cli import main
from regstore.params import coerce_params, parse_assignments
from regstore.testing import ForwardingWriter
from regstore_inmemory.driver import InMemoryDriver

if TYPE_CHECKING:
    from regstore import UploadInfo

#: conftest's FakeEnvironment (tests cannot import conftest by name).
FakeEnvironment = Any

#: A credential as a YAML `|` block gives it: with a trailing newline.
SECRET = "Zq7-regstore-integrity-secret-81f\n"
#: What must never show up: every shape of SECRET contains it.
CORE = SECRET.strip()
SECRET_PARAMS = (Parameter("accountkey", secret=True), Parameter("region", default="here"))


def exposed(err: BaseException) -> str:
    """Everything a user, a log or another process can see of `err`: its
    formatted traceback (with the chain and notes), and for it and every
    exception chained to it str, repr, args, attributes, notes and pickle."""
    parts = ["".join(traceback.format_exception(err))]
    parts.append(pickle.dumps(err).decode("latin-1"))
    seen: set[int] = set()
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        parts += [
            str(current),
            repr(current),
            repr(current.args),
            repr(vars(current)),
            repr(getattr(current, "__notes__", None)),
        ]
        with contextlib.suppress(Exception):  # a chained SDK error may not pickle
            parts.append(pickle.dumps(current).decode("latin-1"))
        pending += [link for link in (current.__cause__, current.__context__) if link]
    return "\n".join(parts)


def chain(err: BaseException) -> list[BaseException]:
    """`err` and every exception chained below it."""
    found: list[BaseException] = []
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop()
        if any(current is f for f in found):
            continue
        found.append(current)
        pending += [link for link in (current.__cause__, current.__context__) if link]
    return found


# -- secrets: exceptions a backend raises ----------------------------------------------


class _Credentials:
    """Holds a token where no scrubber can reach it (not a str or container)."""

    def __init__(self, token: str) -> None:
        self.token = token


class TokenExpiredError(Exception):
    """Computes its message from a private attribute, as some SDK errors do."""

    def __init__(self, credentials: _Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def __str__(self) -> str:
        return f"token {self._credentials.token!r} expired"


class ClientError(Exception):
    """Like botocore's ClientError: the request's details in an attribute dict."""

    def __init__(self, message: str, kwargs: dict[str, Any]) -> None:
        super().__init__(message)
        self.kwargs = kwargs


class SDKError(Exception):
    """An SDK's own exception type."""


def raise_quoting(shape: str, key: str) -> None:
    """Raise an exception that quotes `key` in the given shape."""
    if shape == "raw":
        raise RuntimeError(f"authentication failed for key {key}")
    if shape == "repr":
        raise RuntimeError(f"authentication failed for key {key!r}")
    if shape == "bytes-repr":
        raise ValueError(f"Invalid header value {key.encode()!r}")
    if shape == "chained-cause":
        raise RuntimeError("request failed") from ValueError(f"bad key {key}")
    if shape == "implicit-context":
        try:
            raise KeyError(key)
        except KeyError:
            raise RuntimeError("lookup failed")  # noqa: B904  (the context is the point)
    if shape == "bytes-in-args":
        raise RuntimeError("send failed", key.encode())
    if shape == "attribute-dict":
        raise ClientError(
            "An error occurred (SignatureDoesNotMatch)",
            {"headers": {"Authorization": f"AWS4-HMAC-SHA256 Signature={key}"}, "retries": 3},
        )
    if shape == "custom-str":
        raise TokenExpiredError(_Credentials(key))
    if shape == "custom-str-wrapped":
        try:
            raise TokenExpiredError(_Credentials(key))
        except TokenExpiredError as expired:
            raise RuntimeError("request failed") from expired  # cause, context: one object
    if shape == "driver-error":
        raise StorageDriverError(f"cannot sign with {key!r}")
    if shape == "note":
        err = RuntimeError("request failed")
        err.add_note(f"while sending key {key!r}")
        raise err
    raise AssertionError(shape)


SHAPES: list[Any] = [
    "raw",
    "repr",
    "bytes-repr",
    "chained-cause",
    "implicit-context",
    "bytes-in-args",
    "attribute-dict",
    "custom-str",
    "custom-str-wrapped",
    "driver-error",
    "note",
]


class _LeakyStream(io.BytesIO):
    def __init__(self, fail: Callable[[], None]) -> None:
        super().__init__()
        self._fail = fail

    def read(self, size: int | None = -1, /) -> bytes:
        self._fail()
        return b""


class _LeakyWriter(ForwardingWriter):
    def __init__(self, inner: FileWriter, fail: Callable[[], None]) -> None:
        super().__init__(inner)
        self._fail = fail

    def write(self, data: Buffer) -> int:
        self._fail()
        return 0


class LeakyDriver(InMemoryDriver):
    """Every operation fails with an exception quoting its key in `shape`."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.shape = "raw"

    def fail(self) -> None:
        raise_quoting(self.shape, self.key)

    def get_content(self, path: str) -> bytes:
        self.fail()
        return b""

    def reader(self, path: str, offset: int = 0) -> Any:
        return _LeakyStream(self.fail)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        return _LeakyWriter(super().writer(path, append), self.fail)

    def walk(
        self,
        path: str,
        *,
        start_after: str | None = None,
        prune: Callable[[FileInfo], bool] | None = None,
    ) -> Iterator[FileInfo]:
        def entries() -> Iterator[FileInfo]:
            self.fail()  # lazily, on the first next()
            yield from ()

        return entries()


OPERATIONS: dict[str, Callable[[StorageDriver], object]] = {
    "get_content": lambda d: d.get_content("/x"),
    "write": lambda d: d.writer("/x").write(b"data"),
    "read": lambda d: d.reader("/x").read(),
    "walk": lambda d: list(d.walk("/")),
}


class Observer:
    """An instrumentation hook: forces the hooked path of the wrapper."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(wrapper=True)
    def regstore_operation(self, call: OperationCall) -> Generator[None, None, None]:
        self.calls.append(call.operation)
        yield


def make_leaky(*, hooked: bool = False) -> tuple[StorageDriver, LeakyDriver, Observer]:
    registry = DriverRegistry()
    made: list[LeakyDriver] = []
    observer = Observer()
    if hooked:
        registry.plugin_manager.register(observer)

    def factory(params: dict[str, Any]) -> StorageDriver:
        made.append(LeakyDriver(params["accountkey"]))
        return made[-1]

    registry.register("leakyfake", factory, parameters=SECRET_PARAMS)
    driver = registry.create("leakyfake", {"accountkey": SECRET, "region": "eu-1"})
    return driver, made[0], observer


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("shape", SHAPES)
def test_operation_errors_hold_no_secret(shape: str, operation: str) -> None:
    driver, inner, _ = make_leaky()
    inner.shape = shape
    with pytest.raises(StorageDriverError) as info:
        OPERATIONS[operation](driver)
    err = info.value
    assert err.driver_name == "leakyfake"
    assert str(err).startswith("leakyfake: ")
    shown = exposed(err)
    assert CORE not in shown
    assert "***" in shown  # scrubbed, not merely dropped


@pytest.mark.parametrize("shape", SHAPES)
def test_operation_errors_hold_no_secret_through_hooks(shape: str) -> None:
    driver, inner, observer = make_leaky(hooked=True)
    inner.shape = shape
    with pytest.raises(StorageDriverError) as info:
        driver.get_content("/x")
    assert observer.calls == ["get_content"]
    assert CORE not in exposed(info.value)


def test_backend_error_stays_chained_and_readable() -> None:
    driver, inner, _ = make_leaky()
    inner.shape = "attribute-dict"
    with pytest.raises(StorageDriverError) as info:
        driver.get_content("/x")
    cause = info.value.__cause__
    assert isinstance(cause, ClientError)
    assert cause.kwargs["retries"] == 3
    assert cause.kwargs["headers"]["Authorization"] == "AWS4-HMAC-SHA256 Signature=***"
    assert "SignatureDoesNotMatch" in str(info.value)


def test_message_computed_from_private_attribute_gets_stand_in() -> None:
    driver, inner, _ = make_leaky()
    inner.shape = "custom-str"
    with pytest.raises(StorageDriverError) as info:
        driver.get_content("/x")
    stand_ins = [e for e in chain(info.value) if type(e).__name__ == "ScrubbedError"]
    assert len(stand_ins) == 1
    assert "TokenExpiredError" in str(stand_ins[0])
    assert "token '***' expired" in str(stand_ins[0])
    assert not any(isinstance(e, TokenExpiredError) for e in chain(info.value))
    assert CORE not in exposed(info.value)


def test_pickled_error_round_trips_scrubbed() -> None:
    driver, inner, _ = make_leaky()
    inner.shape = "repr"
    with pytest.raises(StorageDriverError) as info:
        driver.get_content("/x")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is type(info.value)
    assert str(copy) == str(info.value)
    assert CORE not in repr(copy.args)


# -- secrets: the factory ---------------------------------------------------------------


def _quote(shape: str, key: str) -> str:
    return {
        "raw": f"endpoint refused key {key}",
        "repr": f"endpoint refused key {key!r}",
        "bytes-repr": f"Invalid header value {key.encode()!r}",
    }[shape]


@pytest.mark.parametrize("shape", ["raw", "repr", "bytes-repr"])
@pytest.mark.parametrize("error", [ValueError, TypeError, SDKError], ids=lambda e: e.__name__)
def test_factory_error_becomes_one_scrubbed_regstore_error(
    error: type[Exception], shape: str
) -> None:
    registry = DriverRegistry()

    def factory(params: dict[str, Any]) -> StorageDriver:
        raise error(_quote(shape, params["accountkey"]))

    registry.register("brokenfactory", factory, parameters=SECRET_PARAMS)
    with pytest.raises(RegstoreError) as info:
        registry.create("brokenfactory", {"accountkey": SECRET})
    err = info.value
    message = str(err)
    assert "'brokenfactory'" in message
    assert error.__name__ in message
    assert "\n" not in message
    assert isinstance(err.__cause__, error)
    assert CORE not in exposed(err)


def test_factory_regstore_error_is_scrubbed() -> None:
    registry = DriverRegistry()

    def factory(params: dict[str, Any]) -> StorageDriver:
        key = params["accountkey"]
        raise InvalidParameterError("validatingfake", "accountkey", f"{key!r} is malformed")

    registry.register("validatingfake", factory, parameters=SECRET_PARAMS)
    with pytest.raises(InvalidParameterError) as info:
        registry.create("validatingfake", {"accountkey": SECRET})
    assert "'accountkey'" in str(info.value)
    assert CORE not in exposed(info.value)


def test_factory_error_chained_cause_is_scrubbed() -> None:
    registry = DriverRegistry()

    def factory(params: dict[str, Any]) -> StorageDriver:
        try:
            raise SDKError("credential", params["accountkey"].encode())
        except SDKError as err:
            raise ValueError("could not build the client") from err

    registry.register("chainedfactory", factory, parameters=SECRET_PARAMS)
    with pytest.raises(RegstoreError) as info:
        registry.create("chainedfactory", {"accountkey": SECRET})
    assert isinstance(info.value.__cause__, ValueError)
    assert isinstance(info.value.__cause__.__cause__, SDKError)
    assert CORE not in exposed(info.value)


# -- secrets: log records --------------------------------------------------------------

LOGGING_PLUGIN = """
import logging

from regstore_inmemory.driver import InMemoryDriver

log = logging.getLogger(__name__)


class Driver(InMemoryDriver):
    def __init__(self, key):
        super().__init__()
        self._key = key

    def get_content(self, path):
        log.warning("signing %s with key %s", path, self._key)
        log.warning("headers %r", {"Authorization": self._key.encode()})
        return super().get_content(path)


def make(params):
    return Driver(params["accountkey"])
"""


def _messages(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_plugin_logger_records_are_scrubbed(
    fake_env: FakeEnvironment, registry: DriverRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    module = fake_env.module("logging_driver", LOGGING_PLUGIN)
    registry.register("loggingfake", f"{module}:make", parameters=SECRET_PARAMS)
    caplog.set_level(logging.DEBUG)
    driver = registry.create("loggingfake", {"accountkey": SECRET})
    with pytest.raises(PathNotFoundError):
        driver.get_content("/x")
    logging.getLogger(module).info("configured with %s", SECRET)
    messages = _messages(caplog, module)
    assert len(messages) == 3
    assert messages[0] == "signing /x with key ***"
    assert CORE not in "\n".join(messages) + caplog.text


def test_regstore_logger_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    make_leaky()  # registers the secret and puts the filter in place
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("regstore")
    log.warning("creating with %s", SECRET)
    log.warning("header %r", SECRET.encode())
    try:
        raise_quoting("chained-cause", SECRET)
    except RuntimeError as err:
        log.error("operation failed: %s", err.__cause__, exc_info=err)
    messages = _messages(caplog, "regstore")
    assert len(messages) == 3
    assert messages[0] == "creating with ***"
    assert CORE not in "\n".join(messages) + caplog.text
    assert "ValueError: bad key ***" in caplog.text


def test_child_logger_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    make_leaky()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("regstore.managed").warning("key %s", SECRET)
    assert CORE not in caplog.text


def test_logged_exception_with_computed_message_is_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_leaky()
    caplog.set_level(logging.DEBUG)
    try:
        raise_quoting("custom-str", SECRET)
    except TokenExpiredError as err:
        logging.getLogger("regstore").error("operation failed", exc_info=err)
    assert CORE not in caplog.text


# -- secrets: the scrubber itself (new module) ---------------------------------------------


def test_variants_cover_every_shape() -> None:
    from regstore.scrub import variants

    shapes = variants(SECRET)
    assert {SECRET, CORE, CORE + "\\n"} <= shapes
    unicode = variants("pässwort-1\n")
    assert "p\\xe4sswort-1\\n" in unicode  # repr / unicode_escape
    assert "p\\xc3\\xa4sswort-1\\n" in unicode  # repr of the UTF-8 bytes
    assert variants("abc") == set()  # too short to scrub


RENDERINGS: dict[str, Callable[[str], str]] = {
    "str": str,
    "repr": repr,
    "bytes-repr": lambda s: repr(s.encode()),
    "unicode-escape": lambda s: s.encode("unicode_escape").decode("ascii"),
}


@pytest.mark.parametrize("render", sorted(RENDERINGS))
@pytest.mark.parametrize("secret", [SECRET, "pässwort-1\n", "tab\tsecret\r\n"])
def test_scrubber_text_removes_every_rendering(secret: str, render: str) -> None:
    from regstore.scrub import Scrubber

    text = RENDERINGS[render](secret)
    cleaned = Scrubber([secret]).text(f"before {text} after")
    assert cleaned in {"before *** after", "before '***' after", "before b'***' after"}


def test_scrubber_text_removes_json_of_ascii_secret() -> None:
    from regstore.scrub import Scrubber

    body = json.dumps({"error": "bad token", "token": SECRET})
    assert Scrubber([SECRET]).text(body) == '{"error": "bad token", "token": "***"}'


def test_scrubber_longest_secret_first_and_values() -> None:
    from regstore.scrub import Scrubber

    scrubber = Scrubber(["abcd", "abcdefgh"])
    assert scrubber.text("x abcdefgh y") == "x *** y"
    assert scrubber.value(
        {"k": [b"abcd", ("abcdefgh", 1)], "n": None},
    ) == {"k": [b"***", ("***", 1)], "n": None}
    assert not Scrubber(["abc"])  # nothing to scrub
    assert Scrubber(["abc"]).text("abc") == "abc"


def test_scrubber_exception_stand_in_and_in_place() -> None:
    from regstore.scrub import ScrubbedError, Scrubber

    scrubber = Scrubber([SECRET])
    clean = RuntimeError("nothing to hide")
    assert scrubber.exception(clean) is clean
    quoted = RuntimeError("k", SECRET.encode())
    assert scrubber.exception(quoted) is quoted
    assert quoted.args == ("k", b"***")
    computed = TokenExpiredError(_Credentials(SECRET))
    stand_in = scrubber.exception(computed)
    assert isinstance(stand_in, ScrubbedError)
    assert "TokenExpiredError: token '***' expired" in str(stand_in)
    outer = RuntimeError("outer")
    outer.__cause__ = TokenExpiredError(_Credentials(SECRET))
    assert scrubber.exception(outer) is outer
    assert isinstance(outer.__cause__, ScrubbedError)
    assert CORE not in exposed(outer)


def test_scrubber_exception_replaces_a_link_shared_by_cause_and_context() -> None:
    from regstore.scrub import Scrubber

    try:
        try:
            raise TokenExpiredError(_Credentials(SECRET))
        except TokenExpiredError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as outer:
        caught = outer
    assert caught.__cause__ is caught.__context__
    Scrubber([SECRET]).exception(caught)
    assert CORE not in exposed(caught)


# -- parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", float("nan")])
@pytest.mark.parametrize(
    "declared",
    [Parameter("ratio", kind="float"), Parameter("ratio", kind="float", minimum=0, maximum=1)],
    ids=["unbounded", "bounded"],
)
def test_float_refuses_non_finite(declared: Parameter, value: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        coerce_params("drv", (declared,), {"ratio": value})
    assert info.value.key == "ratio"
    assert "parameter 'ratio'" in str(info.value)


def test_float_still_accepts_finite() -> None:
    declared = (Parameter("ratio", kind="float", minimum=0, maximum=1),)
    assert coerce_params("drv", declared, {"ratio": "0.25"}) == {"ratio": 0.25}


@pytest.mark.parametrize("params", ["not a mapping", [("region", "x")], 42], ids=repr)
def test_create_refuses_params_that_are_no_mapping(params: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        regstore.create("inmemory", params)
    assert "inmemory" in str(info.value)
    assert "mapping" in str(info.value)


def test_parse_assignments_refuses_repeated_key() -> None:
    with pytest.raises(ValueError, match="'a'") as info:
        parse_assignments(["a=1", "b=2", "a=2"])
    assert "value number 3" in str(info.value)
    with pytest.raises(ValueError, match="'accountkey'") as secret_info:
        parse_assignments([f"accountkey={SECRET}", f" accountkey={SECRET}x"])
    assert CORE not in str(secret_info.value)


# -- CLI ---------------------------------------------------------------------------------


class UploadsDriver(InMemoryDriver):
    """An inmemory driver with a fixed list of uploads in flight."""

    def __init__(self, uploads: list[UploadInfo]) -> None:
        super().__init__()
        self.uploads = uploads
        self.purges: list[dict[str, Any]] = []

    def list_uploads(self) -> Iterator[UploadInfo]:
        return iter(list(self.uploads))

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        self.purges.append({"include_foreign": include_foreign, "dry_run": dry_run})
        now = dt.datetime.now(dt.UTC)
        doomed = [
            u for u in self.uploads if now - u.modified > older_than and (u.ours or include_foreign)
        ]
        if not dry_run:
            self.uploads = [u for u in self.uploads if u not in doomed]
        return len(doomed)


@pytest.fixture
def cli_registry(monkeypatch: pytest.MonkeyPatch) -> DriverRegistry:
    """A fresh registry that the CLI's commands use instead of the default."""
    fresh = DriverRegistry()
    monkeypatch.setattr("regstore.cli._common.default_registry", lambda: fresh)
    return fresh


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.lower().startswith("error")]


def test_cli_repeated_param_is_usage_error(
    cli_registry: DriverRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_registry.register("paramfake", lambda params: UploadsDriver([]), parameters=SECRET_PARAMS)
    assert main(["purge-uploads", "paramfake", "-p", "region=a", "-p", "region=b"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = _error_lines(err)
    assert "'region' is given more than once" in line
    args = ["-p", f"accountkey={SECRET}", "-p", f"accountkey={SECRET}"]
    assert main(["purge-uploads", "paramfake", *args]) == 2
    captured = capsys.readouterr()
    assert "'accountkey'" in captured.err
    assert CORE not in captured.out + captured.err


@pytest.mark.parametrize("age", ["99999999999w", "99999999999999999999"])
def test_purge_uploads_age_overflow_is_usage_error(
    capsys: pytest.CaptureFixture[str], age: str
) -> None:
    assert main(["purge-uploads", "inmemory", "--older-than", age]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = _error_lines(err)
    assert f"'{age}'" in line


def test_regstore_error_from_a_command_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise StorageDriverError("connection refused by store.example:443", driver_name="inmemory")

    monkeypatch.setattr("regstore.cli.suite_runner.run_check", unreachable)
    assert main(["check", "inmemory"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("checking inmemory")
    assert captured.err == "error: inmemory: connection refused by store.example:443\n"


@pytest.mark.parametrize("command", ["purge-uploads", "uploads"])
def test_cli_factory_failure_is_one_scrubbed_line(
    cli_registry: DriverRegistry, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    def factory(params: dict[str, Any]) -> StorageDriver:
        raise ValueError(f"Invalid header value {params['accountkey'].encode()!r}")

    cli_registry.register("brokenfactory", factory, parameters=SECRET_PARAMS)
    assert main([command, "brokenfactory", "-p", f"accountkey={SECRET}"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    [line] = captured.err.splitlines()
    assert line.startswith("error: ")
    assert "'brokenfactory'" in line
    assert CORE not in captured.out + captured.err


def _uploads_driver(registry: DriverRegistry) -> UploadsDriver:
    from regstore import UploadInfo

    now = dt.datetime.now(dt.UTC)
    driver = UploadsDriver(
        [
            UploadInfo("/old/blob", 10, now - dt.timedelta(days=3), True, "old-id"),
            UploadInfo("/new/blob", None, now - dt.timedelta(minutes=5), True, "new-id"),
            UploadInfo(None, 7, now - dt.timedelta(days=9), False, "foreign-id"),
        ]
    )
    registry.register("uploadsfake", lambda params: driver)
    return driver


def test_cli_uploads_lists_uploads_in_flight(
    cli_registry: DriverRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """New command: nothing to regress on the old core."""
    driver = _uploads_driver(cli_registry)
    assert main(["uploads", "uploadsfake"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "uploadsfake: 3 upload(s) in flight"
    rows = {line.split()[0]: line.split() for line in lines[:-1]}
    assert rows["/old/blob"][1:5] == ["size=10", "idle=3d", "regstore", "id=old-id"]
    assert rows["/new/blob"][1:3] == ["size=?", "idle=5m"]
    assert "foreign" in rows["(no"]
    assert main(["uploads", "uploadsfake", "--json"]) == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(u["path"], u["ours"], u["id"]) for u in found] == [
        (None, False, "foreign-id"),
        ("/new/blob", True, "new-id"),
        ("/old/blob", True, "old-id"),
    ]
    assert driver.purges == []
    assert len(driver.uploads) == 3


def test_cli_uploads_unsupported_driver(capsys: pytest.CaptureFixture[str]) -> None:
    """New command: inmemory keeps no uploads to list."""
    assert main(["uploads", "inmemory"]) == 2
    assert "keeps no uploads" in capsys.readouterr().err


def test_cli_purge_dry_run_removes_nothing(
    cli_registry: DriverRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """New option: nothing to regress on the old core."""
    driver = _uploads_driver(cli_registry)
    assert main(["purge-uploads", "uploadsfake", "--older-than", "1d", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "/old/blob" in out
    assert "/new/blob" not in out
    assert "foreign-id" not in out
    assert out.splitlines()[-1].startswith("uploadsfake: would purge 1 upload(s)")
    args = ["purge-uploads", "uploadsfake", "--older-than", "1d", "--dry-run", "--include-foreign"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "foreign-id" in out
    assert out.splitlines()[-1].startswith("uploadsfake: would purge 2 upload(s)")
    assert all(call["dry_run"] for call in driver.purges)
    assert len(driver.uploads) == 3
    # Without --dry-run the same age really purges, only regstore's own.
    assert main(["purge-uploads", "uploadsfake", "--older-than", "1d"]) == 0
    assert capsys.readouterr().out.startswith("uploadsfake: purged 1 upload(s)")
    assert sorted(u.ident for u in driver.uploads) == ["foreign-id", "new-id"]


# -- writer failure policy ----------------------------------------------------------------


class FlakyWriter(FileWriter):
    """The inmemory writer, failing the operations named in `faults`. A
    failing write stores half of its bytes first (`partial`) or none."""

    def __init__(self, inner: FileWriter, faults: set[str]) -> None:
        self._inner = inner
        self._faults = faults

    @property
    def size(self) -> int:
        return self._inner.size

    def _check(self, operation: str) -> None:
        if operation in self._faults:
            raise OSError(errno.EIO, f"injected failure of {operation}")

    def write(self, data: Buffer) -> int:
        if "partial" in self._faults:
            view = memoryview(data)
            self._inner.write(view[: len(view) // 2])
            raise OSError(errno.ECONNRESET, "connection reset mid-write")
        self._check("write")
        return self._inner.write(data)

    def close(self) -> None:
        self._check("close")
        self._inner.close()

    def commit(self) -> None:
        self._check("commit")
        self._inner.commit()

    def cancel(self) -> None:
        self._check("cancel")
        self._inner.cancel()


class FlakyDriver(InMemoryDriver):
    def __init__(self) -> None:
        super().__init__()
        self.faults: set[str] = set()

    def writer(self, path: str, append: bool = False) -> FileWriter:
        return FlakyWriter(super().writer(path, append), self.faults)


@pytest.fixture
def flaky() -> FlakyDriver:
    return FlakyDriver()


@pytest.fixture
def managed(flaky: FlakyDriver) -> ManagedDriver:
    return ManagedDriver(flaky, name="flaky")


@pytest.mark.parametrize(("fault", "kept"), [("partial", 15), ("write", 10)])
def test_failed_write_refuses_write_and_commit(
    flaky: FlakyDriver, managed: ManagedDriver, fault: str, kept: int
) -> None:
    writer = managed.writer("/up")
    writer.write(b"a" * 10)
    flaky.faults.add(fault)
    with pytest.raises(StorageDriverError):
        writer.write(b"b" * 10)
    flaky.faults.clear()  # the backend is fine again; the writer is not
    with pytest.raises(WriterFinishedError) as info:
        writer.write(b"c")
    failed = info.value
    assert isinstance(failed, regstore.WriterFailedError)
    assert failed.driver_name == "flaky"
    assert str(failed).startswith("flaky: ")
    assert "close()" in str(failed)
    assert "append=True" in str(failed)
    with pytest.raises(regstore.WriterFailedError):
        writer.commit()
    with pytest.raises(PathNotFoundError):
        managed.get_content("/up")  # nothing half-written was published
    writer.close()  # keeps what reached storage
    resumed = managed.writer("/up", append=True)
    assert resumed.size == kept
    resumed.write(b"z")
    resumed.commit()
    assert managed.get_content("/up") == (b"a" * 10 + b"b" * 10)[:kept] + b"z"


def test_failed_write_can_still_be_cancelled(flaky: FlakyDriver, managed: ManagedDriver) -> None:
    writer = managed.writer("/up")
    writer.write(b"a" * 10)
    flaky.faults.add("partial")
    with pytest.raises(StorageDriverError):
        writer.write(b"b" * 10)
    flaky.faults.clear()
    writer.cancel()
    writer.close()  # allowed after cancel
    with pytest.raises(WriterFinishedError) as info:
        writer.write(b"c")
    assert not isinstance(info.value, regstore.WriterFailedError)  # finished: cancelled
    with pytest.raises(PathNotFoundError):
        managed.writer("/up", append=True)  # the upload is gone


def test_rejected_data_type_does_not_fail_the_writer(managed: ManagedDriver) -> None:
    """Not a regression (already so before): a write refused before it
    reaches the driver stored nothing, so the writer goes on."""
    writer = managed.writer("/up")
    with pytest.raises(StorageDriverError):
        writer.write("text")  # type: ignore[arg-type]
    writer.write(b"ok")
    writer.commit()
    assert managed.get_content("/up") == b"ok"


@pytest.mark.parametrize("operation", ["commit", "close", "cancel"])
def test_failed_finishing_call_can_be_retried(
    flaky: FlakyDriver, managed: ManagedDriver, operation: str
) -> None:
    """Not a regression (the wrapper already allowed it): pins the policy
    beside the write failure rules."""
    writer = managed.writer("/up")
    writer.write(b"data")
    flaky.faults.add(operation)
    for _ in range(2):
        with pytest.raises(StorageDriverError) as info:
            getattr(writer, operation)()
        assert not isinstance(info.value, WriterFinishedError)
    flaky.faults.clear()
    assert writer.size == 4
    writer.write(b"+")  # still open
    getattr(writer, operation)()
    if operation == "commit":
        assert managed.get_content("/up") == b"data+"
    elif operation == "close":
        assert managed.writer("/up", append=True).size == 5
    else:
        with pytest.raises(PathNotFoundError):
            managed.writer("/up", append=True)
    with pytest.raises(WriterFinishedError):
        writer.write(b"late")
