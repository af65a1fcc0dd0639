"""regstore's s3 driver: Amazon S3 and every S3-compatible store.

Importing this package (or its `plugin` entry point) imports neither boto3
nor botocore: listing installed drivers must stay cheap. The driver lives in
`regstore_s3.driver`, which the factory imports only when an s3 driver is
created.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
