"""File commands on any installed driver: ls, stat, cat, put, get, rm, mv,
url, walk, du.

    regstore ls NAME [PATH] [-p key=value ...] [--json] [-l]
    regstore put NAME PATH SRC|-        (`-` is stdin)
    regstore get NAME PATH DEST|-       (`-` is stdout)
    regstore ls --config config.yml [PATH]

The conventions are those of `aws s3`, `gsutil` and `rclone`: `-` for stdin
and stdout, human sizes by default and `--json` for scripts (one JSON
document, or one object per line for listings), `rm` of a directory only
with `-r`, and exit status 1 with one line on stderr for a missing path or
any storage error. With `--config`, NAME may be left out: a store path
always starts with `/`, so a first argument that does not is NAME (and must
then match the configuration's driver).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

import click

from regstore.cli._common import (
    EXIT_CONFIG,
    config_option,
    current_registry,
    param_option,
    resolve_target,
)
from regstore.cli._group import cli
from regstore.cli.table import format_bytes, format_table
from regstore.driver import FileInfo, StorageDriver
from regstore.errors import RegstoreError

__all__ = ["split_name"]

#: Bytes per read and write when streaming between a store and a file.
CHUNK = 8 << 20

F = TypeVar("F", bound=Callable[..., Any])


def split_name(args: tuple[str, ...], *, with_config: bool) -> tuple[str | None, list[str]]:
    """NAME and the rest. Without --config the first argument is NAME; with
    it, only when it does not start with `/` (no store path does)."""
    if not args:
        return None, []
    if not with_config or not args[0].startswith("/"):
        return args[0], list(args[1:])
    return None, list(args)


def _file_command(name: str, help_text: str) -> Callable[[F], F]:
    """A command taking `[NAME] ARGS... [-p ...] [--config FILE]`."""

    def wrap(function: F) -> F:
        command = click.argument("args", nargs=-1, metavar="NAME " + help_text)(function)
        command = param_option(command)
        command = config_option(command)
        return cli.command(name)(command)  # type: ignore[return-value]

    return wrap


def _open(
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    *,
    least: int,
    most: int,
    usage: str,
) -> tuple[StorageDriver, str, list[str]]:
    """The driver and the remaining arguments, checked for their count."""
    name, rest = split_name(args, with_config=config_file is not None)
    if name is None and config_file is None:
        raise click.UsageError(f"usage: regstore {ctx.command.name} {usage}")
    if not least <= len(rest) <= most:
        raise click.UsageError(f"usage: regstore {ctx.command.name} {usage}")
    registry = current_registry()
    target = resolve_target(ctx, registry, name, params, config_file)
    try:
        driver = target.create(registry)
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(EXIT_CONFIG)
    return driver, target.name, rest


@contextlib.contextmanager
def _storage_errors(ctx: click.Context) -> Iterator[None]:
    """A storage error (a missing path above all) is one line and exit 1."""
    try:
        yield
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)


def _size(count: int, raw: bool) -> str:
    return str(count) if raw else format_bytes(count)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _info_json(info: FileInfo) -> dict[str, Any]:
    return {
        "path": info.path,
        "dir": info.is_dir,
        "size": None if info.is_dir else info.size,
        "modified": None if info.is_dir else info.mod_time.isoformat(),
    }


# -- reading ---------------------------------------------------------------------


@_file_command("ls", "[PATH]")
@click.option("-l", "long", is_flag=True, help="Also size and modification time (one stat each).")
@click.option("--bytes", "raw", is_flag=True, help="Sizes in bytes, not human units.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
@click.pass_context
def ls(  # noqa: PLR0917  (click passes options positionally)
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    long: bool,
    raw: bool,
    as_json: bool,
) -> None:
    """List the entries of directory PATH (default /): directories end in /."""
    driver, _, rest = _open(
        ctx, args, params, config_file, least=0, most=1, usage="NAME [PATH] [-p key=value ...]"
    )
    path = rest[0] if rest else "/"
    with _storage_errors(ctx):
        children = driver.list(path)
        infos = [driver.stat(child) for child in children] if (long or as_json) else []
    if as_json:
        for info in infos:
            click.echo(json.dumps(_info_json(info)))
        return
    if not long:
        for child in children:
            click.echo(child)
        return
    rows = [
        [
            "-" if info.is_dir else _size(info.size, raw),
            "-" if info.is_dir else _when(info.mod_time),
            info.path + ("/" if info.is_dir else ""),
        ]
        for info in infos
    ]
    click.echo(format_table(["SIZE", "MODIFIED (UTC)", "PATH"], rows))


@_file_command("stat", "PATH")
@click.option("--json", "as_json", is_flag=True, help="A JSON object.")
@click.pass_context
def stat(
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    as_json: bool,
) -> None:
    """Show whether PATH is a file or a directory, its size and time."""
    driver, _, rest = _open(ctx, args, params, config_file, least=1, most=1, usage="NAME PATH")
    with _storage_errors(ctx):
        info = driver.stat(rest[0])
    if as_json:
        click.echo(json.dumps(_info_json(info)))
    elif info.is_dir:
        click.echo(f"{info.path}: directory")
    else:
        click.echo(
            f"{info.path}: file, {format_bytes(info.size)} ({info.size} bytes), "
            f"modified {_when(info.mod_time)} UTC"
        )


@_file_command("cat", "PATH")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Start at this byte.")
@click.pass_context
def cat(
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    offset: int,
) -> None:
    """Write the content of PATH to stdout, streamed."""
    driver, _, rest = _open(ctx, args, params, config_file, least=1, most=1, usage="NAME PATH")
    out = click.get_binary_stream("stdout")
    with _storage_errors(ctx), driver.reader(rest[0], offset) as reader:
        shutil.copyfileobj(reader, out, CHUNK)
    out.flush()


@_file_command("get", "PATH DEST|-")
@click.pass_context
def get(
    ctx: click.Context, args: tuple[str, ...], params: dict[str, str], config_file: str | None
) -> None:
    """Download PATH to the local file DEST (`-`: stdout). The file appears
    whole or not at all (written beside it, then renamed)."""
    driver, _, rest = _open(
        ctx, args, params, config_file, least=2, most=2, usage="NAME PATH DEST|-"
    )
    path, dest = rest
    if dest == "-":
        out = click.get_binary_stream("stdout")
        with _storage_errors(ctx), driver.reader(path) as reader:
            shutil.copyfileobj(reader, out, CHUNK)
        out.flush()
        return
    if os.path.isdir(dest):
        dest = os.path.join(dest, path.rsplit("/", 1)[-1])
    folder = os.path.dirname(os.path.abspath(dest))
    with _storage_errors(ctx), driver.reader(path) as reader:
        handle, temp = tempfile.mkstemp(prefix=".regstore-get-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(reader, out, CHUNK)
            os.replace(temp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


@_file_command("url", "PATH")
@click.option("--method", type=click.Choice(["GET", "HEAD"]), default="GET", show_default=True)
@click.pass_context
def url(
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    method: str,
) -> None:
    """Print a credential-free URL for PATH (exit 1 where the driver, as
    configured, cannot give one)."""
    driver, name, rest = _open(ctx, args, params, config_file, least=1, most=1, usage="NAME PATH")
    with _storage_errors(ctx):
        driver.stat(rest[0])  # a missing path is an error, not a URL to nothing
        link = driver.redirect_url(rest[0], method)
    if link is None:
        click.echo(f"error: {name}: this driver, as configured, gives no URLs", err=True)
        ctx.exit(1)
    click.echo(link)


@_file_command("walk", "[PATH]")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
@click.pass_context
def walk(
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    as_json: bool,
) -> None:
    """Every file and directory below PATH (default /), in the driver's walk
    order; directories end in /."""
    driver, _, rest = _open(ctx, args, params, config_file, least=0, most=1, usage="NAME [PATH]")
    with _storage_errors(ctx):
        for info in driver.walk(rest[0] if rest else "/"):
            if as_json:
                click.echo(json.dumps(_info_json(info)))
            else:
                click.echo(info.path + ("/" if info.is_dir else ""))


@_file_command("du", "[PATH]")
@click.option("--bytes", "raw", is_flag=True, help="The size in bytes, not human units.")
@click.option("--json", "as_json", is_flag=True, help="A JSON object.")
@click.pass_context
def du(  # noqa: PLR0917  (click passes options positionally)
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    raw: bool,
    as_json: bool,
) -> None:
    """The bytes and files below PATH (default /): one walk, no reads."""
    driver, _, rest = _open(ctx, args, params, config_file, least=0, most=1, usage="NAME [PATH]")
    path = rest[0] if rest else "/"
    files = total = 0
    with _storage_errors(ctx):
        info = driver.stat(path) if path != "/" else None
        if info is not None and not info.is_dir:
            files, total = 1, info.size
        else:
            for entry in driver.walk(path):
                if not entry.is_dir:
                    files += 1
                    total += entry.size
    if as_json:
        click.echo(json.dumps({"path": path, "files": files, "bytes": total}))
    else:
        click.echo(f"{_size(total, raw)}\t{files} files\t{path}")


# -- writing ---------------------------------------------------------------------


@_file_command("put", "PATH SRC|-")
@click.pass_context
def put(
    ctx: click.Context, args: tuple[str, ...], params: dict[str, str], config_file: str | None
) -> None:
    """Upload the local file SRC (`-`: stdin) to PATH, streamed through a
    writer: nothing is visible at PATH before the whole content is there."""
    driver, _, rest = _open(
        ctx, args, params, config_file, least=2, most=2, usage="NAME PATH SRC|-"
    )
    path, src = rest
    source: BinaryIO
    with contextlib.ExitStack() as stack:
        if src == "-":
            source = click.get_binary_stream("stdin")
        else:
            try:
                source = stack.enter_context(open(src, "rb"))
            except OSError as err:
                click.echo(f"error: {src}: {err.strerror}", err=True)
                ctx.exit(1)
        with _storage_errors(ctx):
            writer = driver.writer(path)
            try:
                while chunk := source.read(CHUNK):
                    writer.write(chunk)
                writer.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.cancel()
                raise


@_file_command("rm", "PATH")
@click.option("-r", "--recursive", is_flag=True, help="Remove a directory and all below it.")
@click.pass_context
def rm(
    ctx: click.Context,
    args: tuple[str, ...],
    params: dict[str, str],
    config_file: str | None,
    recursive: bool,
) -> None:
    """Remove the file PATH (a directory only with -r)."""
    driver, _, rest = _open(ctx, args, params, config_file, least=1, most=1, usage="NAME PATH")
    with _storage_errors(ctx):
        info = driver.stat(rest[0])
        if info.is_dir and not recursive:
            click.echo(f"error: {rest[0]} is a directory: give -r to remove it all", err=True)
            ctx.exit(1)
        driver.delete(rest[0])


@_file_command("mv", "SRC DST")
@click.pass_context
def mv(
    ctx: click.Context, args: tuple[str, ...], params: dict[str, str], config_file: str | None
) -> None:
    """Move the file SRC to DST within the store (DST is replaced)."""
    driver, _, rest = _open(ctx, args, params, config_file, least=2, most=2, usage="NAME SRC DST")
    with _storage_errors(ctx):
        driver.move(rest[0], rest[1])
