"""The `regstore` command group; each command module adds its commands."""

from __future__ import annotations

import click

from regstore import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="regstore")
def cli() -> None:
    """regstore: storage drivers for registries and artifact stores.

    List the installed drivers, run the conformance suite against one, or
    benchmark one.
    """
