"""The entry point: declares the `gcs` driver and its parameters without
importing the Google libraries (the factory imports `regstore_gcs.driver`
only on create).

The parameters are distribution's gcs driver's (bucket, keyfile,
credentials, rootdirectory, chunksize, maxconcurrency, useragent), with its
limits, plus what an emulator, a private endpoint and parallel uploads need:
`endpoint`, `uploadconcurrency`, `redirectexpiry`, `retrytimeout`,
`timeout`.
"""

from __future__ import annotations

from regstore import API_VERSION, Capabilities, DriverSpec, Parameter

__all__ = ["CHUNK_ALIGN", "DEFAULT_CHUNK_SIZE", "MAX_CHUNK_SIZE", "PARAMETERS", "SPEC"]

KIB = 1024
MIB = 1024 * KIB
#: GCS wants resumable chunks in multiples of 256 KiB; distribution checks
#: chunksize against it, and so do we (our parts need not be, but a
#: configuration that works upstream must work here and the other way round).
CHUNK_ALIGN = 256 * KIB
#: distribution's code default (its docs say 5 MiB): one part request per
#: 16 MiB, 64 per GiB; see the README for the choice.
DEFAULT_CHUNK_SIZE = 16 * MIB
#: Each part is one request whose body is built in memory (the library
#: copies it into a multipart body), so a part costs about 3x its size
#: while it is sent: 1 GiB parts are already 3 GiB per part in flight.
MAX_CHUNK_SIZE = 1024 * MIB

#: The keys of a service-account (or authorized-user) JSON: `credentials`
#: is checked against them, and the private ones are secrets core scrubs
#: wherever they could show.
_CREDENTIAL_FIELDS: tuple[Parameter, ...] = (
    Parameter("type"),
    Parameter("project_id"),
    Parameter("private_key_id"),
    Parameter("private_key", secret=True),
    Parameter("client_email"),
    Parameter("client_id"),
    Parameter("auth_uri"),
    Parameter("token_uri"),
    Parameter("auth_provider_x509_cert_url"),
    Parameter("client_x509_cert_url"),
    Parameter("universe_domain"),
    Parameter("client_secret", secret=True),
    Parameter("refresh_token", secret=True),
    Parameter("quota_project_id"),
)

PARAMETERS: tuple[Parameter, ...] = (
    Parameter("bucket", required=True, help="the bucket holding the registry"),
    Parameter(
        "keyfile",
        help="path to a service-account JSON key; with neither keyfile nor credentials, "
        "Application Default Credentials (anonymous with an endpoint)",
    ),
    Parameter(
        "credentials",
        "mapping",
        secret=True,
        fields=_CREDENTIAL_FIELDS,
        help="the service-account JSON inline, as a mapping (ignored when keyfile is set)",
    ),
    Parameter("rootdirectory", default="", help="object-name prefix of everything stored"),
    Parameter(
        "chunksize",
        "size",
        default=DEFAULT_CHUNK_SIZE,
        minimum=CHUNK_ALIGN,
        maximum=MAX_CHUNK_SIZE,
        help="size of every upload part but the last; a multiple of 256 KiB",
    ),
    Parameter(
        "maxconcurrency",
        "int",
        default=50,
        # distribution's floor: fewer blocks a registry behind one slow call.
        minimum=25,
        # Each is a thread and a pooled connection (a file descriptor).
        maximum=1000,
        help="parallel requests of one delete, and the connection pool's size",
    ),
    Parameter("useragent", help="the User-Agent of every request (the library's is appended)"),
    # -- beyond distribution -------------------------------------------------
    Parameter(
        "endpoint",
        help="JSON API base URL (an emulator or a private endpoint, http://host:port); "
        "unset: STORAGE_EMULATOR_HOST, else Google. With no credentials given, "
        "requests to an endpoint are anonymous",
    ),
    Parameter(
        "uploadconcurrency",
        "int",
        default=4,
        minimum=1,
        # Each part in flight holds a chunk (and its copy) in memory.
        maximum=64,
        help="parts of one upload sent in parallel; memory per writer is "
        "chunksize x (uploadconcurrency + 1)",
    ),
    Parameter(
        "redirectexpiry",
        "int",
        default=1200,
        minimum=1,
        # V4 signed URLs are valid for at most 7 days.
        maximum=7 * 24 * 3600,
        help="seconds a redirect URL stays valid (20 minutes by default)",
    ),
    Parameter(
        "retrytimeout",
        "float",
        default=120.0,
        minimum=0,
        # An hour of retries is an outage, not a hiccup.
        maximum=3600,
        help="seconds the library's retry policy keeps retrying one call (0: no retries)",
    ),
    Parameter(
        "timeout",
        "float",
        default=60.0,
        minimum=0.1,
        # An hour without a byte is a hung connection, not a slow store.
        maximum=3600,
        help="seconds to connect and between bytes of a response",
    ),
)

SPEC = DriverSpec(
    name="gcs",
    factory="regstore_gcs.driver:GCSDriver.from_parameters",
    parameters=PARAMETERS,
    api_version=API_VERSION,
    # Stated here so `regstore drivers` can list them without importing the
    # library; an instance without a signing key narrows `redirect`.
    capabilities=Capabilities(redirect=True, persistent=True, walk_order="key"),
    # The suite's failure cases put the fault proxy in front of the store,
    # with the library's retries off so each injected fault reaches the driver.
    endpoint_parameter="endpoint",
    fault_parameters=(("retrytimeout", 0),),
    summary="Google Cloud Storage (and fake-gcs-server) via google-cloud-storage",
)
