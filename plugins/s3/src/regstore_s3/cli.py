"""`abort-uploads`: abort multipart uploads abandoned for longer than an age.

S3 bills for the parts of uploads nobody will finish. This click command is
meant to hang under the `regstore` CLI (`regstore s3 abort-uploads`); until
core's CLI mounts plugin commands it also runs as
`python -m regstore_s3.cli -p bucket=... --older-than 7d`.
"""

from __future__ import annotations

import datetime as dt
import re

import click

import regstore

__all__ = ["abort_uploads", "parse_age"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(value: str) -> dt.timedelta:
    """ "90m", "36h", "7d", "2w" or plain seconds."""
    match = _AGE.fullmatch(value)
    if not match:
        raise click.BadParameter(f"{value!r} is not an age such as 36h, 7d or 2w")
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@click.command("abort-uploads")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="an s3 driver parameter (repeatable), as for `regstore check s3`",
)
@click.option(
    "--older-than",
    default="7d",
    show_default=True,
    help="abort uploads untouched for this long (e.g. 36h, 7d)",
)
def abort_uploads(params: tuple[str, ...], older_than: str) -> None:
    """Abort abandoned multipart uploads of an s3 driver's bucket and root."""
    parsed: dict[str, str] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="-p")
        parsed[key.strip()] = value
    age = parse_age(older_than)
    driver = regstore.create("s3", parsed)
    try:
        count = driver.abort_stale_uploads(age)  # type: ignore[attr-defined]
    except Exception as err:
        raise click.ClickException(f"s3: abort-uploads failed: {err}") from err
    click.echo(f"aborted {count} multipart upload(s) untouched for {age}")


if __name__ == "__main__":
    abort_uploads()
