"""The `regstore` command line: list drivers, check one, benchmark one.

    regstore drivers [--json]
    regstore check NAME [-p key=value ...] [--full] [-k EXPR] [-x]
    regstore bench NAME [-p key=value ...] [--size SIZE] [--quick | --full] [--json]
    regstore purge-uploads NAME [-p key=value ...] [--older-than AGE]

`main(argv)` is the programmatic entry (and the console script's): it
returns the exit status instead of exiting, so tests call it directly.
Parameter values that are secrets are never printed (`regstore.redact`).
"""

from __future__ import annotations

from collections.abc import Sequence

import click

# Each module adds its commands to the group when imported.
from regstore.cli import bench, check, drivers, files, scaffold, transfer, uploads  # noqa: F401
from regstore.cli._group import cli
from regstore.errors import RegstoreError

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script exits
    with it). Usage errors print their message and return 2."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="regstore",
            standalone_mode=False,
        )
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except RegstoreError as err:
        # A user's mistake (a bad parameter, an unreachable store) is one
        # line, never a traceback; the message names the driver and the
        # parameter and holds no secret.
        click.echo(f"error: {err}", err=True)
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
