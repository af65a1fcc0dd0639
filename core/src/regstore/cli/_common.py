"""Pieces every command shares: the driver a command works on (NAME and
`-p key=value`, or `--config FILE`), its checks and how it is shown."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import click

from regstore.config import StorageConfig, load_config
from regstore.driver import StorageDriver
from regstore.errors import DriverNotFoundError, RegstoreError
from regstore.factory import DriverRegistry, default_registry
from regstore.params import coerce_params, parse_assignments, redact, secret_values


def current_registry() -> DriverRegistry:
    """The registry commands use (tests put a registry of their own here)."""
    return default_registry()


def require_testing(ctx: click.Context, command: str) -> None:
    """`check` and `bench` run the conformance suite's code, which needs
    pytest: an install without the `testing` extra gets the pip line."""
    if importlib.util.find_spec("pytest") is None:
        click.echo(
            f"error: regstore {command} runs the conformance suite, which needs pytest: "
            "pip install 'regstore[testing]'",
            err=True,
        )
        ctx.exit(EXIT_CONFIG)


#: Exit status for a configuration problem (unknown driver, bad parameter),
#: the same as click's usage errors.
EXIT_CONFIG = 2


# -- shared pieces -----------------------------------------------------------


def parse_params_callback(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """`-p key=value` options into a dict; a malformed one is a usage error."""
    try:
        return parse_assignments(values)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


param_option = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    callback=parse_params_callback,
    help="A driver parameter, as in config.yml (repeatable), e.g. -p rootdirectory=/srv.",
)


config_option = click.option(
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
class Target:
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


def resolve_target(
    ctx: click.Context,
    registry: DriverRegistry,
    name: str | None,
    params: dict[str, str],
    config_file: str | None,
) -> Target:
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
        status = check_middleware(config)
        if status is not None:
            ctx.exit(status)
    if name is None:
        raise click.UsageError("give a driver NAME (with -p key=value) or --config FILE")
    status = check_driver(registry, name, merged)
    if status is not None:
        ctx.exit(status)
    return Target(name, merged, config)


def check_middleware(config: StorageConfig) -> int | None:
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


def shown_params(registry: DriverRegistry, name: str, params: Mapping[str, object]) -> str:
    """ " with k=v, ..." for display, secrets replaced; "" without any."""
    try:
        declared = registry.spec(name).parameters
    except RegstoreError:
        declared = ()
    shown = redact(params, declared)
    text = ", ".join(f"{k}={v}" for k, v in shown.items())
    return f" with {text}" if text else ""


def secret_values_of(
    registry: DriverRegistry, name: str, params: Mapping[str, object]
) -> list[str]:
    return secret_values(registry.spec(name).parameters, params)


def check_driver(registry: DriverRegistry, name: str, params: Mapping[str, object]) -> int | None:
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
