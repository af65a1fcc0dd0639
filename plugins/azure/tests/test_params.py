"""Parameters: distribution's names, credential inference, azure-identity
as an optional extra, connection strings, and errors that name the key and
never a secret."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from regstore_azure.client import IDENTITY_HINT, credential_type

import regstore
from regstore import InvalidParameterError

SECRET = "client-secret-value-1234"


def test_entry_point_names_the_spec_without_importing_the_sdk() -> None:
    infos = {info.name: info for info in regstore.drivers()}
    assert infos["azure"].distribution == "regstore-azure"
    assert infos["azure"].target == "regstore_azure.plugin:SPEC"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"accountkey": "k"}, "shared_key"),
        ({"connectionstring": "AccountName=a;AccountKey=k"}, "shared_key"),
        ({}, "default_credentials"),
        ({"credentials": {}}, "default_credentials"),
        ({"accountkey": "k", "credentials": {"type": "client_secret"}}, "client_secret"),
        ({"credentials": {"type": "default_credentials"}}, "default_credentials"),
    ],
)
def test_credential_type_is_inferred_when_omitted(params: dict[str, Any], expected: str) -> None:
    assert credential_type(params) == expected


@pytest.mark.parametrize("kind", ["client_secret", "default_credentials"])
def test_token_credentials_without_azure_identity_name_the_pip_line(
    kind: str, monkeypatch: pytest.MonkeyPatch, azure_base_params: dict[str, object]
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # import fails, installed or not
    params: dict[str, object] = {
        "accountname": "devstoreaccount1",
        "container": "registry",
        "serviceurl": azure_base_params["serviceurl"],
        "credentials": {"type": kind, "clientid": "c", "tenantid": "t", "secret": SECRET},
    }
    with pytest.raises(InvalidParameterError) as info:
        regstore.create("azure", params)
    assert info.value.key == "credentials.type"
    assert IDENTITY_HINT in str(info.value)
    assert kind in str(info.value)
    assert SECRET not in str(info.value)


def test_inferred_default_credentials_need_azure_identity_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(InvalidParameterError, match="pip install 'regstore-azure\\[identity\\]'"):
        regstore.create("azure", {"accountname": "acct", "container": "registry"})


def test_token_credential_is_built_with_azure_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """With azure-identity importable (a stand-in module here: the real one
    is an optional extra, not installed for the tests), client_secret builds
    ClientSecretCredential from the mapping's fields."""
    import types

    made: list[dict[str, str]] = []

    class ClientSecretCredential:
        def __init__(self, **kwargs: str) -> None:
            made.append(kwargs)

        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise AssertionError("no token is needed to create a driver")

    fake = types.ModuleType("azure.identity")
    fake.ClientSecretCredential = ClientSecretCredential  # type: ignore[attr-defined]
    fake.DefaultAzureCredential = ClientSecretCredential  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.identity", fake)
    driver: Any = regstore.create(
        "azure",
        {
            "accountname": "acct",  # https://acct.blob.core.windows.net: no request is made
            "container": "registry",
            "credentials": {"type": "client_secret", "clientid": "c", "tenantid": "t",
                            "secret": SECRET},
        },
    )  # fmt: skip
    assert made == [{"tenant_id": "t", "client_id": "c", "client_secret": SECRET}]
    assert SECRET not in repr(driver)
    assert driver.capabilities.redirect  # a user-delegation SAS
    # The SDK sends tokens over https only: an http endpoint is refused.
    with pytest.raises(InvalidParameterError, match="must be https") as info:
        regstore.create(
            "azure",
            {"accountname": "acct", "container": "registry", "serviceurl": "http://127.0.0.1:1/a",
             "credentials": {"type": "default_credentials"}},
        )  # fmt: skip
    assert info.value.key == "serviceurl"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"container": "No_Such"}, "container"),
        ({"container": "ab"}, "container"),
        ({"accountkey": None, "credentials": {"type": "shared_key"}}, "accountkey"),
        ({"serviceurl": "ftp://127.0.0.1/x"}, "serviceurl"),
        ({"serviceurl": "http://127.0.0.1:99999/x"}, "serviceurl"),
        ({"rootdirectory": "a/../b"}, "rootdirectory"),
        ({"chunksize": "512KiB"}, "chunksize"),
        ({"chunksize": "5GiB"}, "chunksize"),
        ({"uploadconcurrency": 0}, "uploadconcurrency"),
        ({"redirectexpiry": 8 * 24 * 3600}, "redirectexpiry"),
        ({"retry_delay": "nan"}, "retry_delay"),
        ({"copy_status_poll_delay": "1h"}, "retry_delay"),
        ({"credentials": {"type": "managed"}}, "credentials.type"),
        ({"credentials": {"type": "client_secret", "clientid": "c"}}, "credentials.tenantid"),
        ({"credentials": "not json"}, "credentials"),
        ({"max_retries": 3, "copy_status_poll_max_retry": 3}, "copy_status_poll_max_retry"),
        ({"AccountKey": "x"}, "AccountKey"),
    ],
)
def test_bad_parameters_name_the_key(
    change: dict[str, object], key: str, azure_base_params: dict[str, object]
) -> None:
    params = {**azure_base_params, **change}
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(InvalidParameterError) as info:
        regstore.create("azure", params)
    assert info.value.key == key, str(info.value)
    assert str(info.value).startswith(f"azure: parameter '{key}'")
    assert str(azure_base_params["accountkey"]) not in str(info.value)


def test_connection_string_is_honoured(azurite: Any, container: str, account_key: str) -> None:
    """distribution parses and ignores it; here it names the account, key
    and endpoint, and the key is scrubbed from everything shown."""
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={account_key};"
        f"BlobEndpoint={azurite.service_url};"
    )
    driver = regstore.create(
        "azure", {"connectionstring": conn, "container": container, "rootdirectory": "cs"}
    )
    driver.put_content("/via-connection-string", b"ok")
    assert driver.get_content("/via-connection-string") == b"ok"
    url = driver.redirect_url("/via-connection-string")
    assert url is not None
    assert "sig=" in url
    assert account_key not in repr(driver)
    assert account_key not in url
    driver.delete("/via-connection-string")


def test_credentials_secret_is_scrubbed_from_errors() -> None:
    """A secret inside the credentials mapping is a secret like accountkey:
    an error quoting it shows *** (core scrubs nested secret fields)."""
    import types

    class Exploding:
        def __init__(self, **kwargs: str) -> None:
            raise RuntimeError(f"bad credential {kwargs['client_secret']}")

    fake = types.ModuleType("azure.identity")
    fake.ClientSecretCredential = Exploding  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "azure.identity", fake)
        with pytest.raises(regstore.RegstoreError) as info:
            regstore.create(
                "azure",
                {
                    "accountname": "acct",
                    "container": "registry",
                    "credentials": {"type": "client_secret", "clientid": "c",
                                    "tenantid": "t", "secret": SECRET},
                },
            )  # fmt: skip
    assert "bad credential ***" in str(info.value)
    assert SECRET not in repr(info.value)
