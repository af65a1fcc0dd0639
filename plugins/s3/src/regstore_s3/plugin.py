"""The entry point: declares the `s3` driver and its parameters without
importing boto3 (the factory imports `regstore_s3.driver` only on create).

The parameters are distribution's s3 driver's, with its defaults and limits,
plus the knobs boto3 has and distribution lacks: parallel part uploads,
botocore's retry mode and attempts, timeouts and the redirect expiry.
"""

from __future__ import annotations

from regstore import API_VERSION, Capabilities, DriverSpec, Parameter

__all__ = ["MAX_CHUNK_SIZE", "MIN_CHUNK_SIZE", "PARAMETERS", "SPEC"]

MIB = 1024 * 1024
#: S3's smallest non-final part and largest part (and largest CopyObject).
MIN_CHUNK_SIZE = 5 * MIB
MAX_CHUNK_SIZE = 5 * 1024 * MIB

STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "OUTPOSTS",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
    "NONE",
)
OBJECT_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
    "none",
)
LOG_LEVELS = (
    "off",
    "debug",
    "debugwithsigning",
    "debugwithhttpbody",
    "debugwithrequestretries",
    "debugwithrequesterrors",
    "debugwitheventstreambody",
)

PARAMETERS: tuple[Parameter, ...] = (
    Parameter("bucket", required=True, help="the bucket holding the registry"),
    Parameter(
        "accesskey",
        secret=True,
        help="access key id; with secretkey unset, boto3's default credential chain is used",
    ),
    Parameter("secretkey", secret=True, help="secret access key"),
    Parameter("sessiontoken", secret=True, help="session token of temporary credentials"),
    Parameter(
        "region",
        help="the bucket's region; unset: boto3's configuration (AWS_REGION...), else us-east-1",
    ),
    Parameter(
        "regionendpoint",
        help="endpoint of an S3-compatible store (http://host:port or host:port)",
    ),
    Parameter(
        "redirectendpoint",
        help="endpoint that redirect URLs are signed for (a CDN or public name of the store)",
    ),
    Parameter("forcepathstyle", "bool", default=False, help="path-style addressing"),
    Parameter("encrypt", "bool", default=False, help="server-side encryption of new objects"),
    Parameter("keyid", help="KMS key id for server-side encryption (implies aws:kms)"),
    Parameter("secure", "bool", default=True, help="https to the endpoint"),
    Parameter("skipverify", "bool", default=False, help="do not verify TLS certificates"),
    Parameter("v4auth", "bool", default=True, help="signature v4 (false: legacy v2)"),
    Parameter(
        "chunksize",
        "size",
        default=10 * MIB,
        minimum=MIN_CHUNK_SIZE,
        maximum=MAX_CHUNK_SIZE,
        help="size of every multipart upload part but the last",
    ),
    Parameter(
        "multipartcopychunksize",
        "size",
        default=32 * MIB,
        minimum=MIN_CHUNK_SIZE,
        maximum=MAX_CHUNK_SIZE,
        help="part size of a multipart copy (move of a large object)",
    ),
    Parameter(
        "multipartcopymaxconcurrency",
        "int",
        default=100,
        minimum=1,
        # S3 throttles a prefix at a few thousand writes a second; more
        # copies in flight for one move only buy SlowDown replies.
        maximum=1000,
        help="parallel part copies of one multipart copy",
    ),
    Parameter(
        "multipartcopythresholdsize",
        "size",
        default=32 * MIB,
        minimum=0,
        maximum=MAX_CHUNK_SIZE,
        help="objects above this size are moved by multipart copy",
    ),
    Parameter("rootdirectory", default="", help="key prefix of everything the driver stores"),
    Parameter(
        "storageclass",
        "choice",
        default="STANDARD",
        choices=STORAGE_CLASSES,
        help="storage class of new objects (NONE: send none, for stores that reject it)",
    ),
    Parameter("useragent", help="appended to boto3's User-Agent"),
    Parameter("usedualstack", "bool", default=False, help="dual-stack (IPv6) endpoints"),
    Parameter("accelerate", "bool", default=False, help="S3 Transfer Acceleration endpoint"),
    Parameter("usefipsendpoint", "bool", default=False, help="FIPS endpoints"),
    Parameter(
        "objectacl",
        "choice",
        default="private",
        choices=OBJECT_ACLS,
        help="canned ACL of new objects (none: send none, for stores without ACLs)",
    ),
    Parameter(
        "loglevel",
        "choice",
        default="off",
        choices=LOG_LEVELS,
        help="log every request to the 'regstore_s3' logger (never headers or credentials)",
    ),
    # -- beyond distribution -------------------------------------------------
    Parameter(
        "uploadconcurrency",
        "int",
        default=4,
        minimum=1,
        # Each part in flight holds a chunk in memory: 64 x 10 MiB per
        # writer is already more than a registry process should spend.
        maximum=64,
        help="parts of one upload sent in parallel; memory per writer is "
        "chunksize x (uploadconcurrency + 1)",
    ),
    Parameter(
        "checksums",
        "choice",
        default="when_required",
        choices=("when_required", "when_supported"),
        help=(
            "botocore's request_checksum_calculation and response_checksum_validation: "
            "when_supported adds CRC32 integrity checksums to every upload and download "
            "(AWS S3 and recent MinIO accept them); when_required, the default, sends them "
            "only where the API demands, since R2, Alibaba OSS and older Ceph/MinIO "
            "reject botocore's checksum trailers"
        ),
    ),
    Parameter(
        "retrymode",
        "choice",
        default="standard",
        choices=("standard", "adaptive", "legacy"),
        help="botocore's retry mode",
    ),
    Parameter(
        "maxattempts",
        "int",
        default=5,
        minimum=1,
        # With backoff capped at 20 s, 50 attempts already wait ~15 minutes.
        maximum=50,
        help="botocore's total attempts per request, first included",
    ),
    Parameter(
        "connecttimeout",
        "float",
        default=10.0,
        minimum=0.1,
        # Ten minutes to open one TCP+TLS connection is already a dead
        # endpoint; beyond the platform's time_t a socket timeout overflows.
        maximum=600,
        help="seconds to connect",
    ),
    Parameter(
        "readtimeout",
        "float",
        default=60.0,
        minimum=0.1,
        # An hour without a byte is a hung connection, not a slow store.
        maximum=3600,
        help="seconds without a byte from the store before a request is retried",
    ),
    Parameter(
        "maxpoolconnections",
        "int",
        minimum=1,
        # urllib3 fills each pool's queue with one slot per connection up
        # front, and every connection is a file descriptor: the largest
        # concurrency settings need 64 x 4 + 1000; 4096 leaves room.
        maximum=4096,
        help="HTTP connections kept per driver (default: enough for the concurrency settings)",
    ),
    Parameter(
        "redirectexpiry",
        "int",
        default=1200,
        minimum=1,
        # SigV4 presigned URLs are valid for at most 7 days.
        maximum=7 * 24 * 3600,
        help="seconds a redirect URL stays valid",
    ),
)

SPEC = DriverSpec(
    name="s3",
    factory="regstore_s3.driver:S3Driver.from_parameters",
    parameters=PARAMETERS,
    api_version=API_VERSION,
    # Stated here so `regstore drivers` can list them without importing boto3.
    capabilities=Capabilities(redirect=True, persistent=True, walk_order="key"),
    # The suite's failure cases put the fault proxy in front of the store,
    # with botocore's retries off so each injected fault reaches the driver.
    endpoint_parameter="regionendpoint",
    fault_parameters=(("maxattempts", 1),),
    summary="Amazon S3 and S3-compatible stores (R2, MinIO, Ceph RGW, OSS) via boto3",
)
