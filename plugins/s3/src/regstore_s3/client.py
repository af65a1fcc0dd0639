"""Turn the driver's parameters into boto3 clients and per-object arguments.

Every distribution parameter maps onto boto3's or botocore's own
configuration (`botocore.config.Config`, `Session`, `client()` arguments);
nothing of the SDK is re-implemented here. This module imports boto3, so
only `regstore_s3.driver` imports it.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ConnectionClosedError, InvalidRegionError
from urllib3.exceptions import ProtocolError

from regstore import InvalidParameterError
from regstore.paths import is_valid_path

__all__ = ["Settings", "check_parameters", "make_clients"]

T = TypeVar("T")
DRIVER = "s3"
#: botocore's own rule for bucket names (S3-compatible stores allow more
#: than AWS's 3-63 lowercase characters).
_BUCKET = re.compile(r"[A-Za-z0-9.\-_]{1,255}")
#: A header value: printable ASCII, no CR/LF (which would split the header).
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")

logger = logging.getLogger("regstore_s3")
_DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Settings:
    """The coerced parameters the driver itself needs (not the SDK's)."""

    bucket: str
    root: str  # rootdirectory without surrounding slashes
    chunk_size: int
    copy_chunk_size: int
    copy_concurrency: int
    copy_threshold: int
    upload_concurrency: int
    redirect_expiry: int
    #: "CRC32" with `checksums=when_supported`: multipart uploads then carry
    #: a checksum per part and a composite one (as boto3's TransferManager
    #: sends them), which the store verifies; None otherwise.
    checksum_algorithm: str | None
    #: Extra arguments of every request that creates an object (PutObject,
    #: CreateMultipartUpload, CopyObject): storage class, ACL, encryption.
    put_args: dict[str, str]

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Settings:
        """The driver's settings from the factory's coerced parameters."""
        # As distribution stores them (boto3 would say binary/octet-stream,
        # which clients redirected to S3 then see).
        put_args: dict[str, str] = {"ContentType": "application/octet-stream"}
        if params["storageclass"] != "NONE":
            put_args["StorageClass"] = params["storageclass"]
        if params["objectacl"] != "none":
            put_args["ACL"] = params["objectacl"]
        if params["encrypt"] or params["keyid"]:
            # distribution: encrypt=true alone is SSE-S3; a keyid makes it SSE-KMS.
            if params["keyid"]:
                put_args["ServerSideEncryption"] = "aws:kms"
                put_args["SSEKMSKeyId"] = params["keyid"]
            else:
                put_args["ServerSideEncryption"] = "AES256"
        return cls(
            bucket=params["bucket"],
            root=(params["rootdirectory"] or "").strip("/"),
            chunk_size=params["chunksize"],
            copy_chunk_size=params["multipartcopychunksize"],
            copy_concurrency=params["multipartcopymaxconcurrency"],
            copy_threshold=params["multipartcopythresholdsize"],
            upload_concurrency=params["uploadconcurrency"],
            redirect_expiry=params["redirectexpiry"],
            checksum_algorithm="CRC32" if params["checksums"] == "when_supported" else None,
            put_args=put_args,
        )


def _shown(value: object) -> str:
    """A non-secret value for a one-line message: repr (escapes newlines),
    cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _invalid(key: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(DRIVER, key, message)


def check_parameters(params: dict[str, Any]) -> None:
    """Refuse, naming the parameter, the values boto3 would accept now and
    choke on later (or raise its own errors for, outside regstore's
    hierarchy). Secret values are never shown."""
    bucket = params["bucket"]
    if not _BUCKET.fullmatch(bucket):
        raise _invalid(
            "bucket", f"{_shown(bucket)} is no bucket name (1-255 of letters, digits, '.-_')"
        )
    root = (params["rootdirectory"] or "").strip("/")
    if root and not is_valid_path("/" + root):
        raise _invalid(
            "rootdirectory",
            f"{_shown(params['rootdirectory'])} is no key prefix: components of letters, "
            "digits and '._-', none empty, '.' or '..'",
        )
    for key in ("regionendpoint", "redirectendpoint"):
        if params[key]:
            _check_endpoint(key, params[key], params["secure"])
    access, secret, token = params["accesskey"], params["secretkey"], params["sessiontoken"]
    if secret and not access:
        raise _invalid("accesskey", "is empty or unset while secretkey is set; set both or neither")
    if access and not secret:
        raise _invalid("secretkey", "is empty or unset while accesskey is set; set both or neither")
    if token and not (access and secret):
        raise _invalid("sessiontoken", "needs accesskey and secretkey")
    for key in ("accesskey", "secretkey", "sessiontoken"):
        if params[key] and not _HEADER_VALUE.fullmatch(params[key]):
            raise _invalid(key, "holds characters other than printable ASCII")
    agent = params["useragent"]
    if agent and not _HEADER_VALUE.fullmatch(agent):
        raise _invalid("useragent", f"{_shown(agent)} holds characters other than printable ASCII")


def _check_endpoint(key: str, endpoint: str, secure: bool) -> None:
    url = _endpoint_url(endpoint, secure) or ""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises for a port out of range or not a number
    except ValueError as err:
        raise _invalid(key, f"{_shown(endpoint)} is no URL: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(
            key, f"{_shown(endpoint)} is no http(s) URL with a host (http://host:port or host:port)"
        )
    del port


def _sdk_call(key: str, make: Callable[[], T]) -> T:
    """Run a boto3 constructor, its errors about a value as ours naming
    `key` (the checks above catch what they can first)."""
    try:
        return make()
    except InvalidRegionError as err:
        raise _invalid(
            "region",
            f"{_shown(getattr(err, 'kwargs', {}).get('region_name', ''))} is no "
            "region name (letters, digits and '-', like eu-west-1)",
        ) from None
    except (ValueError, TypeError, BotoCoreError) as err:
        raise _invalid(key, f"boto3 refused it: {type(err).__name__}") from None


def _endpoint_url(endpoint: str | None, secure: bool) -> str | None:
    """distribution accepts `host:port` as well as a URL; `secure` picks the
    scheme when none is given."""
    if not endpoint:
        return None
    if "://" in endpoint:
        return endpoint
    return ("https://" if secure else "http://") + endpoint


def make_config(params: dict[str, Any], region: str) -> Config:
    """botocore's Config for the parameters."""
    pool = params["maxpoolconnections"] or max(
        10, params["uploadconcurrency"] * 4, min(params["multipartcopymaxconcurrency"], 64)
    )
    return Config(
        region_name=region,
        signature_version="s3v4" if params["v4auth"] else "s3",
        s3={"addressing_style": "path" if params["forcepathstyle"] else "auto"},
        use_dualstack_endpoint=params["usedualstack"],
        use_fips_endpoint=params["usefipsendpoint"],
        retries={"mode": params["retrymode"], "total_max_attempts": params["maxattempts"]},
        user_agent_extra=params["useragent"] or None,
        max_pool_connections=pool,
        connect_timeout=params["connecttimeout"],
        read_timeout=params["readtimeout"],
        # S3-compatible stores (R2, OSS, older MinIO and Ceph) reject the CRC
        # trailers botocore sends by default since 1.36, so by default
        # checksums are sent where the API requires them (DeleteObjects);
        # `checksums=when_supported` restores botocore's default.
        request_checksum_calculation=params["checksums"],
        response_checksum_validation=params["checksums"],
    )


_loader_lock = threading.Lock()
_shared_loader: Any = None


def _core_session() -> botocore.session.Session:
    """A new botocore session (credentials are per session) sharing one data
    loader: each session would otherwise parse the S3 service model again,
    ~100 ms and ~12 MiB per driver instance."""
    global _shared_loader
    core = botocore.session.get_session()
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _shared_loader)
    return core


def make_clients(params: dict[str, Any]) -> tuple[Any, Any]:
    """The client for requests and the one that signs redirect URLs (the
    same client unless `redirectendpoint` is set)."""
    check_parameters(params)
    session = _sdk_call(
        "region",
        lambda: boto3.session.Session(
            botocore_session=_core_session(),
            aws_access_key_id=params["accesskey"] or None,
            aws_secret_access_key=params["secretkey"] or None,
            aws_session_token=params["sessiontoken"] or None,
            region_name=params["region"] or None,
        ),
    )
    region = params["region"] or session.region_name or _DEFAULT_REGION
    config = make_config(params, region)
    if params["accelerate"]:
        config = config.merge(Config(s3={"use_accelerate_endpoint": True}))
    secure = params["secure"]
    common: dict[str, Any] = {
        "config": config,
        "verify": not params["skipverify"],
        "use_ssl": secure,
    }
    client = _sdk_call(
        "regionendpoint",
        lambda: session.client(
            "s3", endpoint_url=_endpoint_url(params["regionendpoint"], secure), **common
        ),
    )
    signer = client
    if params["redirectendpoint"]:
        signer = _sdk_call(
            "redirectendpoint",
            lambda: session.client(
                "s3", endpoint_url=_endpoint_url(params["redirectendpoint"], secure), **common
            ),
        )
    read_bodies_inside_retries(client)
    if params["loglevel"] != "off":
        _log_requests(client, params["loglevel"])
    return client, signer


def read_bodies_inside_retries(client: Any) -> None:
    """Make a connection that breaks while a response body is read a retried
    failure, as one that breaks before the response is.

    botocore reads a non-streaming body (listings, errors, Complete's XML)
    after its retry loop has judged the attempt: a reset there escapes as a
    raw urllib3 error. Sending from `before-send` (which botocore lets a
    handler do) and reading the body right away puts the read inside the
    loop, so botocore's own retry mode and quota handle it. Streaming bodies
    (a successful GetObject) stay unread: the reader resumes those by range.
    """
    endpoint = client._endpoint

    def send(request: Any, event_name: str, **_: Any) -> Any:
        response = endpoint.http_session.send(request)
        if not event_name.endswith(".GetObject") or response.status_code >= 300:
            try:
                response.content  # noqa: B018  (reads and caches the body)
            except (ProtocolError, OSError) as err:
                raise ConnectionClosedError(endpoint_url=request.url, error=err) from err
        return response

    client.meta.events.register_last("before-send.s3", send)


def _log_requests(client: Any, level: str) -> None:
    """distribution's loglevel, as log lines of our own: operation, method,
    URL without its query (which may hold a presigned credential) and the
    outcome. Headers and bodies never appear, so no credential does."""
    events = client.meta.events

    def before_send(request: Any, **_: Any) -> None:
        logger.debug("s3 request %s %s", request.method, request.url.split("?", 1)[0])

    def after_call(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        retries = parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        if retries or level == "debug" or level.startswith("debugwith"):
            logger.debug("s3 %s -> %s (retries %s)", model.name, http_response.status_code, retries)

    events.register("before-send.s3", before_send)
    events.register("after-call.s3", after_call)
