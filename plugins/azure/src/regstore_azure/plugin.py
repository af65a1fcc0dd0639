"""The entry point: declares the `azure` driver and its parameters without
importing the Azure SDK (the factory imports `regstore_azure.driver` only on
create).

The parameters are distribution's azure driver's, with its names and
defaults (the old `copy_status_poll_*` names accepted as aliases), plus
`chunksize`, `uploadconcurrency` and `redirectexpiry`.
"""

from __future__ import annotations

from regstore import API_VERSION, Capabilities, DriverSpec, Parameter

__all__ = [
    "CREDENTIAL_TYPES",
    "MAX_BLOCKS",
    "MAX_BLOCK_SIZE",
    "MIN_CHUNK_SIZE",
    "PARAMETERS",
    "SPEC",
]

MIB = 1024 * 1024
#: Our floor for a block (Azure takes any size; smaller blocks only cost
#: requests and bring the 50,000-block limit closer).
MIN_CHUNK_SIZE = 1 * MIB
#: Azure's largest block (API 2019-12-12 and later).
MAX_BLOCK_SIZE = 4000 * MIB
#: Azure's limit on the committed blocks of one blob.
MAX_BLOCKS = 50_000
#: Bounds of `retry_delay`, in seconds (a minute between polls is already
#: slow; distribution's default is 100 ms).
MIN_RETRY_DELAY = 0.001
MAX_RETRY_DELAY = 60.0
CREDENTIAL_TYPES = ("shared_key", "client_secret", "default_credentials")

CREDENTIAL_FIELDS: tuple[Parameter, ...] = (
    Parameter(
        "type",
        "choice",
        choices=CREDENTIAL_TYPES,
        help="unset: shared_key when accountkey or connectionstring is given, "
        "else default_credentials",
    ),
    Parameter("clientid", help="client_secret: the application (client) id"),
    Parameter("tenantid", help="client_secret: the directory (tenant) id"),
    Parameter("secret", secret=True, help="client_secret: the client secret"),
)

PARAMETERS: tuple[Parameter, ...] = (
    Parameter("accountname", help="the storage account (may come from connectionstring)"),
    Parameter("accountkey", secret=True, help="the account's shared key (credentials shared_key)"),
    Parameter("container", required=True, help="the container holding the registry"),
    Parameter("realm", default="core.windows.net", help="the cloud's domain"),
    Parameter(
        "serviceurl",
        help="the blob endpoint; default https://{accountname}.blob.{realm} "
        "(Azurite: http://127.0.0.1:10000/devstoreaccount1)",
    ),
    Parameter("rootdirectory", default="", help="blob name prefix of everything the driver stores"),
    Parameter(
        "credentials",
        "mapping",
        fields=CREDENTIAL_FIELDS,
        help="type (shared_key, client_secret, default_credentials), clientid, tenantid, secret",
    ),
    Parameter(
        "connectionstring",
        secret=True,
        help="an Azure Storage connection string (account, key or SAS, endpoint); "
        "distribution parses and ignores it, we use it",
    ),
    Parameter(
        "max_retries",
        "int",
        default=5,
        minimum=0,
        # 1000 polls of a copy at the linear delay below is already hours.
        maximum=1000,
        aliases=("copy_status_poll_max_retry",),
        help="polls of a move's server-side copy before it is aborted and the move "
        "fails (0 means 5, as in distribution)",
    ),
    Parameter(
        "retry_delay",
        default="100ms",
        aliases=("copy_status_poll_delay",),
        help="a duration as distribution writes it (100ms, 1.5s, 2m; a bare number is "
        "seconds), from 1ms to 1m; the n-th copy poll waits n x retry_delay",
    ),
    Parameter("skipverify", "bool", default=False, help="do not verify TLS certificates"),
    # -- beyond distribution -------------------------------------------------
    Parameter(
        "requestretries",
        "int",
        default=3,
        minimum=0,
        # The SDK's exponential backoff (15 s, doubling): 20 retries is days.
        maximum=20,
        help="retries of one request by the SDK's retry policy (its default: 3)",
    ),
    Parameter(
        "requestretrydelay",
        "float",
        default=2.0,
        minimum=0.0,
        # Five minutes before the first retry is already an outage.
        maximum=300,
        help="seconds before the first retry of a request, doubling for each "
        "further one, with jitter (the SDK's own policy starts at 15 s)",
    ),
    Parameter(
        "chunksize",
        "size",
        default=8 * MIB,
        minimum=MIN_CHUNK_SIZE,
        maximum=MAX_BLOCK_SIZE,
        help="block size of uploads; an object may have at most 50,000 blocks",
    ),
    Parameter(
        "uploadconcurrency",
        "int",
        default=4,
        minimum=1,
        # Each block in flight holds a chunk in memory: 64 x 8 MiB per
        # writer is already more than a registry process should spend.
        maximum=64,
        help="blocks of one upload sent in parallel; memory per writer is "
        "chunksize x (uploadconcurrency + 1)",
    ),
    Parameter(
        "redirectexpiry",
        "int",
        default=1200,
        minimum=1,
        # A week: longer-lived read URLs for registry blobs are a leak risk,
        # and a user-delegation key itself lives at most 7 days.
        maximum=7 * 24 * 3600,
        help="seconds a redirect (SAS) URL stays valid",
    ),
)

SPEC = DriverSpec(
    name="azure",
    factory="regstore_azure.driver:AzureDriver.from_parameters",
    parameters=PARAMETERS,
    api_version=API_VERSION,
    # Stated here so `regstore drivers` can list them without importing the SDK.
    capabilities=Capabilities(redirect=True, persistent=True, walk_order="key"),
    # The suite's failure cases put the fault proxy in front of the service,
    # with the SDK's retries off so each injected fault reaches the driver.
    endpoint_parameter="serviceurl",
    fault_parameters=(("requestretries", 0),),
    summary="Azure Blob Storage (and Azurite) as block blobs, via azure-storage-blob",
)
