"""Classifying the Azure SDK's errors."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

__all__ = ["error_code", "is_not_found", "is_precondition_failed", "status_of"]


def status_of(err: BaseException) -> int:
    """The HTTP status of an SDK error, or 0."""
    if isinstance(err, HttpResponseError):
        return int(err.status_code or 0)
    return 0


def error_code(err: BaseException) -> str:
    """The Azure Storage error code ("BlobNotFound", "InvalidBlockList", ...), or ""."""
    if isinstance(err, HttpResponseError):
        code = getattr(err, "error_code", None) or ""
        # The SDK gives a StorageErrorCode (a str enum): its value, not its name.
        return str(getattr(code, "value", code))
    return ""


def is_not_found(err: BaseException) -> bool:
    """A missing blob or container (404)."""
    return isinstance(err, ResourceNotFoundError) or status_of(err) == 404


def is_precondition_failed(err: BaseException) -> bool:
    """An If-Match / If-None-Match that did not hold (412), or a 409 the
    service gives some conditional writes."""
    return status_of(err) == 412 or error_code(err) == "ConditionNotMet"
