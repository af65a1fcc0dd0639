"""`regstore drivers`: what is installed, without importing any driver."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from regstore.cli._common import EXIT_CONFIG, current_registry
from regstore.cli._group import cli
from regstore.cli.table import format_table
from regstore.driver import Capabilities
from regstore.errors import RegstoreError
from regstore.factory import DriverInfo, DriverRegistry
from regstore.params import REDACTED, Parameter


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


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _default_text(param: Parameter) -> str:
    if param.default is None:
        return "(required)" if param.required else "-"
    return REDACTED if param.secret else str(param.default)


def _limits_text(param: Parameter) -> str:
    if param.kind == "choice":
        text = " | ".join(param.choices)
        return text if len(text) <= 48 else text[:45] + "..."  # --json has them all
    if param.kind == "mapping" and param.fields:
        return "keys: " + ", ".join(f.name for f in param.fields)
    low = "" if param.minimum is None else _number(param.minimum)
    high = "" if param.maximum is None else _number(param.maximum)
    return f"{low}..{high}" if (low or high) else "-"


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def params(ctx: click.Context, name: str, as_json: bool) -> None:
    """List driver NAME's parameters: kind, default, limits, and which are
    secret (read from its spec; no driver is created)."""
    try:
        declared = current_registry().spec(name).parameters
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(EXIT_CONFIG)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": p.name,
                        "kind": p.kind,
                        "default": None if p.secret else p.default,
                        "required": p.required,
                        "secret": p.secret,
                        "minimum": p.minimum,
                        "maximum": p.maximum,
                        "choices": list(p.choices),
                        "fields": [f.name for f in p.fields],
                        "aliases": list(p.aliases),
                        "help": p.help,
                    }
                    for p in declared
                ],
                indent=2,
            )
        )
        return
    rows = [
        [
            p.name + (" (" + ", ".join(p.aliases) + ")" if p.aliases else ""),
            p.kind,
            _default_text(p),
            _limits_text(p),
            "yes" if p.secret else "",
            p.help,
        ]
        for p in declared
    ]
    click.echo(format_table(["PARAMETER", "KIND", "DEFAULT", "ALLOWED", "SECRET", "HELP"], rows))
