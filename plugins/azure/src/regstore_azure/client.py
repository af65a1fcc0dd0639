"""Turn the driver's parameters into azure-storage-blob clients.

Credentials follow distribution's `credentials.type` (inferred when
omitted): `shared_key` (accountkey, or the key of a connection string),
`client_secret` and `default_credentials` (both from azure-identity, an
optional extra). A connection string, which distribution parses and
ignores, is honoured: it may carry the account, its key or a SAS, and the
endpoint. This module imports the SDK, so only `regstore_azure.driver`
imports it.
"""

from __future__ import annotations

import importlib
import math
import random
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from regstore import InvalidParameterError
from regstore.paths import is_valid_path
from regstore_azure.plugin import MAX_RETRY_DELAY, MIN_RETRY_DELAY

__all__ = [
    "GET_CHUNK",
    "IDENTITY_HINT",
    "Connection",
    "Settings",
    "check_parameters",
    "credential_type",
    "make_connection",
    "parse_duration",
    "read_chunk",
]

DRIVER = "azure"
IDENTITY_HINT = "pip install 'regstore-azure[identity]'"
#: Azure's rule for container names (Azurite accepts the same).
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_ACCOUNT = re.compile(r"[a-z0-9]{1,64}")
#: Reads: the first GET of a download and each later ranged GET are the
#: block size, within these bounds (the SDK's own first GET is 32 MiB, held
#: in memory per reader).
GET_CHUNK = 4 * 1024 * 1024
GET_CHUNK_MAX = 8 * 1024 * 1024


def read_chunk(chunk_size: int) -> int:
    """The range size of reads for a block size."""
    return min(max(chunk_size, GET_CHUNK), GET_CHUNK_MAX)


#: The SDK's single-shot upload limit for put_content (its own default).
SINGLE_PUT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """The coerced parameters the driver itself needs (not the SDK's)."""

    container: str
    root: str  # rootdirectory without surrounding slashes
    chunk_size: int
    upload_concurrency: int
    redirect_expiry: int
    copy_polls: int
    copy_delay: float

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Settings:
        """The driver's settings from the factory's coerced parameters."""
        return cls(
            container=params["container"],
            root=(params["rootdirectory"] or "").strip("/"),
            chunk_size=params["chunksize"],
            upload_concurrency=params["uploadconcurrency"],
            redirect_expiry=params["redirectexpiry"],
            # distribution: 0 means the default of 5.
            copy_polls=params["max_retries"] or 5,
            copy_delay=parse_duration(params["retry_delay"]),
        )


@dataclass
class Connection:
    """The clients and what signs redirect URLs."""

    service: BlobServiceClient
    container: ContainerClient
    account_name: str
    #: The shared key (service SAS), or None.
    account_key: str | None
    #: A token credential (user-delegation SAS), or None.
    token_credential: Any
    credential_type: str


_DURATION = re.compile(r"((?:\d+(?:\.\d*)?|\.\d+))(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, key: str = "retry_delay") -> float:
    """Seconds from a duration as distribution's config (Go) writes it:
    "100ms", "1.5s", "1m30s"; a bare number (or a number from YAML) is
    seconds. Refused, naming `key`, outside 1 ms to 1 minute."""
    text = str(value).strip()
    seconds: float | None = None
    try:
        seconds = float(text)
    except ValueError:
        pos, total = 0, 0.0
        for match in _DURATION.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if text and pos == len(text):
            seconds = total
    if seconds is None or not math.isfinite(seconds):
        raise _invalid(key, f"{_shown(value)} is no duration (like 100ms, 1.5s or 2m)")
    if not MIN_RETRY_DELAY <= seconds <= MAX_RETRY_DELAY:
        raise _invalid(key, f"{_shown(value)} is out of range: from 1ms to 1m")
    return seconds


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _invalid(key: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(DRIVER, key, message)


def parse_connection_string(text: str) -> dict[str, str]:
    """`Key=Value;...` into a dict with lowercase keys. Never quotes the
    text in an error (it holds the key)."""
    fields: dict[str, str] = {}
    for item in text.strip().split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _invalid("connectionstring", "is not of the form Key=Value;Key=Value;...")
        fields[key.strip().lower()] = value.strip()
    return fields


def credential_type(params: dict[str, Any]) -> str:
    """`credentials.type`, or the one inferred: shared_key when an account
    key or a connection string is given, default_credentials otherwise."""
    given = (params.get("credentials") or {}).get("type")
    if given:
        return str(given)
    if params.get("accountkey") or params.get("connectionstring"):
        return "shared_key"
    return "default_credentials"


def check_parameters(params: dict[str, Any]) -> None:
    """Refuse, naming the parameter, what the SDK would take now and fail
    on later. Secret values are never shown."""
    parse_duration(params["retry_delay"])
    container = params["container"]
    if not _CONTAINER.fullmatch(container):
        raise _invalid(
            "container",
            f"{_shown(container)} is no container name (3-63 lowercase letters, digits "
            "and single hyphens, starting and ending with a letter or digit)",
        )
    root = (params["rootdirectory"] or "").strip("/")
    if root and not is_valid_path("/" + root):
        raise _invalid(
            "rootdirectory",
            f"{_shown(params['rootdirectory'])} is no blob name prefix: components of "
            "letters, digits and '._-', none empty, '.' or '..'",
        )
    if params["serviceurl"]:
        _check_url(params["serviceurl"])
    account = params["accountname"]
    if account and not _ACCOUNT.fullmatch(account):
        raise _invalid("accountname", f"{_shown(account)} is no account name (lowercase, digits)")
    kind = credential_type(params)
    creds = params.get("credentials") or {}
    if kind == "shared_key":
        if not params["accountkey"] and not params["connectionstring"]:
            raise _invalid(
                "accountkey", "is required for credentials type shared_key (or a connectionstring)"
            )
    elif kind == "client_secret":
        for field in ("clientid", "tenantid", "secret"):
            if not creds.get(field):
                raise _invalid(f"credentials.{field}", "is required for type client_secret")
    if not account and not params["connectionstring"]:
        raise _invalid("accountname", "is required (or a connectionstring naming the account)")


def _check_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise _invalid("serviceurl", f"{_shown(url)} is no URL: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("serviceurl", f"{_shown(url)} is no http(s) URL with a host")
    if parts.query or parts.fragment:
        raise _invalid("serviceurl", "must not carry a query (put a SAS in connectionstring)")
    del port


class _Backoff(ExponentialRetry):
    """The SDK's exponential retry policy with our first delay: `delay`,
    doubling per retry, jittered by half either way."""

    def __init__(self, delay: float, retries: int) -> None:
        super().__init__(initial_backoff=0, retry_total=retries, random_jitter_range=0)
        self._delay = delay

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return float(self._delay * (2 ** settings["count"]) * random.uniform(0.5, 1.5))


def _identity(kind: str) -> Any:
    """azure.identity, or an error naming the pip line."""
    try:
        return importlib.import_module("azure.identity")
    except ImportError:
        raise _invalid(
            "credentials.type",
            f"{kind} needs azure-identity, which is not installed: {IDENTITY_HINT}",
        ) from None


def _token_credential(kind: str, params: dict[str, Any]) -> Any:
    identity = _identity(kind)
    creds = params.get("credentials") or {}
    if kind == "client_secret":
        return identity.ClientSecretCredential(
            tenant_id=creds["tenantid"], client_id=creds["clientid"], client_secret=creds["secret"]
        )
    return identity.DefaultAzureCredential()


def make_connection(params: dict[str, Any]) -> Connection:
    """The clients for the parameters."""
    check_parameters(params)
    kind = credential_type(params)
    conn = parse_connection_string(params["connectionstring"] or "")
    account = params["accountname"] or conn.get("accountname", "")
    if not account:
        raise _invalid("connectionstring", "names no AccountName; give accountname")
    key = params["accountkey"] or conn.get("accountkey") or None
    url = params["serviceurl"] or conn.get("blobendpoint")
    if not url:
        suffix = conn.get("endpointsuffix") or params["realm"]
        scheme = conn.get("defaultendpointsprotocol", "https")
        url = f"{scheme}://{account}.blob.{suffix}"
    _check_url(url)
    sas = conn.get("sharedaccesssignature")
    token = None
    credential: Any
    if kind == "shared_key":
        if key:
            credential = AzureNamedKeyCredential(account, key)
        elif sas:
            credential = None
            url = f"{url.rstrip('/')}?{sas.lstrip('?')}"
        else:
            raise _invalid("accountkey", "is required for credentials type shared_key")
    else:
        token = _token_credential(kind, params)
        if not url.startswith("https://"):  # the SDK sends tokens over https only
            raise _invalid("serviceurl", f"must be https:// for credentials type {kind}")
        credential = token
        key = None
    service = BlobServiceClient(
        account_url=url,
        credential=credential,
        retry_policy=_Backoff(params["requestretrydelay"], params["requestretries"]),
        connection_verify=not params["skipverify"],
        max_single_get_size=read_chunk(params["chunksize"]),
        max_chunk_get_size=read_chunk(params["chunksize"]),
        max_single_put_size=SINGLE_PUT,
    )
    container = service.get_container_client(params["container"])
    return Connection(service, container, account, key, token, kind)
