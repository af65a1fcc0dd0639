"""`rewrite`: change the scheme, host or path prefix of the driver's URLs.

Options: `scheme`, `host`, `trimpathprefix`, each optional. The driver's own
redirect URL (a signed S3 URL, an Azure SAS URL) is taken apart; the scheme
and host are replaced when given, `trimpathprefix` is removed from the start
of the URL's path when the path starts with it, and the query (the
signature) is kept whole. Typical use: an Azure CDN in front of a container,
where the SAS query still authorises the request.

Unlike upstream, a driver that gives no URL (None) gives None here too:
upstream rewrites the empty string into `https://host`, a URL for no blob.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from regstore.driver import StorageDriver
from regstore.errors import InvalidParameterError
from regstore.middleware import DriverMiddleware, MiddlewareSpec, redirect_through
from regstore.params import Parameter

__all__ = ["SPEC", "RewriteMiddleware"]


class RewriteMiddleware(DriverMiddleware):
    """See the module docstring."""

    def __init__(
        self, inner: StorageDriver, *, scheme: str | None, host: str | None, trim: str | None
    ) -> None:
        super().__init__(inner)
        if scheme is not None and scheme not in {"http", "https"}:
            raise InvalidParameterError(
                "middleware rewrite", "scheme", f"{scheme!r} is not http or https"
            )
        if host is not None and ("/" in host or not host.strip()):
            raise InvalidParameterError(
                "middleware rewrite", "host", f"{host!r} is not a host[:port]"
            )
        self._scheme = scheme
        self._host = host
        self._trim = trim or ""

    def redirect_url(
        self, path: str, method: str = "GET", *, client_ip: str | None = None
    ) -> str | None:
        url = redirect_through(self.inner, path, method, client_ip)
        if url is None:
            return None
        parts = urllib.parse.urlsplit(url)
        new_path = parts.path
        if self._trim and new_path.startswith(self._trim):
            new_path = new_path[len(self._trim) :]
            if not new_path.startswith("/"):
                new_path = "/" + new_path
        return urllib.parse.urlunsplit(
            (
                self._scheme or parts.scheme,
                self._host or parts.netloc,
                new_path,
                parts.query,
                parts.fragment,
            )
        )


def create(driver: StorageDriver, options: dict[str, Any]) -> StorageDriver:
    """The middleware factory."""
    return RewriteMiddleware(
        driver, scheme=options["scheme"], host=options["host"], trim=options["trimpathprefix"]
    )


SPEC = MiddlewareSpec(
    "rewrite",
    create,
    parameters=(
        Parameter("scheme", help="http or https"),
        Parameter("host", help="host[:port] to put in the URL"),
        Parameter("trimpathprefix", help="a prefix to remove from the URL's path"),
    ),
    summary="rewrite the scheme, host or path prefix of the driver's redirect URLs",
)
