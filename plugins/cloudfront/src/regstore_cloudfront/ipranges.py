"""The AWS IP ranges (ip-ranges.json), kept up to date in a background thread.

The document lists `prefixes` (`ip_prefix`, IPv4) and `ipv6_prefixes`
(`ipv6_prefix`), each with a `region` and a `service`. As upstream, every
prefix counts whatever its service (the `AMAZON` entries cover all of AWS
anyway), and with regions given only the prefixes of those regions count
(compared case-insensitively).

The first fetch starts in the background when the ranges are created and
never blocks a lookup: until a fetch has succeeded no address is in AWS.
After a success the next fetch is `update_frequency` later; after a failure
it is retried sooner (from 5 s, doubling, never later than
`update_frequency`), and the last good ranges stay in use. Lookups bisect
merged ranges, so a document of thousands of prefixes costs a few
comparisons per request.
"""

from __future__ import annotations

import bisect
import datetime as dt
import ipaddress
import json
import logging
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AWSIPRanges", "NetworkSet", "parse_ip_ranges"]

log = logging.getLogger("regstore_cloudfront")

#: How long one fetch of the document may take.
FETCH_TIMEOUT = 30.0
#: The first retry after a failed fetch (doubling up to update_frequency).
FIRST_RETRY = dt.timedelta(seconds=5)
#: A document larger than this is refused (the real one is about 2 MB).
MAX_DOCUMENT = 64 * 1024 * 1024


class NetworkSet:
    """A set of IP networks of one family, merged into sorted disjoint
    [first, last] integer ranges for bisection."""

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in networks)
        starts: list[int] = []
        ends: list[int] = []
        for first, last in spans:
            if ends and first <= ends[-1] + 1:
                ends[-1] = max(ends[-1], last)
            else:
                starts.append(first)
                ends.append(last)
        self._starts = starts
        self._ends = ends

    def __len__(self) -> int:
        return len(self._starts)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        value = int(address)
        index = bisect.bisect_right(self._starts, value) - 1
        return index >= 0 and value <= self._ends[index]


@dataclass(frozen=True)
class Ranges:
    """One parsed document: the networks that count, by family."""

    ipv4: NetworkSet
    ipv6: NetworkSet
    prefixes: int


def parse_ip_ranges(document: Any, regions: Sequence[str] | None = None) -> Ranges:
    """The networks of an ip-ranges.json document (already decoded), only
    those of `regions` when given. A malformed prefix is skipped with a
    warning (as upstream); a document that is not ip-ranges.json at all
    raises ValueError."""
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise ValueError("not an AWS ip-ranges document (no 'prefixes' list)")
    wanted = {r.lower() for r in regions} if regions else None
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    count = 0
    entries: list[tuple[str, Any]] = [("ip_prefix", e) for e in document["prefixes"]]
    entries += [("ipv6_prefix", e) for e in document.get("ipv6_prefixes") or []]
    for field, entry in entries:
        if not isinstance(entry, dict):
            continue
        region = str(entry.get("region", "")).lower()
        if wanted is not None and region not in wanted:
            continue
        try:
            network = ipaddress.ip_network(str(entry.get(field, "")), strict=False)
        except ValueError:
            log.warning(
                "cloudfront: skipping an unparseable prefix in the AWS IP ranges: %r", entry
            )
            continue
        count += 1
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    return Ranges(NetworkSet(v4), NetworkSet(v6), count)


def read_document(url: str) -> Any:
    """The decoded JSON at `url`: http(s)://, file:// or a local path."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in {"http", "https", "file"}:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            status = getattr(response, "status", None)
            if status is not None and status != 200:
                raise OSError(f"HTTP status {status}")
            data = response.read(MAX_DOCUMENT + 1)
    else:
        with Path(url).expanduser().open("rb") as file:
            data = file.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise ValueError(f"larger than {MAX_DOCUMENT} bytes")
    return json.loads(data)


def check_source(url: str) -> str | None:
    """What is wrong with `url` as a place to fetch the ranges, or None."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"http", "https"}:
        return None if parts.netloc else "an http(s) URL needs a host"
    if scheme == "file":
        return None
    if scheme and len(scheme) > 1:  # "C:" is a Windows drive, not a scheme
        return f"scheme {parts.scheme!r} is not http, https or file"
    return None if url.strip() else "is empty"


class AWSIPRanges:
    """Whether an address is in AWS (in the given regions), from a document
    fetched on a schedule in a daemon thread. `stop()` ends the thread."""

    def __init__(
        self,
        url: str,
        update_frequency: dt.timedelta,
        regions: Sequence[str] | None = None,
        *,
        start: bool = True,
    ) -> None:
        self.url = url
        self.update_frequency = update_frequency
        self.regions = tuple(r.lower() for r in regions) if regions else None
        self._ranges: Ranges | None = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        #: Fetches that succeeded / failed so far (tests and diagnostics).
        self.updates = 0
        self.failures = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    def __repr__(self) -> str:
        ranges = self._ranges
        state = f"{ranges.prefixes} prefixes" if ranges else "not loaded"
        return f"<AWSIPRanges {self.url!r} regions={self.regions} {state}>"

    @property
    def loaded(self) -> bool:
        """Whether a fetch has succeeded."""
        return self._ranges is not None

    def start(self) -> None:
        """Start the updater thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="regstore-cloudfront-ip-ranges", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the updater thread (it ends after the fetch in progress, if any)."""
        self._stop.set()

    def contains(self, address: str) -> bool:
        """Whether `address` (an IPv4 or IPv6 address, an IPv4-mapped IPv6
        address counting as IPv4) is in the ranges. Not loaded yet, or not
        an address: False."""
        ranges = self._ranges
        if ranges is None:
            return False
        try:
            ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
        except (ValueError, AttributeError):
            log.warning("cloudfront: %r is not an IP address; signing a CloudFront URL", address)
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        networks = ranges.ipv4 if isinstance(ip, ipaddress.IPv4Address) else ranges.ipv6
        return ip in networks

    def update(self) -> bool:
        """Fetch and parse the document once; True on success (the last good
        ranges stay in use otherwise)."""
        try:
            ranges = parse_ip_ranges(read_document(self.url), self.regions)
        except Exception as err:  # noqa: BLE001  (a failed fetch must not end the thread)
            self.last_error = f"{type(err).__name__}: {err}"
            with self._changed:
                self.failures += 1
                self._changed.notify_all()
            log.warning("cloudfront: fetching the AWS IP ranges from %s failed: %s", self.url, err)
            return False
        self._ranges = ranges
        self.last_error = None
        with self._changed:
            self.updates += 1
            self._changed.notify_all()
        log.info("cloudfront: %d AWS IP prefixes loaded from %s", ranges.prefixes, self.url)
        return True

    def wait_for(self, *, updates: int = 1, timeout: float = 10.0) -> bool:
        """Wait until `updates` fetches have succeeded; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.updates >= updates, timeout)

    def _run(self) -> None:
        retry = FIRST_RETRY
        while not self._stop.is_set():
            if self.update():
                delay = self.update_frequency
                retry = FIRST_RETRY
            else:
                delay = min(retry, self.update_frequency)
                retry *= 2
            if self._stop.wait(delay.total_seconds()):
                return
