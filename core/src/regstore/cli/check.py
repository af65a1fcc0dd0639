"""`regstore check`: the conformance suite against a live backend."""

from __future__ import annotations

import click

from regstore.cli._common import (
    EXIT_CONFIG,
    config_option,
    current_registry,
    param_option,
    require_testing,
    resolve_target,
    shown_params,
)
from regstore.cli._group import cli
from regstore.cli.table import format_table


@cli.command()
@click.argument("name", required=False)
@param_option
@config_option
@click.option("--full", is_flag=True, help="Run the heavy cases at full size (GiB streams).")
@click.option(
    "--faults",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    metavar="RATE",
    help="Fault rate of the random-fault cases (default 0.1): each storage step of the "
    "driver (a request, a write to disk) fails with this chance while uploads recover.",
)
@click.option("-k", "keyword", metavar="EXPR", help="Only run tests matching EXPR (pytest -k).")
@click.option("-x", "--exitfirst", is_flag=True, help="Stop at the first failure.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Also show pytest's own output (tracebacks) live."
)
@click.option(
    "--shared-root",
    is_flag=True,
    help="Run every test directly in the configured root (which must be empty) instead of "
    "a fresh random root below it: for setups whose URLs depend on the root, such as a "
    "redirect middleware's baseurl.",
)
@click.pass_context
def check(
    ctx: click.Context,
    *,
    name: str | None,
    params: dict[str, str],
    config_file: str | None,
    shared_root: bool,
    full: bool,
    faults: float | None,
    keyword: str | None,
    exitfirst: bool,
    verbose: bool,
) -> None:
    """Run the conformance suite against driver NAME on a live backend.

    Each test works below a fresh random root inside the configured one and
    must leave it empty. Prints one row per test and a summary; the exit
    status is non-zero when any test failed or errored, or none ran.
    """
    require_testing(ctx, "check")
    from regstore.cli.suite_runner import run_check  # noqa: PLC0415  (pytest loads only here)

    registry = current_registry()
    target = resolve_target(ctx, registry, name, params, config_file)
    if target.config is not None and target.config.maintenance.readonly.enabled:
        click.echo(
            f"error: {config_file} sets storage.maintenance.readonly.enabled: the suite "
            "writes, so it cannot check a read-only store",
            err=True,
        )
        ctx.exit(EXIT_CONFIG)
    mode = "full mode" if full else "short mode"
    if faults is not None:
        mode += f", fault rate {faults:g}"
    if target.config is not None:
        wrapped = [m.name for m in target.config.middleware if not m.disabled]
        mode += f", config {config_file}" + (
            f", middleware {', '.join(wrapped)}" if wrapped else ""
        )
    click.echo(
        f"checking {target.name} ({mode}){shown_params(registry, target.name, target.params)}"
    )
    outcome = run_check(
        target.name,
        params,
        config_file=config_file,
        shared_root=shared_root,
        full=full,
        faults=faults,
        keyword=keyword,
        exitfirst=exitfirst,
        show_output=verbose,
    )
    if outcome.tests:
        rows = [[t.name, t.outcome, f"{t.duration:.2f}s", t.reason] for t in outcome.tests]
        click.echo(format_table(["TEST", "OUTCOME", "TIME", "REASON"], rows))
    for error in outcome.collect_errors:
        click.echo(f"collection error: {error}", err=True)
    counts = [f"{outcome.count(kind)} {kind}" for kind in ("passed", "failed", "skipped")]
    counts += [
        f"{outcome.count(kind)} {kind}"
        for kind in ("error", "xfailed", "xpassed")
        if outcome.count(kind)
    ]
    click.echo(", ".join(counts))
    code = outcome.exit_code
    if code == 0 and (outcome.count("failed") or outcome.count("error")):
        code = 1  # belt and braces: never report success over a failure
    if code == 5 or (code == 0 and not outcome.tests):
        click.echo(
            "error: no test ran" + (f" (nothing matched -k {keyword!r})" if keyword else ""),
            err=True,
        )
        code = code or 5
    elif code not in (0, 1):
        click.echo(f"error: pytest stopped with exit status {code}", err=True)
        if outcome.pytest_output.strip() and not verbose:
            click.echo(outcome.pytest_output.rstrip(), err=True)
    if code:
        ctx.exit(code)
