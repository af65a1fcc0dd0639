"""Storage middleware and the storage settings, through StorageConfig.create()
and the CLI's --config: order, disabled entries, redirect and rewrite URL
mapping, read-only and redirect-disable.

Runs on inmemory (always installed) and filesystem (when installed)."""

from __future__ import annotations

import datetime as dt
import pathlib
import textwrap
from typing import Any

import pytest

from regstore import RegstoreError, StorageDriver, StorageDriverError
from regstore.config import load_config
from regstore.errors import InvalidParameterError
from regstore.middleware import (
    DriverMiddleware,
    MiddlewareNotFoundError,
    apply_middleware,
    middlewares,
)
from regstore.middleware.redirect import RedirectMiddleware
from regstore.middleware.rewrite import RewriteMiddleware
from regstore.middleware.settings import NoRedirectDriver, ReadOnlyDriver, ReadOnlyError

BLOB = "/docker/registry/v2/blobs/sha256/ab/abcdef/data"


def _create(text: str, **environ: str) -> StorageDriver:
    return load_config(textwrap.dedent(text), environ=environ).create()


def _inmemory(*entries: str, settings: str = "") -> StorageDriver:
    """inmemory with the given `middleware: storage:` entries (YAML)."""
    body = "".join(textwrap.indent(textwrap.dedent(e).strip() + "\n", "    ") for e in entries)
    text = "storage:\n  inmemory:\n" + textwrap.indent(textwrap.dedent(settings), "  ")
    if entries:
        text += "middleware:\n  storage:\n" + body
    return load_config(text, environ={}).create()


def _redirect(baseurl: str) -> str:
    return f"- name: redirect\n  options:\n    baseurl: {baseurl!r}"


class FixedURL(DriverMiddleware):
    """Stands in for a driver that signs URLs (S3, Azure SAS)."""

    def __init__(self, inner: StorageDriver, url: str | None) -> None:
        super().__init__(inner)
        self.url = url
        self.seen: list[tuple[str, str, str | None]] = []

    def redirect_url(
        self, path: str, method: str = "GET", *, client_ip: str | None = None
    ) -> str | None:
        self.seen.append((path, method, client_ip))
        return self.url


# -- create() ---------------------------------------------------------------------------


def test_builtin_middleware_installed() -> None:
    assert {"redirect", "rewrite"} <= set(middlewares())


def test_no_middleware_gives_the_driver() -> None:
    driver = _inmemory()
    assert not isinstance(driver, DriverMiddleware)
    assert driver.name == "inmemory"
    assert driver.redirect_url(BLOB) is None  # inmemory serves content itself


def test_order_last_entry_outermost() -> None:
    redirect = _redirect("https://a.example/pre")
    rewrite = (
        "- name: rewrite\n  options:\n    host: b.example\n    trimpathprefix: /pre\n"
        "    scheme: http"
    )
    driver = _inmemory(redirect, rewrite)
    assert isinstance(driver, RewriteMiddleware)
    assert isinstance(driver.inner, RedirectMiddleware)
    assert driver.redirect_url(BLOB) == f"http://b.example{BLOB}"
    # Reversed: redirect is outermost and never calls rewrite.
    driver = _inmemory(rewrite, redirect)
    assert isinstance(driver, RedirectMiddleware)
    assert driver.redirect_url(BLOB) == f"https://a.example/pre{BLOB}"


def test_disabled_entry_skipped() -> None:
    # Upstream parses `disabled` and ignores it; regstore skips the entry,
    # so not even its name is looked up.
    driver = _inmemory(
        _redirect("https://a.example") + "\n  disabled: true",
        "- name: notinstalled\n  disabled: true",
    )
    assert not isinstance(driver, DriverMiddleware)
    assert driver.redirect_url(BLOB) is None
    enabled = _inmemory(_redirect("https://a.example") + "\n  disabled: false")
    assert enabled.redirect_url(BLOB) == f"https://a.example{BLOB}"


def test_disabled_from_environment() -> None:
    driver = _create(
        "storage: inmemory\n",
        REGISTRY_MIDDLEWARE_STORAGE_0_NAME="redirect",
        REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_BASEURL="https://env.example/x",
        REGISTRY_MIDDLEWARE_STORAGE_1_NAME="rewrite",
        REGISTRY_MIDDLEWARE_STORAGE_1_OPTIONS_HOST="never.example",
        REGISTRY_MIDDLEWARE_STORAGE_1_DISABLED="true",
    )
    assert isinstance(driver, RedirectMiddleware)
    assert driver.redirect_url(BLOB) == f"https://env.example/x{BLOB}"


def test_unknown_middleware_names_installed_ones() -> None:
    with pytest.raises(MiddlewareNotFoundError) as caught:
        _inmemory("- name: nosuchmiddleware")
    message = str(caught.value)
    assert "'nosuchmiddleware'" in message
    assert "redirect" in message
    assert "rewrite" in message
    assert isinstance(caught.value, RegstoreError)


def test_cloudfront_missing_gives_pip_line() -> None:
    if "cloudfront" in middlewares():
        pytest.skip("regstore-cloudfront is installed here")
    with pytest.raises(MiddlewareNotFoundError, match="pip install regstore-cloudfront"):
        _inmemory("- name: cloudfront\n  options:\n    baseurl: https://cf.example")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("- name: redirect", ["middleware redirect", "'baseurl'", "required"]),
        ("- name: redirect\n  options:\n    baseurl: cdn.example", ["'baseurl'", "http"]),
        ("- name: redirect\n  options:\n    baseurl: ftp://cdn.example", ["'baseurl'", "http"]),
        (
            "- name: redirect\n  options:\n    baseurl: https://a\n    baseurll: x",
            ["'baseurll'", "unknown"],
        ),
        ("- name: rewrite\n  options:\n    scheme: gopher", ["'scheme'", "http or https"]),
        ("- name: rewrite\n  options:\n    host: a.example/x", ["'host'"]),
    ],
)
def test_bad_options(entry: str, words: list[str]) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        _inmemory(entry)
    for word in words:
        assert word in str(caught.value)


def test_apply_middleware_directly() -> None:
    base = load_config("storage: inmemory\n", environ={}).create()
    driver = apply_middleware(base, [("redirect", {"baseurl": "https://x.example"})])
    assert driver.redirect_url(BLOB) == f"https://x.example{BLOB}"
    assert apply_middleware(base, []) is base


def test_middleware_forwards_everything() -> None:
    driver = _inmemory(_redirect("https://a.example"))
    driver.put_content("/a/b", b"hello")
    assert driver.get_content("/a/b") == b"hello"
    with driver.writer("/a/c") as writer:
        writer.write(b"xy")
        writer.commit()
    assert driver.stat("/a/c").size == 2
    assert sorted(driver.list("/a")) == ["/a/b", "/a/c"]
    driver.move("/a/c", "/a/d")
    with driver.reader("/a/d", 1) as reader:
        assert reader.read() == b"y"
    assert [info.path for info in driver.walk("/a")] == ["/a/b", "/a/d"]
    driver.delete("/a")
    assert driver.list("/") == []
    assert driver.capabilities.redirect


# -- redirect ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseurl", "expected"),
    [
        ("https://example.com/", f"https://example.com{BLOB}"),
        ("https://example.com", f"https://example.com{BLOB}"),
        ("https://cdn.example/prefix", f"https://cdn.example/prefix{BLOB}"),
        ("https://cdn.example/prefix/", f"https://cdn.example/prefix{BLOB}"),
        ("https://cdn.example//prefix//", f"https://cdn.example/prefix{BLOB}"),
        ("http://cdn.example:8080/a/b", f"http://cdn.example:8080/a/b{BLOB}"),
        ("https://cdn.example/my%20cdn", f"https://cdn.example/my%20cdn{BLOB}"),
        ("https://cdn.example/x?sig=1#frag", f"https://cdn.example/x{BLOB}"),
        ("  https://cdn.example/x  ", f"https://cdn.example/x{BLOB}"),
    ],
)
def test_redirect_url_mapping(baseurl: str, expected: str) -> None:
    driver = _inmemory(_redirect(baseurl))
    assert driver.redirect_url(BLOB) == expected
    assert driver.redirect_url(BLOB, "HEAD") == expected


def test_redirect_never_calls_the_driver() -> None:
    base = load_config("storage: inmemory\n", environ={}).create()
    fixed = FixedURL(base, "https://signed.example/x?sig=1")
    driver = RedirectMiddleware(fixed, "https://cdn.example")
    assert driver.redirect_url(BLOB, client_ip="10.0.0.1") == f"https://cdn.example{BLOB}"
    assert fixed.seen == []


def test_redirect_refuses_other_methods_and_bad_paths() -> None:
    driver = _inmemory(_redirect("https://a.example"))
    with pytest.raises(StorageDriverError, match="GET or HEAD"):
        driver.redirect_url(BLOB, "PUT")
    with pytest.raises(StorageDriverError):
        driver.redirect_url("relative/path")


def test_redirect_excludes_rootdirectory(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("regstore_filesystem", reason="the filesystem plugin is not installed")
    driver = _create(
        f"""
        storage:
          filesystem:
            rootdirectory: {tmp_path}/root
        middleware:
          storage:
            - name: redirect
              options:
                baseurl: https://cdn.example/base/
        """
    )
    assert driver.redirect_url(BLOB) == f"https://cdn.example/base{BLOB}"


# -- rewrite --------------------------------------------------------------------------

SAS = "https://acct.blob.core.windows.net/container-name/docker/x/data?sv=2024&sig=a%2Bb%3D"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {
                "scheme": "https",
                "host": "example-cdn-endpoint.azurefd.net",
                "trimpathprefix": "/container-name",
            },
            "https://example-cdn-endpoint.azurefd.net/docker/x/data?sv=2024&sig=a%2Bb%3D",
        ),
        (
            {"host": "cdn.example:8443"},
            SAS.replace("acct.blob.core.windows.net", "cdn.example:8443"),
        ),
        ({"scheme": "http"}, "http" + SAS[len("https") :]),
        ({"trimpathprefix": "/container-name/"}, SAS.replace("/container-name/", "/")),
        ({"trimpathprefix": "/other"}, SAS),
        # A plain prefix of the text, as upstream's strings.TrimPrefix.
        ({"trimpathprefix": "/container"}, SAS.replace("/container-name", "/-name")),
        ({}, SAS),
    ],
)
def test_rewrite_mapping(options: dict[str, str], expected: str) -> None:
    base = load_config("storage: inmemory\n", environ={}).create()
    fixed = FixedURL(base, SAS)
    driver = RewriteMiddleware(
        fixed,
        scheme=options.get("scheme"),
        host=options.get("host"),
        trim=options.get("trimpathprefix"),
    )
    assert driver.redirect_url(BLOB, "HEAD", client_ip="192.0.2.1") == expected
    # The wrapped driver gets the path, method and client address.
    assert fixed.seen == [(BLOB, "HEAD", "192.0.2.1")]


def test_rewrite_keeps_none() -> None:
    # Upstream makes https://host of an empty URL; None (serve the content
    # itself) stays None.
    driver = _inmemory("- name: rewrite\n  options:\n    host: cdn.example\n    scheme: https")
    assert isinstance(driver, RewriteMiddleware)
    assert driver.redirect_url(BLOB) is None


# -- redirect: disable -------------------------------------------------------------------


def test_redirect_disable_wins_over_middleware() -> None:
    driver = _inmemory(_redirect("https://a.example"), settings="redirect:\n  disable: true\n")
    assert isinstance(driver, NoRedirectDriver)
    assert driver.redirect_url(BLOB) is None
    assert driver.redirect_url(BLOB, "HEAD", client_ip="10.1.1.1") is None
    assert not driver.capabilities.redirect
    with pytest.raises(StorageDriverError):
        driver.redirect_url("no/leading/slash")


def test_redirect_disable_from_environment() -> None:
    driver = _create(
        "storage: inmemory\nmiddleware:\n  storage:\n"
        "    - name: redirect\n      options: {baseurl: 'https://a.example'}\n",
        REGISTRY_STORAGE_REDIRECT_DISABLE="true",
    )
    assert driver.redirect_url(BLOB) is None


# -- maintenance: readonly ---------------------------------------------------------------


def _has_filesystem() -> bool:
    try:
        import regstore_filesystem  # noqa: F401
    except ImportError:
        return False
    return True


#: filesystem keeps uploads (so purge and list_uploads are checked too);
#: inmemory keeps none.
READONLY_DRIVERS = ["filesystem", "inmemory"] if _has_filesystem() else ["inmemory"]


@pytest.fixture(params=READONLY_DRIVERS)
def readonly(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> StorageDriver:
    name = request.param
    text = f"storage:\n  {name}:\n"
    if name == "filesystem":
        text += f"    rootdirectory: {tmp_path}\n"
    text += (
        "  maintenance:\n    readonly:\n      enabled: true\n"
        "middleware:\n  storage:\n    - name: redirect\n"
        "      options:\n        baseurl: https://a.example\n"
    )
    driver = load_config(text, environ={}).create()
    assert isinstance(driver, ReadOnlyDriver)
    # Seeded through the wrapped driver: the read-only store holds content.
    driver.inner.put_content("/repo/a", b"content")
    if name == "filesystem":
        writer = driver.inner.writer("/repo/upload")
        writer.write(b"partial")
        writer.close()
    return driver


def _uploads(driver: StorageDriver) -> int | None:
    """How many uploads the store holds; None where it keeps none."""
    return len(list(driver.list_uploads())) if driver.name == "filesystem" else None


WRITES: list[tuple[str, Any]] = [
    ("put_content", lambda d: d.put_content("/repo/b", b"x")),
    ("writer", lambda d: d.writer("/repo/c")),
    ("writer", lambda d: d.writer("/repo/upload", append=True)),
    ("move", lambda d: d.move("/repo/a", "/repo/z")),
    ("delete", lambda d: d.delete("/repo/a")),
    ("purge_uploads", lambda d: d.purge_uploads(dt.timedelta(0))),
]


@pytest.mark.parametrize(
    ("operation", "call"), WRITES, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRITES)]
)
def test_readonly_refuses_writes(readonly: StorageDriver, operation: str, call: Any) -> None:
    with pytest.raises(ReadOnlyError) as caught:
        call(readonly)
    err = caught.value
    assert isinstance(err, StorageDriverError)
    assert isinstance(err, PermissionError)
    message = str(err)
    assert message.startswith(f"{readonly.name}: {operation} ")
    assert "read-only" in message
    assert "maintenance: readonly: enabled: true" in message
    # Nothing changed.
    assert readonly.get_content("/repo/a") == b"content"
    assert readonly.list("/repo") == ["/repo/a"]
    assert _uploads(readonly) in (1, None)


def test_readonly_reads_work(readonly: StorageDriver) -> None:
    assert readonly.get_content("/repo/a") == b"content"
    with readonly.reader("/repo/a", 3) as reader:
        assert reader.read() == b"tent"
    assert readonly.stat("/repo/a").size == 7
    assert readonly.list("/repo") == ["/repo/a"]
    assert [info.path for info in readonly.walk("/")] == ["/repo", "/repo/a"]
    assert readonly.redirect_url("/repo/a") == "https://a.example/repo/a"
    if readonly.name == "filesystem":
        assert [u.size for u in readonly.list_uploads()] == [7]
        # A dry run only counts, so it is allowed.
        assert readonly.purge_uploads(dt.timedelta(0), dry_run=True) == 1
        assert _uploads(readonly) == 1


def test_readonly_checks_paths_first(readonly: StorageDriver) -> None:
    with pytest.raises(StorageDriverError) as caught:
        readonly.put_content("relative", b"x")
    assert not isinstance(caught.value, ReadOnlyError)


def test_readonly_from_environment_without_yaml_section() -> None:
    driver = _create(
        "storage:\n  inmemory:\n", REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED="true"
    )
    with pytest.raises(ReadOnlyError):
        driver.put_content("/x", b"y")


def test_readonly_off_writes() -> None:
    driver = _inmemory(settings="maintenance:\n  readonly:\n    enabled: false\n")
    driver.put_content("/x", b"y")
    assert driver.get_content("/x") == b"y"
