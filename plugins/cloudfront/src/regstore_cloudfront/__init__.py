"""regstore's cloudfront storage middleware: signed Amazon CloudFront URLs
for the blobs of an s3 driver, as distribution's `cloudfront` middleware.

Importing this package (or its `plugin` entry point) imports neither
cryptography nor the s3 driver: listing installed middleware stays cheap.
The middleware lives in `regstore_cloudfront.middleware`, imported only when
a `cloudfront` entry is applied.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
