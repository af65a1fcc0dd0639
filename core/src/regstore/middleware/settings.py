"""The storage settings that are not a driver but change what it does:
`maintenance: readonly` and `redirect: disable` (see `regstore.config`).

Upstream enforces both in the registry's HTTP handlers; a storage layer used
without those handlers must enforce them itself, so they are wrappers here,
applied outside every configured middleware: a read-only store refuses every
write whatever the middleware, and disabled redirects return None even where
a middleware (redirect, cloudfront) would give a URL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import BinaryIO

from regstore.driver import Buffer, FileWriter, StorageDriver
from regstore.errors import StorageDriverError
from regstore.middleware import DriverMiddleware
from regstore.paths import validate_path

__all__ = ["NoRedirectDriver", "ReadOnlyDriver", "ReadOnlyError"]


class ReadOnlyError(StorageDriverError, PermissionError):
    """A write to storage configured read-only."""


class ReadOnlyDriver(DriverMiddleware):
    """Every write raises `ReadOnlyError`; reads pass through."""

    def _refuse(self, operation: str, path: str) -> StorageDriverError:
        return ReadOnlyError(
            f"{operation} {path}: the storage is read-only "
            "(storage: maintenance: readonly: enabled: true)",
            driver_name=self.name,
        )

    def put_content(self, path: str, data: Buffer) -> None:
        raise self._refuse("put_content", validate_path(path, driver_name=self.name))

    def writer(self, path: str, append: bool = False) -> FileWriter:
        raise self._refuse("writer", validate_path(path, driver_name=self.name))

    def move(self, source: str, dest: str) -> None:
        raise self._refuse("move", validate_path(source, driver_name=self.name))

    def delete(self, path: str) -> None:
        raise self._refuse("delete", validate_path(path, driver_name=self.name))

    def purge_uploads(
        self, older_than: dt.timedelta, *, include_foreign: bool = False, dry_run: bool = False
    ) -> int:
        if dry_run:
            return self.inner.purge_uploads(
                older_than, include_foreign=include_foreign, dry_run=True
            )
        raise self._refuse("purge_uploads", "/")

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return self.inner.reader(path, offset)


class NoRedirectDriver(DriverMiddleware):
    """`redirect_url` returns None (`storage: redirect: disable: true`)."""

    def __init__(self, inner: StorageDriver) -> None:
        super().__init__(inner)
        self.capabilities = dataclasses.replace(inner.capabilities, redirect=False)

    def redirect_url(
        self, path: str, method: str = "GET", *, client_ip: str | None = None
    ) -> str | None:
        validate_path(path, driver_name=self.name)
        return None
