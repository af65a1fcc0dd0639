"""`regstore copy` and `regstore sync`: a thin shell over `regstore.transfer`.

    regstore copy filesystem:/docker s3:/docker --src-param rootdirectory=/srv \\
        --dst-param bucket=registry --jobs 8
    regstore sync --src-config old.yml /docker --dst-config new.yml /docker --delete

Each side is `DRIVER:PATH`, its parameters given with repeatable
`--src-param` / `--dst-param key=value`, or a configuration file with
`--src-config` / `--dst-config` (then the side may be just `PATH`; a DRIVER
given as well must match the file's). On a terminal a progress bar shows
bytes, files, rate and ETA (tqdm); on a pipe there is no bar and no control
character, only the summary at the end. The exit status is 1 when any file
failed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import click
from tqdm import tqdm

from regstore.cli._common import (
    EXIT_CONFIG,
    current_registry,
    parse_params_callback,
    resolve_target,
)
from regstore.cli._group import cli
from regstore.cli.table import format_bytes
from regstore.driver import StorageDriver
from regstore.errors import RegstoreError
from regstore.transfer import TransferEvent, TransferSummary, copy, sync

__all__ = ["split_side"]


def split_side(text: str, *, with_config: bool) -> tuple[str | None, str]:
    """`DRIVER:PATH` into its parts; with a configuration file, `PATH`
    alone (a store path starts with `/`, a driver name never does)."""
    if with_config and text.startswith("/"):
        return None, text
    name, sep, path = text.partition(":")
    if not sep or not name or not path.startswith("/"):
        raise click.BadParameter(
            f"{text!r} is not DRIVER:PATH (e.g. filesystem:/docker)"
            + (" or PATH" if with_config else "")
        )
    return name, path


def _side(
    ctx: click.Context, text: str, params: dict[str, str], config_file: str | None
) -> tuple[StorageDriver, str, str]:
    """The driver, path and a label ("s3:/docker") of one side."""
    name, path = split_side(text, with_config=config_file is not None)
    registry = current_registry()
    target = resolve_target(ctx, registry, name, params, config_file)
    try:
        driver = target.create(registry)
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(EXIT_CONFIG)
    return driver, path, f"{target.name}:{path}"


@dataclass
class _Progress:
    """Turns transfer events into a tqdm bar (on a terminal) and counts."""

    show: bool
    bar: Any = None
    files_total: int = 0
    files_done: int = 0
    planned: list[str] = field(default_factory=list)

    def __call__(self, event: TransferEvent) -> None:
        if event.kind == "scanned":
            self.files_total = event.files
            if self.show:
                self.bar = tqdm(
                    total=event.size,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    dynamic_ncols=True,
                    file=sys.stderr,
                )
                self._label()
        elif event.kind == "planned":
            self.planned.append(
                f"{event.action} {event.path}"
                + (f" -> {event.dest}" if event.action == "copy" else "")
            )
        elif event.kind == "started" and event.offset and self.bar is not None:
            self.bar.update(event.offset)  # resumed: already there
        elif event.kind == "progress" and self.bar is not None:
            self.bar.update(event.nbytes)
        elif event.kind in {"finished", "skipped", "failed"}:
            self.files_done += 1
            self._label()
            if event.kind == "failed" and self.bar is not None:
                self.bar.write(f"failed: {event.path}: {event.reason}", file=sys.stderr)

    def _label(self) -> None:
        if self.bar is not None:
            self.bar.set_description(f"{self.files_done}/{self.files_total} files", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _summary(verb: str, summary: TransferSummary, seconds: float) -> str:
    parts = [
        f"{verb} {summary.files_copied} files ({format_bytes(summary.bytes_copied)})",
        f"skipped {summary.files_skipped} ({format_bytes(summary.bytes_skipped)})",
        f"failed {summary.files_failed}",
    ]
    if summary.files_resumed:
        parts.append(f"resumed {summary.files_resumed}")
    if summary.files_deleted or summary.deletions_skipped:
        parts.append(
            f"deleted {summary.files_deleted}"
            + (" (deletions skipped after failures)" if summary.deletions_skipped else "")
        )
    rate = summary.bytes_written / seconds if seconds > 0 else 0.0
    parts.append(f"in {seconds:.1f}s ({format_bytes(rate)}/s)")
    return ", ".join(parts)


def _transfer_options(function: Any) -> Any:
    for option in reversed(
        [
            click.argument("src"),
            click.argument("dst"),
            click.option(
                "--src-param",
                "src_params",
                multiple=True,
                metavar="KEY=VALUE",
                callback=parse_params_callback,
                help="A parameter of the source driver (repeatable).",
            ),
            click.option(
                "--dst-param",
                "dst_params",
                multiple=True,
                metavar="KEY=VALUE",
                callback=parse_params_callback,
                help="A parameter of the destination driver (repeatable).",
            ),
            click.option(
                "--src-config",
                metavar="FILE",
                type=click.Path(dir_okay=False),
                help="A config.yml for the source (REGISTRY_* variables applied).",
            ),
            click.option(
                "--dst-config",
                metavar="FILE",
                type=click.Path(dir_okay=False),
                help="A config.yml for the destination (REGISTRY_* variables applied).",
            ),
            click.option(
                "--jobs",
                "-j",
                type=click.IntRange(1, 256),
                default=4,
                show_default=True,
                help="Files moved at once.",
            ),
            click.option(
                "--no-verify",
                is_flag=True,
                help="Skip re-reading each written file to compare its sha256.",
            ),
            click.option("--dry-run", is_flag=True, help="List what would be done; write nothing."),
            click.option(
                "--progress/--no-progress",
                default=None,
                help="The progress bar [default: on a terminal only].",
            ),
        ]
    ):
        function = option(function)
    return function


def _run(
    ctx: click.Context,
    verb: str,
    kwargs: dict[str, Any],
    operation: Any,
    extra: dict[str, Any],
) -> None:
    src, src_path, src_label = _side(ctx, kwargs["src"], kwargs["src_params"], kwargs["src_config"])
    dst, dst_path, dst_label = _side(ctx, kwargs["dst"], kwargs["dst_params"], kwargs["dst_config"])
    show = kwargs["progress"]
    if show is None:
        show = sys.stderr.isatty()
    progress = _Progress(show=bool(show) and not kwargs["dry_run"])
    started = time.monotonic()
    try:
        summary = operation(
            src,
            src_path,
            dst,
            dst_path,
            jobs=kwargs["jobs"],
            verify=not kwargs["no_verify"],
            dry_run=kwargs["dry_run"],
            progress=progress,
            **extra,
        )
    except KeyboardInterrupt:
        progress.close()
        click.echo("interrupted: run the same command again to resume", err=True)
        ctx.exit(130)
    except RegstoreError as err:
        progress.close()
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    progress.close()
    if kwargs["dry_run"]:
        for line in progress.planned:
            click.echo(f"would {line}")
        click.echo(f"dry run: {len(progress.planned)} action(s), nothing written")
        return
    for error in summary.errors:
        click.echo(f"failed: {error.path} -> {error.dest}: {error.error}", err=True)
    click.echo(
        f"{src_label} -> {dst_label}: " + _summary(verb, summary, time.monotonic() - started)
    )
    if summary.files_failed:
        ctx.exit(1)


@cli.command("copy")
@_transfer_options
@click.option("--force", is_flag=True, help="Copy files even when the destination is up to date.")
@click.pass_context
def copy_command(ctx: click.Context, /, **kwargs: Any) -> None:
    """Copy SRC's contents into DST (each DRIVER:PATH), between any two
    drivers: parallel, streaming, verified, resumable (run it again after an
    interruption; finished files are skipped, a large file continues)."""
    _run(ctx, "copied", kwargs, copy, {"force": kwargs["force"]})


@cli.command("sync")
@_transfer_options
@click.option("--delete", is_flag=True, help="Remove destination files the source lacks.")
@click.option(
    "--checksum",
    is_flag=True,
    help="Compare content (sha256) of files of equal size, not size and time.",
)
@click.pass_context
def sync_command(ctx: click.Context, /, **kwargs: Any) -> None:
    """Make DST hold what SRC holds (each DRIVER:PATH): files already equal
    are skipped (same size, destination not older; a sync with nothing to
    do reads no contents), --delete removes extras."""
    _run(
        ctx,
        "copied",
        kwargs,
        sync,
        {"delete": kwargs["delete"], "checksum": kwargs["checksum"]},
    )
