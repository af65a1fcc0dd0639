"""Driver parameters: declaration, coercion, validation and redaction.

Parameters arrive as distribution's config.yml gives them: a mapping with
lowercase keys whose values may be strings from YAML or the environment
("true", "10485760", "5MiB"). Each driver declares its parameters once as
`Parameter`s; core coerces and checks them, so every driver rejects an
unknown key or a bad value the same way, naming the key and what is allowed,
and never echoes a secret.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from regstore.errors import InvalidParameterError

__all__ = [
    "REDACTED",
    "Parameter",
    "ParameterKind",
    "coerce_params",
    "is_secret_key",
    "parse_assignments",
    "parse_size",
    "redact",
    "secret_values",
]

ParameterKind = Literal["str", "bool", "int", "size", "float", "choice", "mapping"]
REDACTED = "***"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1}
for _i, _letter in enumerate("kmgt", start=1):
    _UNITS[_letter] = 1024**_i
    _UNITS[f"{_letter}ib"] = 1024**_i
    _UNITS[f"{_letter}i"] = 1024**_i
    _UNITS[f"{_letter}b"] = 1000**_i
_SECRET_WORDS = ("secret", "password", "token", "accountkey", "credential", "sas", "privatekey")


def is_secret_key(key: str) -> bool:
    """Whether a parameter name looks like it holds a secret, for parameters a
    driver did not declare (redaction errs on the side of hiding)."""
    lowered = key.lower()
    return lowered in {"accesskey", "key"} or any(word in lowered for word in _SECRET_WORDS)


def parse_size(value: object) -> int:
    """A byte count from an int or a string such as "10485760", "5MiB",
    "64k" (binary) or "5MB" (decimal)."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match:
            unit = (match.group(2) or "").lower()
            return int(match.group(1)) * _UNITS[unit]
    raise ValueError("a size is a whole number of bytes, optionally with a unit (KiB, MiB, GiB)")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter a driver accepts."""

    name: str
    kind: ParameterKind = "str"
    #: Used when the key is absent; None means "not set".
    default: Any = None
    required: bool = False
    #: Never shown in a repr, an error or a log line.
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    #: For kind "choice": the allowed values (compared case-insensitively).
    choices: tuple[str, ...] = ()
    help: str = ""
    #: For kind "mapping": the keys the mapping may hold, each checked as a
    #: parameter of its own (azure `credentials`: type, clientid, ...).
    #: Empty: any mapping with string keys (gcs `credentials`, a
    #: service-account JSON). A mapping also arrives as a JSON object in a
    #: string (from the command line or the environment).
    fields: tuple[Parameter, ...] = ()
    #: Older names accepted for this parameter (configs in the wild still
    #: carry them); giving both the name and an alias is an error.
    aliases: tuple[str, ...] = ()

    def allowed(self) -> str:
        """What values are allowed, in words, for error messages and --help."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        words = {
            "str": "a string",
            "bool": "a boolean (true/false)",
            "int": "an integer",
            "size": "a size in bytes (e.g. 10485760 or 10MiB)",
            "float": "a number",
            "mapping": "a mapping",
        }[self.kind]
        if self.kind == "mapping" and self.fields:
            words += " with keys " + ", ".join(f.name for f in self.fields)
        if self.minimum is not None and self.maximum is not None:
            words += f" from {_number(self.minimum)} to {_number(self.maximum)}"
        elif self.minimum is not None:
            words += f" of at least {_number(self.minimum)}"
        elif self.maximum is not None:
            words += f" of at most {_number(self.maximum)}"
        return words

    def coerce(self, driver_name: str, value: object) -> Any:
        """The value converted to the parameter's kind, or
        `InvalidParameterError` naming the key and what is allowed."""
        shown = REDACTED if self.secret else repr(value)
        failure: Exception | None = None
        try:
            result = self._convert(value)
        except (TypeError, ValueError) as err:
            failure = err
        if failure is not None:
            # Raised outside the except block: for a secret, even the hidden
            # __context__ must not keep an exception that quotes the value.
            error = InvalidParameterError(
                driver_name, self.name, f"{shown} is not {self.allowed()}"
            )
            if self.secret:
                raise error
            raise error from failure
        if isinstance(result, int | float) and not isinstance(result, bool):
            too_small = self.minimum is not None and result < self.minimum
            too_large = self.maximum is not None and result > self.maximum
            if too_small or too_large:
                raise InvalidParameterError(
                    driver_name, self.name, f"{shown} is out of range: must be {self.allowed()}"
                )
        return result

    def _convert(self, value: object) -> Any:
        if self.kind == "str":
            if isinstance(value, str):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)  # YAML reads a bucket named 123 as a number
            raise TypeError("not a string")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError("not a boolean")
        if self.kind == "int":
            if isinstance(value, bool):
                raise TypeError("boolean")
            if isinstance(value, int):
                return value
            if isinstance(value, str):
                return int(value.strip(), 10)
            raise TypeError("not an integer")
        if self.kind == "size":
            return parse_size(value)
        if self.kind == "float":
            if isinstance(value, bool):
                raise TypeError("boolean")
            if isinstance(value, int | float | str):
                number = float(value)
                if not math.isfinite(number):  # nan passes every range check
                    raise ValueError("not a finite number")
                return number
            raise TypeError("not a number")
        if self.kind == "choice":
            if isinstance(value, bool):
                # YAML 1.1 reads `loglevel: off` as False: take the choice
                # the writer meant, when the parameter has one.
                words = ("true", "on", "yes") if value else ("false", "off", "no")
                for choice in self.choices:
                    if choice.lower() in words:
                        return choice
                raise ValueError("not a choice")
            if isinstance(value, str):
                for choice in self.choices:
                    if value.strip().lower() == choice.lower():
                        return choice
            raise ValueError("not a choice")
        if self.kind == "mapping":
            return self._mapping(value)
        raise AssertionError(f"unknown parameter kind {self.kind!r}")

    def _mapping(self, value: object) -> dict[str, Any]:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, Mapping):
            raise TypeError("not a mapping")
        if not all(isinstance(key, str) for key in value):
            raise TypeError("mapping keys must be strings")
        if not self.fields:
            return dict(value)
        return {
            key: item
            for key, item in coerce_params(f"{self.name}", self.fields, value).items()
            if item is not None
        }

    def coerce_field(self, driver_name: str, value: object) -> Any:
        """`coerce` for a mapping with declared fields: a bad field is
        reported as `<name>.<field>` with the field's own message."""
        try:
            return self._mapping(value)
        except InvalidParameterError as err:
            raise InvalidParameterError(driver_name, f"{self.name}.{err.key}", err.reason) from None
        except (TypeError, ValueError) as err:
            raise InvalidParameterError(
                driver_name, self.name, f"{value!r} is not {self.allowed()}"
            ) from err


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`key=value` strings (command-line `-p` options) into a dict. A malformed
    item raises ValueError naming its position, never its text, since the
    value may be a secret; so does a key given twice (a silent last-wins
    would hide a typo in a long command line)."""
    result: dict[str, str] = {}
    for position, item in enumerate(items, start=1):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"value number {position} is not of the form key=value")
        if key in result:
            raise ValueError(f"{key!r} is given more than once (value number {position})")
        result[key] = value
    return result


def coerce_params(
    driver_name: str, declared: Sequence[Parameter], raw: Mapping[str, object] | None
) -> dict[str, Any]:
    """Check `raw` against `declared` and return every declared parameter's
    value (defaults filled in). Unknown keys, keys that are not lowercase,
    missing required keys and bad values raise `InvalidParameterError`."""
    by_name = {p.name: p for p in declared}
    alias_of = {alias: p.name for p in declared for alias in p.aliases}
    result: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        if not isinstance(key, str):
            raise InvalidParameterError(driver_name, str(key), "parameter names are strings")
        if key in alias_of:
            name = alias_of[key]
            if name in (raw or {}):
                raise InvalidParameterError(
                    driver_name, key, f"is an older name of {name!r}; give only one of them"
                )
            result[name] = by_name[name].coerce(driver_name, value)
            continue
        if key not in by_name:
            hint = ""
            if key.lower() in by_name:
                hint = f"; parameter names are lowercase: did you mean {key.lower()!r}?"
            allowed = ", ".join(sorted(by_name)) or "none"
            raise InvalidParameterError(
                driver_name, key, f"unknown parameter{hint} (allowed: {allowed})"
            )
        param = by_name[key]
        if param.kind == "mapping" and param.fields and not param.secret:
            result[key] = param.coerce_field(driver_name, value)
        else:
            result[key] = param.coerce(driver_name, value)
    for param in declared:
        if param.name in result:
            continue
        if param.required:
            raise InvalidParameterError(
                driver_name, param.name, f"is required: give {param.allowed()}"
            )
        if param.default is not None:
            result[param.name] = param.coerce(driver_name, param.default)
        else:
            result[param.name] = None
    return result


def redact(params: Mapping[str, object], declared: Sequence[Parameter] = ()) -> dict[str, object]:
    """A copy of `params` safe to print: declared secrets and anything whose
    name looks secret are replaced by `REDACTED`."""
    by_name = {p.name: p for p in declared}
    shown: dict[str, object] = {}
    for key, value in params.items():
        param = by_name.get(key)
        if value is not None and ((param is not None and param.secret) or is_secret_key(key)):
            shown[key] = REDACTED
        elif isinstance(value, Mapping):
            # A nested mapping (azure `credentials`): its secret fields, and
            # any whose name looks secret, are hidden too.
            shown[key] = redact(value, param.fields if param is not None else ())
        else:
            shown[key] = value
    return shown


def secret_values(declared: Sequence[Parameter], params: Mapping[str, object]) -> list[str]:
    """The string values of the secret parameters in `params` (declared
    secret, or named like one), also inside mappings (azure
    `credentials.secret`), for core to scrub wherever they could show."""
    by_name = {p.name: p for p in declared}
    found: list[str] = []
    for key, value in params.items():
        param = by_name.get(key)
        secret = (param is not None and param.secret) or is_secret_key(key)
        if isinstance(value, str) and secret:
            found.append(value)
        elif isinstance(value, Mapping):
            found.extend(secret_values(param.fields if param is not None else (), value))
    return found
