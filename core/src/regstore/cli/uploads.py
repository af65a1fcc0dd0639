"""`regstore uploads` and `regstore purge-uploads`: uploads in flight."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence

import click

from regstore.cli._common import (
    EXIT_CONFIG,
    config_option,
    current_registry,
    param_option,
    resolve_target,
)
from regstore.cli._group import cli
from regstore.config import UploadPurging, parse_duration
from regstore.driver import UploadInfo
from regstore.errors import RegstoreError, UnsupportedMethodError

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdwy]?)\s*$")
#: A year is 365 days here: an age, not a calendar date.
_AGE_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31_536_000}


def _parse_age(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dt.timedelta | None:
    """ "90m", "36h", "7d", "2w", "1y" or plain seconds; upstream's Go forms
    ("168h", "1h30m") work too. None when not given."""
    if value is None:
        return None
    match = _AGE.fullmatch(value)
    if not match:
        try:
            return parse_duration(value, what="--older-than")
        except RegstoreError:
            pass
    if not match:
        raise click.BadParameter(
            f"{value!r} is not an age such as 36h, 7d, 2w or 1y", ctx=ctx, param=param
        )
    try:
        return dt.timedelta(seconds=float(match.group(1)) * _AGE_SECONDS[match.group(2)])
    except OverflowError:
        raise click.BadParameter(
            f"{value!r} is longer than any age this tool can compare", ctx=ctx, param=param
        ) from None


@cli.command("purge-uploads")
@click.argument("name", required=False)
@param_option
@config_option
@click.option(
    "--older-than",
    default=None,
    callback=_parse_age,
    help="Discard uploads untouched (opened or closed) for this long: 36h, 7d, 2w, 1y "
    "[default: 7d, or the configuration's storage.maintenance.uploadpurging.age].",
)
@click.option(
    "--include-foreign",
    is_flag=True,
    help="Also discard uploads regstore did not start (another registry's in the same "
    "bucket). Off by default: they may be in flight.",
)
@click.option(
    "--dry-run/--no-dry-run",
    default=None,
    help="List what would be discarded; discard nothing [default: no, or the "
    "configuration's storage.maintenance.uploadpurging.dryrun].",
)
@click.pass_context
def purge_uploads(  # noqa: PLR0917  (click passes options positionally)
    ctx: click.Context,
    name: str | None,
    params: dict[str, str],
    config_file: str | None,
    older_than: dt.timedelta | None,
    include_foreign: bool,
    dry_run: bool | None,
) -> None:
    """Discard abandoned uploads of driver NAME.

    An upload that was closed but never committed or cancelled stays in the
    store, invisible, until someone resumes it; on S3 its parts are billed.
    Run this periodically with an age longer than any upload may pause.
    Only regstore's own uploads go unless --include-foreign is given.
    """
    registry = current_registry()
    target = resolve_target(ctx, registry, name, params, config_file)
    name = target.name
    purging = target.config.maintenance.uploadpurging if target.config else UploadPurging()
    if older_than is None:
        older_than = purging.age
    if dry_run is None:
        dry_run = purging.dryrun
    try:
        driver = target.create(registry)
        if dry_run:
            now = dt.datetime.now(dt.UTC)
            doomed = [
                upload
                for upload in driver.list_uploads()
                if upload.purgeable(older_than, now=now, include_foreign=include_foreign)
            ]
            _print_uploads(doomed)
            click.echo(f"{name}: would purge {len(doomed)} upload(s) untouched for {older_than}")
            return
        count = driver.purge_uploads(older_than, include_foreign=include_foreign)
    except UnsupportedMethodError:
        click.echo(f"error: driver {name!r} keeps no uploads that could be abandoned", err=True)
        ctx.exit(EXIT_CONFIG)
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    click.echo(f"{name}: purged {count} upload(s) untouched for {older_than}")


@cli.command("uploads")
@click.argument("name", required=False)
@param_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per upload.")
@click.pass_context
def uploads(
    ctx: click.Context,
    name: str | None,
    params: dict[str, str],
    config_file: str | None,
    as_json: bool,
) -> None:
    """List the uploads in flight in driver NAME's store: regstore's own and,
    where the backend shows them, other clients' (marked foreign)."""
    registry = current_registry()
    target = resolve_target(ctx, registry, name, params, config_file)
    name = target.name
    try:
        found = sorted(
            target.create(registry).list_uploads(), key=lambda u: (u.path or "", u.ident)
        )
    except UnsupportedMethodError:
        click.echo(f"error: driver {name!r} keeps no uploads that could be listed", err=True)
        ctx.exit(EXIT_CONFIG)
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    if as_json:
        for upload in found:
            click.echo(
                json.dumps(
                    {
                        "path": upload.path,
                        "size": upload.size,
                        "modified": upload.modified.isoformat(),
                        "ours": upload.ours,
                        "id": upload.ident,
                    }
                )
            )
        return
    _print_uploads(found)
    click.echo(f"{name}: {len(found)} upload(s) in flight")


def _print_uploads(found: Sequence[UploadInfo]) -> None:
    now = dt.datetime.now(dt.UTC)
    for upload in found:
        size = "?" if upload.size is None else str(upload.size)
        age = now - upload.modified
        owner = "regstore" if upload.ours else "foreign"
        click.echo(
            f"  {upload.path or '(no valid path)'}  size={size}  idle={_short_age(age)}  "
            f"{owner}  id={upload.ident}"
        )


def _short_age(age: dt.timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"
