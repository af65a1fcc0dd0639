"""`regstore drivers`: what is installed, without importing any driver."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from regstore.cli._common import current_registry
from regstore.cli._group import cli
from regstore.cli.table import format_table
from regstore.driver import Capabilities
from regstore.errors import RegstoreError
from regstore.factory import DriverInfo, DriverRegistry


def _capabilities(registry: DriverRegistry, info: DriverInfo) -> Capabilities:
    """A driver's class-level capabilities, importing only its plugin's
    spec and the module of the class its factory names."""
    spec = registry.spec(info.name)
    if spec.capabilities is not None:  # stated in the spec: no import at all
        return spec.capabilities
    factory: Any = spec.load_factory()
    cls = factory if isinstance(factory, type) else getattr(factory, "__self__", None)
    if not isinstance(cls, type):
        raise RegstoreError(
            f"cannot tell the capabilities of {info.name!r}: its factory is neither a class "
            "nor a classmethod"
        )
    caps = getattr(cls, "capabilities", None)
    if not isinstance(caps, Capabilities):
        raise RegstoreError(f"{cls.__name__}.capabilities is not a regstore.Capabilities")
    return caps


def _describe_capabilities(caps: Capabilities) -> str:
    words = [flag for flag in ("redirect", "persistent") if getattr(caps, flag)]
    return ", ".join([*words, f"walk={caps.walk_order}"])


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def drivers(ctx: click.Context, as_json: bool) -> None:
    """List the installed and registered storage drivers.

    Shows each driver's distribution, version and capabilities. Listing
    imports each plugin's entry module and driver class, never a driver's
    SDK client; a driver that fails to load shows its error in its row.
    """
    registry = current_registry()
    try:
        infos = registry.drivers()
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    rows: list[dict[str, Any]] = []
    for info in infos:
        row: dict[str, Any] = {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "target": info.target,
            "capabilities": None,
            "error": None,
        }
        try:
            row["capabilities"] = asdict(_capabilities(registry, info))
        except Exception as err:  # noqa: BLE001  (one broken plugin must not hide the rest)
            row["error"] = f"{type(err).__name__}: {err}"
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no storage drivers installed (try: pip install regstore-filesystem)")
        return
    table = [
        [
            r["name"],
            r["distribution"],
            r["version"] or "-",
            _describe_capabilities(Capabilities(**r["capabilities"]))
            if r["capabilities"] is not None
            else f"error: {r['error']}",
        ]
        for r in rows
    ]
    click.echo(format_table(["NAME", "DISTRIBUTION", "VERSION", "CAPABILITIES"], table))
