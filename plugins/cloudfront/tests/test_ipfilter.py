"""IP filtering: clients inside the AWS ranges (of the given regions) get the
s3 driver's presigned URL, everyone else a signed CloudFront URL. The ranges
come from a local ip-ranges.json (a path, a file:// URL, or a loopback HTTP
server), fetched in the background without ever blocking a request."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from regstore_cloudfront.ipranges import AWSIPRanges, NetworkSet, parse_ip_ranges

from regstore import StorageDriver
from regstore.testing.services import LocalService

BLOB = "/docker/registry/v2/blobs/sha256/cd/cdef/data"


#: A small ip-ranges.json: IPv4 and IPv6 prefixes of two regions and
#: several services (the real one has thousands), a duplicate and a bad one.
IP_RANGES: dict[str, Any] = {
    "syncToken": "1700000000",
    "createDate": "2026-11-01-00-00-00",
    "prefixes": [
        {"ip_prefix": "52.94.0.0/22", "region": "us-east-1", "service": "AMAZON"},
        {"ip_prefix": "52.94.0.0/22", "region": "us-east-1", "service": "EC2"},
        {"ip_prefix": "3.5.0.0/19", "region": "us-east-1", "service": "S3"},
        {"ip_prefix": "18.200.0.0/16", "region": "eu-west-1", "service": "EC2"},
        {"ip_prefix": "not-a-prefix", "region": "us-east-1", "service": "EC2"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2"},
        {"ipv6_prefix": "2a05:d018::/36", "region": "eu-west-1", "service": "EC2"},
    ],
}
US_EAST_V4 = "52.94.1.7"
US_EAST_S3_V4 = "3.5.10.1"
EU_WEST_V4 = "18.200.3.4"
US_EAST_V6 = "2600:1f18:1234::1"
EU_WEST_V6 = "2a05:d018:1::5"
OUTSIDE_V4 = "198.51.100.7"
OUTSIDE_V6 = "2001:db8::1"


def is_cloudfront(url: str) -> bool:
    return url.startswith("https://d111111abcdef8.cloudfront.net/") and "Key-Pair-Id=" in url


def is_s3(url: str, moto: LocalService) -> bool:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return url.startswith(moto.endpoint + "/") and (
        "X-Amz-Signature" in query or "Signature" in query
    )


def loaded(driver: Any, updates: int = 1) -> Any:
    """`driver` once its IP ranges have been fetched `updates` times."""
    assert driver.ip_ranges.wait_for(updates=updates, timeout=10), driver.ip_ranges.last_error
    return driver


@pytest.fixture
def ip_ranges_file(tmp_path: Path) -> Path:
    """The document in a local file."""
    path = tmp_path / "ip-ranges.json"
    path.write_text(json.dumps(IP_RANGES))
    return path


@pytest.fixture
def ranges_source(request: pytest.FixtureRequest, ip_ranges_file: Path) -> str:
    """The document as a path and as a file:// URL."""
    if getattr(request, "param", "path") == "url":
        return ip_ranges_file.as_uri()
    return str(ip_ranges_file)


@pytest.mark.parametrize("ranges_source", ["path", "url"], indirect=True)
def test_aws_clients_get_s3_urls(
    s3_driver: StorageDriver,
    cloudfront: Callable[..., Any],
    moto_server: LocalService,
    ranges_source: str,
) -> None:
    driver = loaded(cloudfront(s3_driver, ipfilteredby="aws", iprangesurl=ranges_source))
    for address in (US_EAST_V4, US_EAST_S3_V4, EU_WEST_V4, US_EAST_V6, EU_WEST_V6):
        assert is_s3(driver.redirect_url(BLOB, client_ip=address), moto_server), address
    # An IPv4 address written as IPv4-mapped IPv6 is the IPv4 address.
    assert is_s3(driver.redirect_url(BLOB, client_ip=f"::ffff:{US_EAST_V4}"), moto_server)
    for address in (OUTSIDE_V4, OUTSIDE_V6, "not-an-address", "", "52.94.0"):
        assert is_cloudfront(driver.redirect_url(BLOB, client_ip=address)), address
    assert is_cloudfront(driver.redirect_url(BLOB))  # no client_ip: CloudFront
    # HEAD goes the same way.
    assert is_s3(driver.redirect_url(BLOB, "HEAD", client_ip=US_EAST_V6), moto_server)
    assert is_cloudfront(driver.redirect_url(BLOB, "HEAD", client_ip=OUTSIDE_V6))


def test_the_s3_url_is_the_drivers_own(
    s3_driver: Any,
    cloudfront: Callable[..., Any],
    ip_ranges_file: Path,
) -> None:
    driver = loaded(cloudfront(s3_driver, ipfilteredby="aws", iprangesurl=str(ip_ranges_file)))
    s3_driver.put_content(BLOB, b"blob bytes")
    url = driver.redirect_url(BLOB, client_ip=US_EAST_V4)
    assert urllib.parse.urlsplit(url).path.endswith("/" + s3_driver.key(BLOB))

    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"blob bytes"
    s3_driver.delete(BLOB)


@pytest.mark.parametrize(
    "case",
    [
        ("us-east-1", [US_EAST_V4, US_EAST_S3_V4, US_EAST_V6], [EU_WEST_V4, EU_WEST_V6]),
        ("eu-west-1", [EU_WEST_V4, EU_WEST_V6], [US_EAST_V4, US_EAST_V6]),
        (" US-East-1 , eu-west-1 ", [US_EAST_V4, EU_WEST_V4, US_EAST_V6, EU_WEST_V6], []),
        ("ap-south-1", [], [US_EAST_V4, EU_WEST_V4, US_EAST_V6]),
    ],
)
def test_awsregion_limits_to_the_regions(
    s3_driver: StorageDriver,
    cloudfront: Callable[..., Any],
    moto_server: LocalService,
    ip_ranges_file: Path,
    case: tuple[str, list[str], list[str]],
) -> None:
    regions, inside, outside = case
    driver = loaded(
        cloudfront(
            s3_driver,
            ipfilteredby="awsregion",
            awsregion=regions,
            iprangesurl=str(ip_ranges_file),
        )
    )
    for address in inside:
        assert is_s3(driver.redirect_url(BLOB, client_ip=address), moto_server), address
    for address in [*outside, OUTSIDE_V4, OUTSIDE_V6]:
        assert is_cloudfront(driver.redirect_url(BLOB, client_ip=address)), address


def test_none_filters_nobody(s3_driver: StorageDriver, cloudfront: Callable[..., Any]) -> None:
    driver = cloudfront(s3_driver, ipfilteredby="none")
    assert driver.ip_ranges is None
    for address in (US_EAST_V4, US_EAST_V6, None):
        assert is_cloudfront(driver.redirect_url(BLOB, client_ip=address))


class StallingServer:
    """A loopback HTTP server whose answer waits until `release()`; it
    serves `document` (JSON) and counts requests."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.gate = threading.Event()
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                owner.gate.wait(30)
                body = json.dumps(owner.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ip-ranges.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stalling_server() -> Iterator[StallingServer]:
    server = StallingServer(IP_RANGES)
    yield server
    server.close()


def test_fetch_never_blocks_a_request(
    s3_driver: StorageDriver,
    cloudfront: Callable[..., Any],
    moto_server: LocalService,
    stalling_server: StallingServer,
) -> None:
    started = time.monotonic()
    driver = cloudfront(s3_driver, ipfilteredby="aws", iprangesurl=stalling_server.url)
    assert time.monotonic() - started < 2
    deadline = time.monotonic() + 10
    while stalling_server.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stalling_server.requests == 1  # the fetch is under way, and stalled
    # Until the first fetch succeeds, nobody is in AWS; the request does not wait.
    started = time.monotonic()
    assert is_cloudfront(driver.redirect_url(BLOB, client_ip=US_EAST_V4))
    assert time.monotonic() - started < 1
    assert not driver.ip_ranges.loaded
    stalling_server.release()
    loaded(driver)
    assert is_s3(driver.redirect_url(BLOB, client_ip=US_EAST_V4), moto_server)


def test_updates_on_schedule(
    tmp_path: Path,
    s3_driver: StorageDriver,
    cloudfront: Callable[..., Any],
    moto_server: LocalService,
) -> None:
    source = tmp_path / "ranges.json"
    source.write_text(json.dumps({"prefixes": [{"ip_prefix": "52.94.0.0/22", "region": "x"}]}))
    driver = loaded(
        cloudfront(s3_driver, ipfilteredby="aws", iprangesurl=str(source), updatefrequency="200ms")
    )
    ranges = driver.ip_ranges
    assert is_s3(driver.redirect_url(BLOB, client_ip=US_EAST_V4), moto_server)
    assert is_cloudfront(driver.redirect_url(BLOB, client_ip=EU_WEST_V4))

    # The document changes: a later scheduled fetch picks it up.
    source.write_text(json.dumps(IP_RANGES))
    loaded(driver, ranges.updates + 2)
    assert is_s3(driver.redirect_url(BLOB, client_ip=EU_WEST_V4), moto_server)

    # A failed fetch keeps the last good ranges (and is retried).
    failures = ranges.failures
    source.write_text("{ not json")
    deadline = time.monotonic() + 10
    while ranges.failures < failures + 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ranges.failures >= failures + 2
    assert ranges.last_error is not None
    assert is_s3(driver.redirect_url(BLOB, client_ip=EU_WEST_V4), moto_server)

    # Stopping ends the thread.
    ranges.stop()
    assert ranges._thread is not None
    ranges._thread.join(timeout=5)
    assert not ranges._thread.is_alive()


def test_schedule_is_respected(tmp_path: Path, ip_ranges_file: Path) -> None:
    # With 12h between fetches, one fetch happens and no other.
    ranges = AWSIPRanges(str(ip_ranges_file), update_frequency=dt.timedelta(hours=12))
    try:
        assert ranges.wait_for(updates=1, timeout=10)
        time.sleep(0.5)
        assert ranges.updates == 1
    finally:
        ranges.stop()


def test_first_fetch_failing_means_no_client_in_aws(
    tmp_path: Path, s3_driver: StorageDriver, cloudfront: Callable[..., Any]
) -> None:
    missing = tmp_path / "missing.json"
    driver = cloudfront(
        s3_driver, ipfilteredby="aws", iprangesurl=str(missing), updatefrequency="100ms"
    )
    ranges = driver.ip_ranges
    deadline = time.monotonic() + 10
    while ranges.failures < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ranges.failures >= 1
    assert "missing.json" in (ranges.last_error or "")
    assert is_cloudfront(driver.redirect_url(BLOB, client_ip=US_EAST_V4))
    # The file appears: the retry loads it.
    missing.write_text(json.dumps(IP_RANGES))
    assert ranges.wait_for(updates=1, timeout=10)
    assert not is_cloudfront(driver.redirect_url(BLOB, client_ip=US_EAST_V4))


def test_parse_skips_bad_prefixes_and_merges() -> None:
    ranges = parse_ip_ranges(IP_RANGES)
    assert ranges.prefixes == 6  # "not-a-prefix" skipped
    assert len(ranges.ipv4) == 3  # the duplicate 52.94.0.0/22 merged
    with pytest.raises(ValueError, match="not an AWS ip-ranges document"):
        parse_ip_ranges({"something": "else"})
    only_east = parse_ip_ranges(IP_RANGES, ["US-EAST-1"])
    assert only_east.prefixes == 4


def test_network_set_bounds() -> None:

    networks = NetworkSet(
        [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("10.0.1.0/24")]
    )
    assert len(networks) == 1  # adjacent ranges merged
    for inside in ("10.0.0.0", "10.0.1.255", "10.0.0.128"):
        assert ipaddress.ip_address(inside) in networks
    for outside in ("9.255.255.255", "10.0.2.0"):
        assert ipaddress.ip_address(outside) not in networks
    assert "10.0.0.1" not in networks  # only address objects
