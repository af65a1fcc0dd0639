"""Path rules, enforced once in core for every driver.

A path is absolute, made of components of `[A-Za-z0-9._-]`, and no component
is `.` or `..` (distribution's regular expression admits those; we do not, so
no path can climb out of a driver's root). `/` alone is valid only where an
operation allows the root (list, stat, walk).
"""

from __future__ import annotations

import re

from regstore.errors import InvalidPathError

__all__ = [
    "PATH_PATTERN",
    "ROOT",
    "is_valid_path",
    "join_key",
    "parent",
    "validate_path",
    "walk_sort_key",
]

ROOT = "/"
PATH_PATTERN = re.compile(r"^(/[A-Za-z0-9._-]+)+$")
_DOT_COMPONENT = re.compile(r"/\.{1,2}(?=/|$)")


def is_valid_path(path: object, *, allow_root: bool = False) -> bool:
    """True when `path` obeys the rules; never raises."""
    if not isinstance(path, str):
        return False
    if path == ROOT:
        return allow_root
    return PATH_PATTERN.fullmatch(path) is not None and _DOT_COMPONENT.search(path) is None


def validate_path(path: object, *, allow_root: bool = False, driver_name: str = "") -> str:
    """Return `path` unchanged, or raise `InvalidPathError` saying why."""
    if is_valid_path(path, allow_root=allow_root):
        return path  # type: ignore[return-value]  # is_valid_path checked the type
    if not isinstance(path, str):
        reason = f"must be a str, not {type(path).__name__}"
    elif path == ROOT:
        reason = "the root is not allowed for this operation"
    elif not path.startswith("/"):
        reason = "must be absolute"
    elif _DOT_COMPONENT.search(path) is not None:
        reason = "'.' and '..' components are not allowed"
    else:
        reason = "components must be non-empty and use only A-Z a-z 0-9 . _ -"
    raise InvalidPathError(str(path), driver_name=driver_name, reason=reason)


def parent(path: str) -> str:
    """The parent directory of a valid path (`/` for top-level entries)."""
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def join_key(prefix: str, path: str) -> str:
    """Map a path to an object key as distribution does: the root directory
    joined with the path, without a leading slash (`("a/b", "/c")` -> `a/b/c`,
    `("", "/c")` -> `c`, `("", "/")` -> `""`)."""
    prefix = prefix.strip("/")
    rest = path.lstrip("/")
    if prefix and rest:
        return f"{prefix}/{rest}"
    return prefix or rest


def walk_sort_key(path: str) -> str:
    """The order of a depth-first walk over sorted children: `/` sorts before
    every character a component may hold, so a directory's contents come right
    after it and before its siblings (`/a/b`, `/a/b/c`, `/a/b-c`)."""
    return path.replace("/", "\x00")
