"""redirect_url: read-only SAS URLs fetched with plain urllib from Azurite
(which checks SAS signatures and permissions), and the user-delegation
path with a fake service (Azurite has no token credentials over http)."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from azure.storage.blob import UserDelegationKey
from regstore_azure.client import Connection
from regstore_azure.driver import AzureDriver

import regstore


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_sas_url_reads_expires_and_refuses_writes(azure_params: dict[str, object]) -> None:
    driver = regstore.create("azure", dict(azure_params, redirectexpiry=600))
    driver.put_content("/blob", b"served by a SAS")
    url = driver.redirect_url("/blob")
    assert url is not None
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"served by a SAS"
    query = _query(url)
    assert query["sp"] == "r"
    expiry = dt.datetime.fromisoformat(query["se"].replace("Z", "+00:00"))
    left = expiry - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=590) < left <= dt.timedelta(seconds=600)
    head = driver.redirect_url("/blob", method="HEAD")
    assert head is not None
    with urllib.request.urlopen(urllib.request.Request(head, method="HEAD"), timeout=30) as r:
        assert int(r.headers["Content-Length"]) == len(b"served by a SAS")
    put = urllib.request.Request(
        url, data=b"overwritten", method="PUT", headers={"x-ms-blob-type": "BlockBlob"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(put, timeout=30)
    assert info.value.code == 403
    tampered = url.replace("sp=r", "sp=rw")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered, timeout=30)
    assert info.value.code == 403
    assert driver.get_content("/blob") == b"served by a SAS"
    driver.delete("/blob")


def test_no_redirect_without_a_key_or_token(azurite: Any, azure_params: dict[str, object]) -> None:
    """A connection string with a SAS (no account key) cannot sign: None,
    and the capability says so."""
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    sas = generate_account_sas(
        "devstoreaccount1",
        str(azure_params["accountkey"]),
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, write=True, list=True, delete=True, create=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    params = {
        "container": azure_params["container"],
        "rootdirectory": azure_params["rootdirectory"],
        "connectionstring": (f"BlobEndpoint={azurite.service_url};SharedAccessSignature={sas}"),
    }
    driver = regstore.create("azure", dict(params, accountname="devstoreaccount1"))
    driver.put_content("/x", b"via a SAS connection string")
    assert driver.get_content("/x") == b"via a SAS connection string"
    assert driver.capabilities.redirect is False
    assert driver.redirect_url("/x") is None
    assert sas.split("sig=")[1][:10] not in repr(driver)
    driver.delete("/x")


class FakeService:
    """Stands in for BlobServiceClient's get_user_delegation_key (a token
    credential is needed for it, which Azurite over http does not take)."""

    def __init__(self) -> None:
        self.calls: list[tuple[dt.datetime, dt.datetime]] = []

    def get_user_delegation_key(
        self, key_start_time: dt.datetime, key_expiry_time: dt.datetime
    ) -> UserDelegationKey:
        self.calls.append((key_start_time, key_expiry_time))
        key = UserDelegationKey()  # type: ignore[no-untyped-call]
        key.signed_oid = "00000000-0000-0000-0000-000000000001"
        key.signed_tid = "00000000-0000-0000-0000-000000000002"
        key.signed_start = key_start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = key_expiry_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service = "b"
        key.signed_version = "2025-11-05"
        key.value = "ZmFrZS1kZWxlZ2F0aW9uLWtleS12YWx1ZQ=="
        return key


def test_user_delegation_sas_caches_and_renews_the_key(azure_params: dict[str, object]) -> None:
    managed: Any = regstore.create("azure", azure_params)
    real = managed.inner
    service = FakeService()
    connection = Connection(
        service=service,  # type: ignore[arg-type]
        container=real._container,
        account_name="devstoreaccount1",
        account_key=None,
        token_credential=object(),
        credential_type="default_credentials",
    )
    driver = AzureDriver(connection, real.settings)
    assert driver.capabilities.redirect
    first = driver.redirect_url("/blob")
    second = driver.redirect_url("/blob", "HEAD")
    assert first is not None
    assert second is not None
    assert len(service.calls) == 1  # cached
    query = _query(first)
    assert query["sp"] == "r"
    assert query["skoid"] == "00000000-0000-0000-0000-000000000001"
    assert "se" in query
    assert "sig" in query
    start, end = service.calls[0]
    assert end - start >= dt.timedelta(hours=48)
    # Near its end the key is renewed: pretend it expires in 10 minutes.
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    driver._delegation_key.signed_expiry = soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    driver.redirect_url("/blob")
    assert len(service.calls) == 2
