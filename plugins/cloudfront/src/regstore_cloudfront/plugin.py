"""The entry point: declares the `cloudfront` middleware and its options
without importing cryptography (`regstore_cloudfront.middleware` is imported
only when the middleware is applied).

The options are distribution's, with its defaults; `updatefrenquency` (a typo
upstream shipped and still accepts) is an alias of `updatefrequency`.
"""

from __future__ import annotations

from regstore.middleware import MiddlewareSpec
from regstore.params import Parameter

__all__ = [
    "DEFAULT_DURATION",
    "DEFAULT_IP_RANGES_URL",
    "DEFAULT_UPDATE_FREQUENCY",
    "IP_FILTERS",
    "SPEC",
]

DEFAULT_DURATION = "20m"
DEFAULT_UPDATE_FREQUENCY = "12h"
DEFAULT_IP_RANGES_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
#: The values of `ipfilteredby`.
IP_FILTERS = ("none", "aws", "awsregion")

SPEC = MiddlewareSpec(
    "cloudfront",
    "regstore_cloudfront.middleware:create",
    parameters=(
        Parameter(
            "baseurl",
            required=True,
            help="the CloudFront distribution's URL (https:// is added if no scheme is given)",
        ),
        # The path of the key file is not secret (its content is, and is never
        # shown); core still hides it in printed configurations by its name.
        Parameter(
            "privatekey",
            required=True,
            help="path to the CloudFront key pair's RSA private key (PEM, PKCS#1 or PKCS#8)",
        ),
        Parameter("keypairid", required=True, help="the CloudFront public key / key pair ID"),
        Parameter(
            "duration",
            default=DEFAULT_DURATION,
            help="how long a signed URL is valid (Go duration: 20m, 1h30m)",
        ),
        # Not kind "choice": upstream also takes an empty string for none.
        Parameter(
            "ipfilteredby",
            default="none",
            help="which clients get the s3 URL instead: none, aws (any AWS address) "
            "or awsregion (addresses of the regions in awsregion)",
        ),
        Parameter("awsregion", help="comma-separated AWS regions (for ipfilteredby: awsregion)"),
        Parameter(
            "updatefrequency",
            default=DEFAULT_UPDATE_FREQUENCY,
            aliases=("updatefrenquency",),
            help="how often the AWS IP ranges are fetched again (Go duration: 12h)",
        ),
        Parameter(
            "iprangesurl",
            default=DEFAULT_IP_RANGES_URL,
            help="where the AWS IP ranges document is fetched from (http(s)://, file:// or a path)",
        ),
    ),
    summary="signed CloudFront URLs for the s3 driver's blobs (AWS clients may get s3 URLs)",
)
