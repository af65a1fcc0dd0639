"""`cloudfront`: signed CloudFront URLs for the blobs of an s3 driver.

`redirect_url(path)` (GET or HEAD) gives `baseurl` joined with the object's
S3 key (the s3 driver's `rootdirectory` included, as upstream: a CloudFront
distribution with the bucket as origin serves the bucket's keys), signed for
CloudFront with a canned policy that expires `duration` from now. With
`ipfilteredby: aws` or `awsregion`, a request whose `client_ip` is in the
AWS IP ranges (of the `awsregion` regions) gets the s3 driver's own
presigned URL instead, so traffic inside AWS does not pay for CloudFront.
Everything else is passed to the wrapped driver.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
import urllib.parse
import weakref
from collections.abc import Callable
from typing import Any

from regstore.config import ConfigError, parse_duration
from regstore.driver import StorageDriver
from regstore.errors import InvalidParameterError, RegstoreError
from regstore.middleware import DriverMiddleware, redirect_through
from regstore.paths import validate_path
from regstore_cloudfront.ipranges import AWSIPRanges, check_source
from regstore_cloudfront.plugin import IP_FILTERS
from regstore_cloudfront.signer import CloudFrontURLSigner, load_private_key

__all__ = ["CloudFrontMiddleware", "create", "normalize_baseurl"]

_OWNER = "middleware cloudfront"
_KEY_PAIR_ID = re.compile(r"[A-Za-z0-9._~-]+")
#: What stays unescaped in the key part of the URL: S3 keys are URL paths.
_SAFE = "/~!$&'()*+,;=:@"


def normalize_baseurl(value: str) -> str:
    """`baseurl` as upstream uses it: `https://` added when there is no
    scheme, a trailing `/` added; it must then be an http(s) URL with a host
    and without query or fragment (the key is appended to it)."""
    base = value.strip()
    if "://" not in base:
        base = "https://" + base
    if not base.endswith("/"):
        base += "/"
    parts = urllib.parse.urlsplit(base)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise InvalidParameterError(
            _OWNER,
            "baseurl",
            f"{value!r} is not an http(s) URL with a host (e.g. https://d111111abcdef8.cloudfront.net)",
        )
    if parts.query or parts.fragment:
        raise InvalidParameterError(
            _OWNER,
            "baseurl",
            f"{value!r} has a query or fragment; the object key is appended to it",
        )
    return base


def _duration(option: str, value: str) -> dt.timedelta:
    try:
        duration = parse_duration(value, what=option)
    except ConfigError:
        failure = True
    else:
        failure = False
    if failure:
        raise InvalidParameterError(
            _OWNER,
            option,
            f"{value!r} is not a duration (write e.g. 20m, 1h30m, 12h, 500ms, "
            "or an integer number of nanoseconds)",
        )
    if duration <= dt.timedelta(0):
        hint = ""
        if value.strip().isdigit() and value.strip() != "0":
            hint = " (a bare integer is a number of nanoseconds, as upstream; write e.g. 20m)"
        raise InvalidParameterError(_OWNER, option, f"{value!r} must be longer than zero{hint}")
    return duration


def s3_keyer(driver: StorageDriver) -> Callable[[str], str]:
    """The `key(path)` of the s3 driver `driver` is (or wraps); a
    `RegstoreError` naming the driver for any other driver."""
    name = getattr(driver, "name", type(driver).__name__)
    if name != "s3":
        raise RegstoreError(
            f"middleware cloudfront: cloudfront wraps the s3 driver, not {name!r} "
            "(it signs CloudFront URLs of the s3 bucket's object keys)"
        )
    key = getattr(driver, "key", None)
    if not callable(key):
        raise RegstoreError(
            f"middleware cloudfront: cloudfront wraps the s3 driver, but {driver!r} has no "
            "key(path) method (is it regstore-s3's driver?)"
        )
    return key  # type: ignore[no-any-return]


class CloudFrontMiddleware(DriverMiddleware):
    """See the module docstring."""

    def __init__(
        self,
        inner: StorageDriver,
        *,
        baseurl: str,
        signer: CloudFrontURLSigner,
        duration: dt.timedelta,
        ip_ranges: AWSIPRanges | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = s3_keyer(inner)
        super().__init__(inner)
        self.baseurl = normalize_baseurl(baseurl)
        self.signer = signer
        self.duration = duration
        self.ip_ranges = ip_ranges
        self._clock = clock
        self.capabilities = dataclasses.replace(inner.capabilities, redirect=True)
        if ip_ranges is not None:
            # The updater thread ends with the middleware.
            self._finalizer = weakref.finalize(self, ip_ranges.stop)

    def close(self) -> None:
        """Stop fetching the IP ranges, then close the wrapped driver if it
        can be closed."""
        if self.ip_ranges is not None:
            self.ip_ranges.stop()
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def cloudfront_url(self, path: str) -> str:
        """The unsigned CloudFront URL of `path`: baseurl + the S3 key."""
        return self.baseurl + urllib.parse.quote(self._key(path), safe=_SAFE)

    def in_aws(self, client_ip: str | None) -> bool:
        """Whether `client_ip` gets the s3 URL (filtering on and the address
        in the ranges)."""
        return (
            client_ip is not None
            and self.ip_ranges is not None
            and self.ip_ranges.contains(client_ip)
        )

    def redirect_url(
        self, path: str, method: str = "GET", *, client_ip: str | None = None
    ) -> str | None:
        path = validate_path(path, driver_name=self.name)
        if method not in {"GET", "HEAD"} or self.in_aws(client_ip):
            # Other methods: the wrapped driver's clear refusal.
            return redirect_through(self.inner, path, method, client_ip)
        expires = int(self._clock() + self.duration.total_seconds())
        return self.signer.sign(self.cloudfront_url(path), expires)


def create(driver: StorageDriver, options: dict[str, Any]) -> StorageDriver:
    """The middleware factory: checks the driver, then the options."""
    s3_keyer(driver)
    baseurl = normalize_baseurl(options["baseurl"])
    keypairid = options["keypairid"].strip()
    if not _KEY_PAIR_ID.fullmatch(keypairid):
        raise InvalidParameterError(
            _OWNER, "keypairid", f"{options['keypairid']!r} is not a CloudFront key pair ID"
        )
    duration = _duration("duration", options["duration"])
    if duration < dt.timedelta(seconds=1):
        hint = (
            " (a bare integer is a number of nanoseconds)" if options["duration"].isdigit() else ""
        )
        raise InvalidParameterError(
            _OWNER,
            "duration",
            f"{options['duration']!r} is under a second; the URLs would expire at once{hint}",
        )
    update_frequency = _duration("updatefrequency", options["updatefrequency"])
    source = options["iprangesurl"].strip()
    problem = check_source(source)
    if problem:
        raise InvalidParameterError(_OWNER, "iprangesurl", f"{source!r}: {problem}")
    ipfilteredby = (options["ipfilteredby"] or "none").strip().lower() or "none"
    if ipfilteredby not in IP_FILTERS:
        raise InvalidParameterError(
            _OWNER,
            "ipfilteredby",
            f"{options['ipfilteredby']!r} is not one of " + ", ".join(map(repr, IP_FILTERS)),
        )
    regions: list[str] | None = None
    if ipfilteredby == "awsregion":
        regions = [r.strip().lower() for r in (options["awsregion"] or "").split(",") if r.strip()]
        if not regions:
            raise InvalidParameterError(
                _OWNER,
                "awsregion",
                "is required with ipfilteredby: awsregion: give comma-separated regions "
                "(e.g. us-east-1,us-west-2)",
            )
    signer = CloudFrontURLSigner(keypairid, load_private_key(options["privatekey"]))
    ip_ranges = None
    if ipfilteredby != "none":
        ip_ranges = AWSIPRanges(source, update_frequency, regions)
    return CloudFrontMiddleware(
        driver, baseurl=baseurl, signer=signer, duration=duration, ip_ranges=ip_ranges
    )
