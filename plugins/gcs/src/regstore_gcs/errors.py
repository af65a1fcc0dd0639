"""Classifying the library's errors: absent, precondition, transient."""

from __future__ import annotations

from typing import Any

import requests
import urllib3.exceptions
from google.api_core import exceptions as api_exceptions
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse  # type: ignore[import-untyped]

__all__ = [
    "STREAM_ERRORS",
    "api_error",
    "invalid_response",
    "is_not_found",
    "is_precondition_failed",
    "status_of",
]

#: What a broken download raises mid-body, outside the library's retries.
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
    DataCorruption,
    urllib3.exceptions.HTTPError,
)


def invalid_response(err: BaseException) -> InvalidResponse | None:
    """The media layer's InvalidResponse in `err`'s chain (itself, its
    cause or context), if any."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, InvalidResponse):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def status_of(err: BaseException) -> int:
    """The HTTP status an error carries, 0 for none."""
    if isinstance(err, api_exceptions.GoogleAPICallError):
        return int(err.code or 0)
    if isinstance(err, InvalidResponse):
        response: Any = err.response
        return int(getattr(response, "status_code", 0) or 0)
    return 0


def is_not_found(err: BaseException) -> bool:
    """A missing object (or generation)."""
    return isinstance(err, api_exceptions.NotFound) or status_of(err) == 404


def is_precondition_failed(err: BaseException) -> bool:
    """An if_generation_match that did not hold."""
    return isinstance(err, api_exceptions.PreconditionFailed) or status_of(err) == 412


def api_error(response: Any) -> api_exceptions.GoogleAPICallError:
    """The api_core error of a failed response (NotFound, PreconditionFailed,
    ServiceUnavailable, ...), as the library makes them: its retry policy
    knows which to retry."""
    error: api_exceptions.GoogleAPICallError = api_exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
    return error
