"""`regstore bench`: distribution's benchmark cases against a driver."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from regstore.cli._common import (
    EXIT_CONFIG,
    config_option,
    current_registry,
    param_option,
    require_testing,
    resolve_target,
    secret_values_of,
    shown_params,
)
from regstore.cli._group import cli
from regstore.cli.table import format_bytes, format_table
from regstore.errors import RegstoreError

if TYPE_CHECKING:
    from regstore.testing.benchmarks import Mode


def _parse_size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    from regstore.params import parse_size  # noqa: PLC0415

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


def case_label(name: str, amount: int) -> str:
    """distribution's case name, marked when the run scaled its size down
    (quick and default modes run the 1 GB cases at 4 or 64 MiB: the name
    alone would claim a size the row did not use)."""
    from regstore.testing.benchmarks import find_case  # noqa: PLC0415  (pytest lives there)

    case = find_case(name)
    if case.large and amount != case.full:
        return f"{name} (at {format_bytes(amount)})"
    return name


def _fmt_rate(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


@cli.command()
@click.argument("name", required=False)
@param_option
@config_option
@click.option(
    "--size",
    callback=_parse_size,
    metavar="SIZE",
    help="Size of the large-object cases (default 64MiB; 1GiB with --full), e.g. 256MiB.",
)
@click.option("--quick", is_flag=True, help="Small sizes and few repeats: done in seconds.")
@click.option("--full", is_flag=True, help="distribution's sizes (1 GiB objects).")
@click.option(
    "--case",
    "case_patterns",
    multiple=True,
    metavar="TEXT",
    help="Only run cases whose name contains TEXT (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def bench(
    ctx: click.Context,
    *,
    name: str | None,
    params: dict[str, str],
    config_file: str | None,
    size: int | None,
    quick: bool,
    full: bool,
    case_patterns: tuple[str, ...],
    as_json: bool,
) -> None:
    """Benchmark driver NAME with distribution's benchmark cases.

    Each case runs in a fresh child process, so its peak memory (resident
    size over its start) is its own. The driver works below a fresh random
    root that is removed afterwards. MB/s counts payload bytes (10^6) per
    put+get or write+read round trip, as distribution's benchmarks do.
    """
    require_testing(ctx, "bench")
    from regstore.cli.bench_runner import bench_root, plan, run_case_in_child, select_cases  # noqa: PLC0415

    if quick and full:
        raise click.UsageError("--quick and --full exclude each other")
    mode: Mode = "quick" if quick else "full" if full else "default"
    registry = current_registry()
    target = resolve_target(ctx, registry, name, params, config_file)
    if target.config is not None and target.config.maintenance.readonly.enabled:
        # The cases build the bare driver in child processes, which would
        # write to a store the file declares read-only.
        click.echo(
            f"error: {config_file} sets storage.maintenance.readonly.enabled: the "
            "benchmarks write, so they cannot run on a read-only store",
            err=True,
        )
        ctx.exit(EXIT_CONFIG)
    # The cases run in child processes that take parameters as text: a
    # mapping (azure `credentials`) travels as JSON, which it accepts.
    name = target.name
    bench_params = {
        key: json.dumps(value) if isinstance(value, Mapping) else str(value)
        for key, value in target.params.items()
        if value is not None
    }
    cases = select_cases(case_patterns)
    if not cases:
        click.echo("error: no benchmark case matches --case", err=True)
        ctx.exit(EXIT_CONFIG)
    hidden = secret_values_of(registry, name, bench_params)
    if not as_json:
        click.echo(f"benchmarking {name} ({mode}){shown_params(registry, name, bench_params)}")
    rows = []
    try:
        with bench_root(registry, name, bench_params) as rooted:
            for case in cases:
                amount, repeat = plan(case, mode, size)
                rows.append(run_case_in_child(name, rooted, case, amount, repeat, hidden=hidden))
    except RegstoreError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    failed = [r for r in rows if r.error]
    if as_json:
        click.echo(
            json.dumps(
                {"driver": name, "mode": mode, "cases": [r.as_dict() for r in rows]}, indent=2
            )
        )
    else:
        table = []
        for r in rows:
            amount_text = format_bytes(r.amount) if r.unit == "bytes" else f"{r.amount} files"
            label = case_label(r.case, r.amount)
            if r.error:
                table.append(
                    [label, amount_text, str(r.repeat), "-", "-", "-", f"error: {r.error}"]
                )
                continue
            memory = "-" if r.peak_rss_bytes is None else format_bytes(r.peak_rss_bytes)
            table.append(
                [
                    label,
                    amount_text,
                    str(r.repeat),
                    _fmt_rate(r.mb_per_s),
                    _fmt_rate(r.ops_per_s),
                    f"{r.seconds:.3f}s",
                    memory,
                ]
            )
        headers = ["CASE", "SIZE", "OPS", "MB/S", "OPS/S", "TIME", "PEAK MEM"]
        click.echo(format_table(headers, table))
        click.echo(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    if failed:
        ctx.exit(1)
