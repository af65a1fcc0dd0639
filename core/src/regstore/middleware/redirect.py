"""`redirect`: serve every blob from another base URL (a CDN, a mirror).

Options: `baseurl`, with a scheme and a host, and optionally a path. The URL
of a path is the base URL's scheme and host, and the base URL's path joined
with the storage path (`https://cdn.example/prefix` + `/docker/x` gives
`https://cdn.example/prefix/docker/x`). The driver's `rootdirectory` is not
included and nothing is signed, as upstream: the base URL must serve the
driver's keys itself. GET and HEAD only (the factory's wrapper refuses other
methods before the middleware is reached).
"""

from __future__ import annotations

import dataclasses
import posixpath
import urllib.parse
from typing import Any

from regstore.driver import StorageDriver
from regstore.errors import InvalidParameterError
from regstore.middleware import DriverMiddleware, MiddlewareSpec
from regstore.params import Parameter
from regstore.paths import validate_path

__all__ = ["SPEC", "RedirectMiddleware"]


class RedirectMiddleware(DriverMiddleware):
    """See the module docstring."""

    def __init__(self, inner: StorageDriver, baseurl: str) -> None:
        super().__init__(inner)
        parsed = urllib.parse.urlsplit(baseurl.strip())
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise InvalidParameterError(
                "middleware redirect",
                "baseurl",
                f"{baseurl!r} needs an http or https scheme and a host "
                "(e.g. https://cdn.example.com/prefix)",
            )
        self._scheme = parsed.scheme
        self._host = parsed.netloc
        # Decoded, as Go's url.URL.Path; quoted again when the URL is made.
        self._base_path = urllib.parse.unquote(parsed.path) or "/"
        self.capabilities = dataclasses.replace(inner.capabilities, redirect=True)

    def redirect_url(
        self, path: str, method: str = "GET", *, client_ip: str | None = None
    ) -> str | None:
        path = validate_path(path, driver_name=self.name)
        if method not in {"GET", "HEAD"}:
            return self.inner.redirect_url(path, method)  # the wrapper's clear refusal
        # Go's path.Join: joined, then cleaned (no doubled or trailing `/`).
        joined = posixpath.normpath(
            "/" + "/".join(part for part in f"{self._base_path}/{path}".split("/") if part)
        )
        return urllib.parse.urlunsplit(
            (self._scheme, self._host, urllib.parse.quote(joined), "", "")
        )


def create(driver: StorageDriver, options: dict[str, Any]) -> StorageDriver:
    """The middleware factory."""
    return RedirectMiddleware(driver, options["baseurl"])


SPEC = MiddlewareSpec(
    "redirect",
    create,
    parameters=(
        Parameter("baseurl", required=True, help="scheme://host[/path] the URLs start with"),
    ),
    summary="redirect reads to a base URL joined with the path (a CDN or mirror)",
)
