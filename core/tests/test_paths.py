"""Path rules: what is valid, what is not, and the reason given."""

from __future__ import annotations

import pytest

from regstore import InvalidPathError, validate_path
from regstore.paths import is_valid_path, join_key, parent, walk_sort_key

VALID = [
    "/a",
    "/a/b",
    "/A-Z_a.z-0.9",
    "/abc/.hidden",
    "/a/..b",
    "/a/b../c",
    "/.../x",
    "/" + "/".join(["x"] * 50),
    "/docker/registry/v2/blobs/sha256/ab/abcdef/data",
]

INVALID = [
    ("", "must be absolute"),
    ("a", "must be absolute"),
    ("a/b", "must be absolute"),
    ("/a/", "components must be non-empty"),
    ("//", "components must be non-empty"),
    ("//a", "components must be non-empty"),
    ("/a//b", "components must be non-empty"),
    ("/.", "'.' and '..' components are not allowed"),
    ("/..", "'.' and '..' components are not allowed"),
    ("/a/.", "'.' and '..' components are not allowed"),
    ("/a/../b", "'.' and '..' components are not allowed"),
    ("/../etc/passwd", "'.' and '..' components are not allowed"),
    ("/a b", "components must be non-empty and use only"),
    ("/ünïcödé", "components must be non-empty and use only"),
    ("/a\x00b", "components must be non-empty and use only"),
    ("/a\nb", "components must be non-empty and use only"),
    ("/a\\b", "components must be non-empty and use only"),
    ("/a:b", "components must be non-empty and use only"),
    ("/a/b\n", "components must be non-empty and use only"),
]


@pytest.mark.parametrize("path", VALID)
def test_valid(path: str) -> None:
    assert is_valid_path(path)
    assert validate_path(path) == path


@pytest.mark.parametrize(("path", "reason"), INVALID)
def test_invalid_with_reason(path: str, reason: str) -> None:
    assert not is_valid_path(path)
    assert not is_valid_path(path, allow_root=True)
    with pytest.raises(InvalidPathError) as info:
        validate_path(path, driver_name="drv")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == path
    assert reason in err.reason
    assert str(err).startswith("drv: invalid path")


@pytest.mark.parametrize("value", [None, 1, b"/a", ["/a"], object()])
def test_non_str(value: object) -> None:
    assert not is_valid_path(value)
    with pytest.raises(InvalidPathError) as info:
        validate_path(value)
    assert f"must be a str, not {type(value).__name__}" in info.value.reason


def test_root_only_where_allowed() -> None:
    assert not is_valid_path("/")
    assert is_valid_path("/", allow_root=True)
    assert validate_path("/", allow_root=True) == "/"
    with pytest.raises(InvalidPathError, match="the root is not allowed"):
        validate_path("/")


def test_parent() -> None:
    assert parent("/a") == "/"
    assert parent("/a/b/c") == "/a/b"


@pytest.mark.parametrize(
    ("prefix", "path", "key"),
    [
        ("a/b", "/c", "a/b/c"),
        ("/a/b/", "/c/d", "a/b/c/d"),
        ("", "/c", "c"),
        ("", "/", ""),
        ("root", "/", "root"),
    ],
)
def test_join_key(prefix: str, path: str, key: str) -> None:
    assert join_key(prefix, path) == key


def test_walk_sort_key_puts_contents_right_after_directory() -> None:
    paths = ["/a-c", "/a/b-c", "/a/b/c", "/a", "/a/b", "/ab", "/a.d"]
    assert sorted(paths, key=walk_sort_key) == [
        "/a",
        "/a/b",
        "/a/b/c",
        "/a/b-c",
        "/a-c",
        "/a.d",
        "/ab",
    ]
