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

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click

from regstore import __version__
from regstore._cli_table import format_bytes, format_table
from regstore.config import StorageConfig, UploadPurging, load_config, parse_duration
from regstore.driver import Capabilities, StorageDriver, UploadInfo
from regstore.errors import DriverNotFoundError, RegstoreError, UnsupportedMethodError
from regstore.factory import DriverInfo, DriverRegistry, default_registry
from regstore.params import coerce_params, parse_assignments, redact, secret_values
from regstore.testing.benchmarks import Mode

__all__ = ["cli", "main"]

#: Exit status for a configuration problem (unknown driver, bad parameter),
#: the same as click's usage errors.
EXIT_CONFIG = 2


# -- shared pieces -----------------------------------------------------------


def _parse_params(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """`-p key=value` options into a dict; a malformed one is a usage error."""
    try:
        return parse_assignments(values)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


_param_option = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_parse_params,
    help="A driver parameter, as in config.yml (repeatable), e.g. -p rootdirectory=/srv.",
)


_config_option = click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="A distribution config.yml in place of NAME and -p: its storage driver, parameters "
    "and middleware, with REGISTRY_STORAGE_* / REGISTRY_MIDDLEWARE_STORAGE_* variables "
    "applied (-p values override its parameters).",
)


@dataclass
class _Target:
    """The driver a command works on: NAME and -p, or --config FILE."""

    name: str
    params: dict[str, object]
    config: StorageConfig | None = None

    def create(self, registry: DriverRegistry) -> StorageDriver:
        """The driver; through the configuration (middleware, read-only and
        redirect settings applied) when there is one."""
        if self.config is None:
            return registry.create(self.name, self.params)
        return replace(self.config, parameters=self.params).create(registry)


def _target(
    ctx: click.Context,
    registry: DriverRegistry,
    name: str | None,
    params: dict[str, str],
    config_file: str | None,
) -> _Target:
    """Resolve NAME/-p/--config and validate the parameters before any
    work; exits with EXIT_CONFIG on a problem, naming it."""
    config = None
    merged: dict[str, object] = dict(params)
    if config_file is not None:
        try:
            config = load_config(Path(config_file), registry=registry)  # a path, never YAML text
        except RegstoreError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(EXIT_CONFIG)
        assert config is not None
        if name is not None and name != config.driver:
            click.echo(
                f"error: driver {name!r} does not match the driver of {config_file} "
                f"({config.driver!r}); give one or the other",
                err=True,
            )
            ctx.exit(EXIT_CONFIG)
        name = config.driver
        merged = {**config.parameters, **params}
        status = _check_middleware(config)
        if status is not None:
            ctx.exit(status)
    if name is None:
        raise click.UsageError("give a driver NAME (with -p key=value) or --config FILE")
    status = _check_driver(registry, name, merged)
    if status is not None:
        ctx.exit(status)
    return _Target(name, merged, config)


def _check_middleware(config: StorageConfig) -> int | None:
    """Find each enabled middleware and check its options before any work,
    as the driver's parameters are: an unknown name or a bad option is a
    configuration problem (exit 2), not a failure of every test."""
    from regstore.middleware import middleware_spec  # noqa: PLC0415

    for entry in config.middleware:
        if entry.disabled:
            continue
        try:
            spec = middleware_spec(entry.name)
            coerce_params(f"middleware {entry.name}", spec.parameters, entry.options)
        except RegstoreError as err:
            click.echo(f"error: {err}", err=True)
            return EXIT_CONFIG
    return None


def _shown(registry: DriverRegistry, name: str, params: Mapping[str, object]) -> str:
    """Parameters for display, secrets replaced."""
    try:
        declared = registry.spec(name).parameters
    except RegstoreError:
        declared = ()
    shown = redact(params, declared)
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "(none)"


def _secret_values(registry: DriverRegistry, name: str, params: Mapping[str, object]) -> list[str]:
    return secret_values(registry.spec(name).parameters, params)


def _check_driver(registry: DriverRegistry, name: str, params: Mapping[str, object]) -> int | None:
    """Resolve the driver and validate its parameters before any work; an
    exit status on failure, None when all is well."""
    try:
        spec = registry.spec(name)
        coerce_params(name, spec.parameters, params)
    except DriverNotFoundError as err:
        click.echo(f"error: {err}", err=True)
        return EXIT_CONFIG
    except RegstoreError as err:
        # Messages of InvalidParameterError never hold a secret value.
        click.echo(f"error: {err}", err=True)
        return EXIT_CONFIG
    return None


# -- the group ---------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="regstore")
def cli() -> None:
    """regstore: storage drivers for registries and artifact stores.

    List the installed drivers, run the conformance suite against one, or
    benchmark one.
    """


# -- drivers -----------------------------------------------------------------


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
    registry = default_registry()
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


# -- check -------------------------------------------------------------------


@cli.command()
@click.argument("name", required=False)
@_param_option
@_config_option
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
    from regstore._cli_check import run_check  # noqa: PLC0415  (pytest loads only here)

    registry = default_registry()
    target = _target(ctx, registry, name, params, config_file)
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
        f"checking {target.name} ({mode}) with {_shown(registry, target.name, target.params)}"
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


# -- bench -------------------------------------------------------------------


def _parse_size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    from regstore.params import parse_size  # noqa: PLC0415

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


def _fmt_rate(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


@cli.command()
@click.argument("name", required=False)
@_param_option
@_config_option
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
    from regstore._cli_bench import bench_root, plan, run_case_in_child, select_cases  # noqa: PLC0415

    if quick and full:
        raise click.UsageError("--quick and --full exclude each other")
    mode: Mode = "quick" if quick else "full" if full else "default"
    registry = default_registry()
    target = _target(ctx, registry, name, params, config_file)
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
    hidden = _secret_values(registry, name, bench_params)
    if not as_json:
        click.echo(f"benchmarking {name} ({mode}) with {_shown(registry, name, bench_params)}")
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
            if r.error:
                table.append(
                    [r.case, amount_text, str(r.repeat), "-", "-", "-", f"error: {r.error}"]
                )
                continue
            memory = "-" if r.peak_rss_bytes is None else format_bytes(r.peak_rss_bytes)
            table.append(
                [
                    r.case,
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


# -- entry -------------------------------------------------------------------


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_AGE_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_age(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dt.timedelta | None:
    """ "90m", "36h", "7d", "2w" or plain seconds; upstream's Go forms
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
            f"{value!r} is not an age such as 36h, 7d or 2w", ctx=ctx, param=param
        )
    try:
        return dt.timedelta(seconds=float(match.group(1)) * _AGE_SECONDS[match.group(2)])
    except OverflowError:
        raise click.BadParameter(
            f"{value!r} is longer than any age this tool can compare", ctx=ctx, param=param
        ) from None


@cli.command("purge-uploads")
@click.argument("name", required=False)
@_param_option
@_config_option
@click.option(
    "--older-than",
    default=None,
    callback=_parse_age,
    help="Discard uploads untouched (opened or closed) for this long: 36h, 7d, 2w "
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
    registry = default_registry()
    target = _target(ctx, registry, name, params, config_file)
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
@_param_option
@_config_option
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
    registry = default_registry()
    target = _target(ctx, registry, name, params, config_file)
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
