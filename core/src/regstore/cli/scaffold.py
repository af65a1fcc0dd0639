"""`regstore new-driver`: a new driver package from the template in core."""

from __future__ import annotations

from pathlib import Path

import click

from regstore.cli._common import EXIT_CONFIG
from regstore.cli._group import cli
from regstore.scaffold import ScaffoldError, create, default_folder


@cli.command("new-driver")
@click.argument("name")
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@click.pass_context
def new_driver(ctx: click.Context, *, name: str, folder: Path | None) -> None:
    """Create a new driver package NAME in DIR (default ./regstore-NAME).

    A copy of regstore's driver template, a complete driver over SQLite
    (and an example middleware) renamed for NAME, with its tests, README,
    .gitignore and CI workflow: it passes the conformance suite before you
    change a line. NAME is a lowercase identifier; it becomes the driver
    name, the package regstore_NAME and the distribution regstore-NAME.
    """
    target = folder if folder is not None else Path(default_folder(name))
    try:
        created = create(name, target)
    except ScaffoldError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(EXIT_CONFIG)
    click.echo(f"created {created}")
    click.echo("next:")
    click.echo(f"  cd {created}")
    click.echo('  python -m pip install -e ".[test]"')
    click.echo(f"  python -m pytest && regstore check {name}")
