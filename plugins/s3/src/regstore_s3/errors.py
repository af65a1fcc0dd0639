"""Classifying botocore's errors: which mean "absent", which are transient."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError

__all__ = ["STREAM_ERRORS", "error_code", "is_no_such_upload", "is_not_found"]

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})

#: What a broken download raises mid-body: botocore retries none of these
#: once it has returned the response, so the reader resumes by range itself.
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    ConnectionClosedError,
    EndpointConnectionError,
    Urllib3HTTPError,
    ConnectionError,
    TimeoutError,
    BotoCoreError,
)


def error_code(err: BaseException) -> str:
    """The S3 error code of a ClientError ("NoSuchKey", "404", ...), or ""."""
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(err: BaseException) -> bool:
    """True for a missing key (GetObject's NoSuchKey, HEAD's bare 404)."""
    return error_code(err) in _NOT_FOUND


def is_no_such_upload(err: BaseException) -> bool:
    """True when the multipart upload is gone (completed or aborted)."""
    return error_code(err) == "NoSuchUpload"
