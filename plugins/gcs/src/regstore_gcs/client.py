"""Turn the driver's parameters into a google-cloud-storage client.

Credentials as distribution resolves them: `keyfile`, else `credentials`,
else Application Default Credentials; ours: with an `endpoint` (or the
library's STORAGE_EMULATOR_HOST) and no credentials, anonymous requests and
no ADC lookup. This module imports the Google libraries, so only
`regstore_gcs.driver` imports it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import google.auth
import google_crc32c
import requests
from google.api_core.client_info import ClientInfo
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage  # type: ignore[import-untyped]
from google.cloud.storage.retry import DEFAULT_RETRY  # type: ignore[import-untyped]
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter

from regstore import Buffer, InvalidParameterError
from regstore.paths import is_valid_path
from regstore_gcs.errors import api_error
from regstore_gcs.plugin import CHUNK_ALIGN

__all__ = [
    "Connection",
    "Settings",
    "check_parameters",
    "crc32c_of",
    "make_connection",
    "upload_bytes",
]

DRIVER = "gcs"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
#: GCS's bucket naming rules (3-63 characters, or up to 222 with dots).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
#: The library's environment override for an emulator.
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"

logger = logging.getLogger("regstore_gcs")


@dataclass(frozen=True)
class Settings:
    """The coerced parameters the driver itself needs (not the library's)."""

    bucket: str
    root: str  # rootdirectory without surrounding slashes
    chunk_size: int
    max_concurrency: int
    upload_concurrency: int
    redirect_expiry: int
    timeout: float

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> Settings:
        return cls(
            bucket=params["bucket"],
            root=(params["rootdirectory"] or "").strip("/"),
            chunk_size=params["chunksize"],
            max_concurrency=params["maxconcurrency"],
            upload_concurrency=params["uploadconcurrency"],
            redirect_expiry=params["redirectexpiry"],
            timeout=params["timeout"],
        )


@dataclass
class Connection:
    """The client and what the driver needs besides it."""

    client: storage.Client
    bucket: storage.Bucket
    #: The library's retry policy for calls the driver makes safe to repeat
    #: (a generation precondition, or the same bytes again); None: retries off.
    retry: Retry | None
    #: Credentials that can sign (a service-account key), or None.
    signer: Any
    #: For ADC without a key (GCE, Cloud Run): the service account whose
    #: IAM signBlob signs redirect URLs, with the credentials for its token.
    iam_signer: tuple[str, Credentials] | None
    #: The base URL redirect URLs are made for (the endpoint, or Google's).
    url_base: str | None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _invalid(key: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(DRIVER, key, message)


def check_parameters(params: dict[str, Any]) -> None:
    """Refuse, naming the parameter, values the library would take now and
    fail on later. Secret values are never shown."""
    bucket = params["bucket"]
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise _invalid(
            "bucket",
            f"{_shown(bucket)} is no bucket name (3-222 of lowercase letters, digits, '.-_')",
        )
    root = (params["rootdirectory"] or "").strip("/")
    if root and not is_valid_path("/" + root):
        raise _invalid(
            "rootdirectory",
            f"{_shown(params['rootdirectory'])} is no object-name prefix: components of "
            "letters, digits and '._-', none empty, '.' or '..'",
        )
    if params["chunksize"] % CHUNK_ALIGN:
        raise _invalid(
            "chunksize", f"{params['chunksize']} is not a multiple of 256 KiB ({CHUNK_ALIGN})"
        )
    if params["endpoint"]:
        _check_endpoint("endpoint", params["endpoint"])
    agent = params["useragent"]
    if agent and not _HEADER_VALUE.fullmatch(agent):
        raise _invalid("useragent", f"{_shown(agent)} holds characters other than printable ASCII")


def _check_endpoint(key: str, endpoint: str) -> None:
    try:
        parts = urllib.parse.urlsplit(endpoint)
        port = parts.port  # raises for a port out of range or not a number
    except ValueError as err:
        raise _invalid(key, f"{_shown(endpoint)} is no URL: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(key, f"{_shown(endpoint)} is no http(s) URL with a host")
    del port


def _endpoint(params: dict[str, Any]) -> str | None:
    """`endpoint`, else the library's STORAGE_EMULATOR_HOST (with a scheme)."""
    if params["endpoint"]:
        return str(params["endpoint"]).rstrip("/")
    emulator = os.environ.get(EMULATOR_ENV, "").strip()
    if not emulator:
        return None
    if "://" not in emulator:
        emulator = "http://" + emulator
    _check_endpoint(EMULATOR_ENV, emulator)
    return emulator.rstrip("/")


def _credentials(params: dict[str, Any], endpoint: str | None) -> tuple[Credentials, str | None]:
    """The credentials and the project they name."""
    info: dict[str, Any] | None = None
    source = ""
    if params["keyfile"]:
        source = "keyfile"
        try:
            with open(params["keyfile"], encoding="utf-8") as file:
                info = json.load(file)
        except OSError as err:
            raise _invalid(
                "keyfile", f"cannot be read: {err.strerror or type(err).__name__}"
            ) from None
        except ValueError:
            raise _invalid("keyfile", "is no JSON document") from None
        if not isinstance(info, dict):
            raise _invalid("keyfile", "is no JSON object")
    elif params["credentials"]:
        source = "credentials"
        info = dict(params["credentials"])
    if info is not None:
        kind = info.get("type")
        if kind not in ("service_account", "authorized_user"):
            raise _invalid(
                source,
                f"has type {_shown(kind)}; a service_account (or authorized_user) JSON is needed",
            )
        try:
            credentials: Credentials
            if kind == "service_account":
                credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    info, scopes=[SCOPE]
                )
            else:
                credentials = user_credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                    info, scopes=[SCOPE]
                )
        except (auth_exceptions.GoogleAuthError, ValueError, TypeError, KeyError) as err:
            # The library's message may quote the document: name the type only.
            raise _invalid(
                source, f"is no usable credentials JSON ({type(err).__name__})"
            ) from None
        project = info.get("project_id") or info.get("quota_project_id")
        return credentials, str(project) if project else None
    if endpoint is not None:
        return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
    try:
        credentials, project = google.auth.default(scopes=[SCOPE])
    except auth_exceptions.DefaultCredentialsError:
        raise _invalid(
            "keyfile",
            "neither keyfile nor credentials is set and no Application Default "
            "Credentials were found (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server)",
        ) from None
    return credentials, project


def make_connection(params: dict[str, Any]) -> Connection:
    """The client for the parameters, with a connection pool as large as
    the concurrency settings need."""
    check_parameters(params)
    endpoint = _endpoint(params)
    credentials, project = _credentials(params, endpoint)
    anonymous = isinstance(credentials, AnonymousCredentials)
    session: requests.Session = (
        requests.Session() if anonymous else AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    )
    pool = params["maxconcurrency"] + 2 * params["uploadconcurrency"] + 4
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    info = None
    if params["useragent"]:
        info = ClientInfo(user_agent=params["useragent"])  # type: ignore[no-untyped-call]
    options = {"api_endpoint": endpoint} if endpoint else None
    client = storage.Client(
        project=project or "<none>",
        credentials=credentials,
        _http=session,
        client_info=info,
        client_options=options,
    )
    timeout = params["retrytimeout"]
    retry = DEFAULT_RETRY.with_timeout(timeout) if timeout > 0 else None
    signer = (
        credentials
        if hasattr(credentials, "sign_bytes") and hasattr(credentials, "signer_email")
        else None
    )
    iam_signer = None
    email = getattr(credentials, "service_account_email", None)
    if signer is None and not anonymous and isinstance(email, str):
        # ADC on GCE, Cloud Run, GKE: no key here; IAM signBlob signs.
        iam_signer = (email, credentials)
    return Connection(
        client=client,
        bucket=client.bucket(params["bucket"]),
        retry=retry,
        signer=signer,
        iam_signer=iam_signer,
        url_base=endpoint,
    )


#: Bytes per call of the crc32c extension, which takes read-only buffers
#: only: a bytearray part is checksummed through copies of this size.
_CRC_STEP = 1024 * 1024


def crc32c_of(data: Buffer) -> str:
    """GCS's crc32c field of `data`: base64 of the big-endian CRC32C."""
    view = memoryview(data).cast("B")
    value = 0
    for start in range(0, len(view), _CRC_STEP):
        value = google_crc32c.extend(value, bytes(view[start : start + _CRC_STEP]))
    return base64.b64encode(value.to_bytes(4, "big")).decode()


class _MultipartBody:
    """A multipart/related upload body (metadata, then the bytes) that
    streams the caller's buffer instead of copying it into one body, as the
    library's media layer does (it wants `bytes` and concatenates): a part
    costs its own buffer and nothing more while it is sent. Iterable again
    for a retry; its length gives the request a Content-Length."""

    def __init__(self, metadata: dict[str, Any], data: memoryview) -> None:
        self.boundary = "regstore-" + secrets.token_hex(16)
        self._head = (
            f"--{self.boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(metadata)}\r\n--{self.boundary}\r\n"
            "content-type: application/octet-stream\r\n\r\n"
        ).encode()
        self._data = data
        self._end = f"\r\n--{self.boundary}--\r\n".encode()

    def __len__(self) -> int:
        return len(self._head) + len(self._data) + len(self._end)

    def __iter__(self) -> Iterator[bytes | memoryview]:
        yield self._head
        if len(self._data):
            yield self._data
        yield self._end


def upload_bytes(
    blob: storage.Blob,
    data: Buffer,
    *,
    client: storage.Client,
    retry: Retry | None,
    if_generation_match: int | None = None,
    timeout: float = 60.0,
) -> None:
    """One request, whatever the size: a JSON API multipart upload (the
    object's metadata and body together) carrying the body's crc32c, which
    GCS checks against the bytes it received. The library's public
    `upload_from_string` switches to a resumable session (two requests or
    more) above 8 MiB and copies the body twice on the way; this sends the
    same request from the caller's buffer, on the client's own authorized
    session, retried by the library's retry policy. The blob's properties
    are the stored object's afterwards (generation, crc32c, size)."""
    view = memoryview(data).cast("B")
    metadata: dict[str, Any] = {
        "name": blob.name,
        "contentType": "application/octet-stream",
        "crc32c": crc32c_of(view),
    }
    if blob.metadata:
        metadata["metadata"] = dict(blob.metadata)
    connection = client._connection
    query = [("uploadType", "multipart"), ("name", blob.name)]
    if if_generation_match is not None:
        query.append(("ifGenerationMatch", str(if_generation_match)))
    url = (
        f"{connection.API_BASE_URL}/upload/storage/v1/b/"
        f"{urllib.parse.quote(blob.bucket.name, safe='')}/o?{urllib.parse.urlencode(query)}"
    )
    body = _MultipartBody(metadata, view)
    headers = {
        "Content-Type": f'multipart/related; boundary="{body.boundary}"',
        "User-Agent": connection.user_agent,
        **getattr(client, "_extra_headers", {}),
    }
    session: requests.Session = client._http

    def send() -> dict[str, Any]:
        payload: Any = body  # an iterable with a length: streamed, Content-Length set
        response = session.post(url, data=payload, headers=headers, timeout=timeout)
        if response.status_code != 200:
            raise api_error(response)
        resource: dict[str, Any] = response.json()
        return resource

    blob._set_properties(retry(send)() if retry is not None else send())
