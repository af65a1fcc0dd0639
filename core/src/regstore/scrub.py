"""Keeping credentials out of everything a user sees.

A secret reaches a message in more shapes than its own: a YAML `|` block
gives it a trailing newline, an HTTP library quotes it as `b'...\\n'` in
"Invalid header value", `repr()` escapes it. And it reaches a user by more
ways than `str(err)`: the chained `__cause__` and `__context__`, an
exception's `args` (what `repr()` and pickling use), its attributes, and
log records. `Scrubber` replaces every shape of every secret in all of
those; `SecretFilter` does it for log records of regstore's own loggers.

What it cannot reach: records that a library logs on its own loggers
(botocore's DEBUG logging prints signed headers), and the local variables
of traceback frames (shown only by tools that print locals). Keep those
off in production.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any

from regstore.params import REDACTED

__all__ = [
    "REDACTED",
    "ScrubbedError",
    "Scrubber",
    "SecretFilter",
    "attach_filter",
    "register_secrets",
    "scrub_text",
    "variants",
]
#: Shorter values are not scrubbed: replacing "a" everywhere would mangle
#: every message, and a four-character credential is no credential.
MIN_SECRET = 4


def variants(secret: str) -> set[str]:
    """Every shape in which `secret` may show up in a message."""
    shapes: set[str] = set()
    for value in {secret, secret.strip(), secret.rstrip("\r\n")}:
        shapes.add(value)
        shapes.add(repr(value)[1:-1])  # escaped as repr() shows it
        shapes.add(value.encode("unicode_escape").decode("ascii"))
        shapes.add(repr(value.encode("utf-8", "backslashreplace"))[2:-1])  # as bytes repr
        shapes.add(json.dumps(value)[1:-1])  # in a JSON body, non-ASCII as \\uXXXX
        shapes.add(json.dumps(value, ensure_ascii=False)[1:-1])
    return {shape for shape in shapes if len(shape) >= MIN_SECRET}


class Scrubber:
    """Replaces the shapes of a set of secrets by `REDACTED`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        shapes: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str):
                shapes |= variants(secret)
        # Longest first, so a secret containing another is scrubbed whole.
        self._shapes = sorted(shapes, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._shapes)

    def text(self, text: str) -> str:
        """`text` with every secret replaced."""
        for shape in self._shapes:
            if shape in text:
                text = text.replace(shape, REDACTED)
        return text

    def value(self, value: Any, depth: int = 0) -> Any:
        """A copy of `value` (str, bytes, or containers of them) scrubbed."""
        if depth > 4:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            decoded = value.decode("utf-8", "surrogateescape")
            cleaned = self.text(decoded)
            return value if cleaned == decoded else cleaned.encode("utf-8", "surrogateescape")
        if isinstance(value, tuple):
            return tuple(self.value(v, depth + 1) for v in value)
        if isinstance(value, list):
            return [self.value(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v, depth + 1) for k, v in value.items()}
        return value

    def leaks(self, text: str) -> bool:
        """Whether `text` still holds a secret."""
        return any(shape in text for shape in self._shapes)

    def exception(self, err: BaseException) -> BaseException:
        """Scrub `err` and every exception chained to it (`__cause__`,
        `__context__`) in place: args, attributes, notes. Returns `err`, or a
        `ScrubbedError` standing in for it when its own `__str__` or
        `__repr__` still shows a secret (it computes its message from
        something we cannot reach); chained links are replaced the same way,
        also where one exception is both a cause and a context."""
        if not self._shapes:
            return err
        return self._chain(err, {})

    def _chain(self, err: BaseException, done: dict[int, BaseException]) -> BaseException:
        if id(err) in done:
            return done[id(err)]
        if len(done) > 64:
            return err
        done[id(err)] = err  # a cycle ends here
        self._in_place(err)
        suppress = err.__suppress_context__
        for attr in ("__cause__", "__context__"):
            linked = getattr(err, attr)
            if linked is not None:
                cleaned = self._chain(linked, done)
                if cleaned is not linked:
                    setattr(err, attr, cleaned)
        err.__suppress_context__ = suppress
        try:
            shown = f"{err}\n{err!r}"
        except Exception:  # noqa: BLE001  (a broken __str__ shows nothing either)
            shown = ""
        if not self.leaks(shown):
            return err
        name = f"{type(err).__module__}.{type(err).__qualname__}"
        stand_in = ScrubbedError(f"{name}: {self.text(str(err))}")
        stand_in.__cause__ = err.__cause__
        stand_in.__context__ = err.__context__
        stand_in.__suppress_context__ = suppress
        done[id(err)] = stand_in.with_traceback(err.__traceback__)
        return done[id(err)]

    def _in_place(self, err: BaseException) -> None:
        with contextlib.suppress(AttributeError, TypeError):
            err.args = self.value(err.args)
        for name, attr in list(vars(err).items()):
            cleaned = self.value(attr)
            if cleaned is not attr:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(err, name, cleaned)
        notes = getattr(err, "__notes__", None)
        if isinstance(notes, list):
            err.__notes__ = [self.text(n) if isinstance(n, str) else n for n in notes]


class ScrubbedError(Exception):
    """Stands in a cause chain for an exception whose message held a secret
    we could not remove from the original object."""


# -- process-wide: log records ---------------------------------------------------

_lock = threading.Lock()
_registered: set[str] = set()
_global = Scrubber()


def register_secrets(secrets: Iterable[str]) -> None:
    """Add secrets that `SecretFilter` removes from regstore's log records
    (the factory registers every driver's secret parameters)."""
    global _global
    new = {s for s in secrets if isinstance(s, str) and len(s.strip()) >= MIN_SECRET}
    with _lock:
        if new <= _registered:
            return
        _registered.update(new)
        _global = Scrubber(_registered)


def scrub_text(text: str) -> str:
    """`text` with every registered secret replaced."""
    return _global.text(text)


class SecretFilter(logging.Filter):
    """Scrubs registered secrets from a record: message, arguments and the
    exception it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_record(record)
        return True


def _scrub_record(record: logging.LogRecord) -> None:
    scrubber = _global
    if not scrubber:
        return
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001  (a malformed record logs as it would)
        return
    record.msg = scrubber.text(message)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        _kind, err, tb = record.exc_info
        cleaned = scrubber.exception(err)
        record.exc_info = (type(cleaned), cleaned, cleaned.__traceback__ or tb)
        record.exc_text = None


_prefixes: set[str] = set()
_factory_installed = False


def attach_filter(logger_name: str) -> None:
    """Scrub the records of logger `logger_name` and of every logger below
    it (`regstore_s3` covers `regstore_s3.client`). A logger's own filters
    do not see its children's records, so this wraps the log record factory
    once and scrubs the records whose logger is one of ours, wherever they
    are handled."""
    global _factory_installed
    with _lock:
        _prefixes.add(logger_name)
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            name = record.name
            if any(name == p or name.startswith(p + ".") for p in _prefixes):
                _scrub_record(record)
            return record

        logging.setLogRecordFactory(make_record)
        _factory_installed = True
