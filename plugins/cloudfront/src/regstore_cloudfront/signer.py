"""CloudFront signed URLs with a canned policy, on cryptography.

A canned policy is the JSON document
`{"Statement":[{"Resource":URL,"Condition":{"DateLessThan":{"AWS:EpochTime":N}}}]}`
(compact, in this key order); CloudFront checks an RSA signature of it made
with SHA-1 and PKCS#1 v1.5 padding. The signed URL is the URL with
`Expires=N`, `Signature=...` and `Key-Pair-Id=...` appended to its query, the
signature in CloudFront's URL-safe base64 (`+` as `-`, `=` as `_`, `/` as
`~`). botocore's `CloudFrontSigner` builds the same URL (the tests compare).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from regstore.errors import InvalidParameterError

__all__ = ["CloudFrontURLSigner", "canned_policy", "cloudfront_b64", "load_private_key"]

_OWNER = "middleware cloudfront"


def cloudfront_b64(data: bytes) -> str:
    """CloudFront's URL-safe base64."""
    encoded = base64.b64encode(data).decode("ascii")
    return encoded.replace("+", "-").replace("=", "_").replace("/", "~")


def canned_policy(url: str, expires: int) -> str:
    """The canned policy CloudFront rebuilds from a URL and its `Expires`."""
    statement = {"Resource": url, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":"))


def load_private_key(path: str, *, option: str = "privatekey") -> rsa.RSAPrivateKey:
    """The RSA private key in the PEM file at `path` (PKCS#1 `BEGIN RSA
    PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`, unencrypted).

    Every failure is an `InvalidParameterError` naming the option and the
    file; no message, cause or context carries the file's content."""
    problem = _read_key(Path(path).expanduser())
    if isinstance(problem, rsa.RSAPrivateKey):
        return problem
    raise InvalidParameterError(_OWNER, option, f"{path!r}: {problem}")


def _read_key(path: Path) -> rsa.RSAPrivateKey | str:
    """The key, or what is wrong with the file, in words (errors are turned
    into words here so no exception holding the bytes escapes)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return f"cannot read the key file ({err.strerror or type(err).__name__})"
    if b"-----BEGIN" not in data:
        return (
            "is not a PEM file (expected -----BEGIN RSA PRIVATE KEY----- "
            "or -----BEGIN PRIVATE KEY-----)"
        )
    key: object = None
    failure = ""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        failure = "the key is encrypted; CloudFront needs an unencrypted RSA key"
    except (ValueError, UnsupportedAlgorithm):
        failure = "does not hold a valid PEM private key (PKCS#1 or PKCS#8 RSA)"
    finally:
        del data
    if failure:
        return failure
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.lstrip("_").replace("PrivateKey", "") or "non-RSA"
        return f"holds a {kind} key; CloudFront signs with RSA keys only"
    return key


class CloudFrontURLSigner:
    """Signs URLs for one CloudFront key pair."""

    def __init__(self, key_pair_id: str, private_key: rsa.RSAPrivateKey) -> None:
        self.key_pair_id = key_pair_id
        self._key = private_key

    def __repr__(self) -> str:
        return f"<CloudFrontURLSigner key_pair_id={self.key_pair_id!r}>"

    def sign(self, url: str, expires: int) -> str:
        """`url` signed with a canned policy valid until `expires` (Unix
        seconds)."""
        policy = canned_policy(url, expires).encode("utf-8")
        signature = self._key.sign(policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
        separator = "&" if "?" in url else "?"
        return (
            f"{url}{separator}Expires={expires}&Signature={cloudfront_b64(signature)}"
            f"&Key-Pair-Id={self.key_pair_id}"
        )
