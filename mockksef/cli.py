"""The ``mockksef`` command line: serve, sync, official, operations."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from mockksef import official
from mockksef.config import MockConfig


@click.group(help="mockksef: an offline, faithful KSeF 2.0 test server.")
@click.version_option(package_name="mockksef")
def main() -> None:
    pass


@main.command(help="Start the server (uvicorn) on the embedded defaults.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--environments",
    "environments",
    default=None,
    help="Comma list of test,demo,prod (default: all).",
)
@click.option(
    "--default-env", default=None, help="Environment served under plain /v2 (default: test)."
)
@click.option("--seed", default=None, type=int, help="Seed of the random source (default 0).")
@click.option(
    "--official-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Directory of the official KSeF files.",
)
@click.option(
    "--clock",
    "clock_mode",
    default=None,
    type=click.Choice(["real", "offset", "virtual"]),
    help="Clock mode.",
)
@click.option(
    "--clock-start", default=None, help="ISO date-time the clock starts at (offset/virtual)."
)
@click.option(
    "--public-base-url", default=None, help="Scheme and host put into URLs the API returns."
)
@click.option(
    "--trusted-proxy/--no-trusted-proxy",
    default=None,
    help="Take the client IP from X-Forwarded-For.",
)
@click.option(
    "--no-rate-limits", is_flag=True, default=False, help="Turn rate limits off (load tests)."
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str,
    port: int,
    environments: str | None,
    default_env: str | None,
    seed: int | None,
    official_dir: str | None,
    clock_mode: str | None,
    clock_start: str | None,
    public_base_url: str | None,
    trusted_proxy: bool | None,
    no_rate_limits: bool,
    log_level: str,
) -> None:
    import uvicorn

    from mockksef.app import create_app
    from mockksef.state import MockState

    config = MockConfig.from_env()
    flags = {
        "environments": environments,
        "default_env": default_env,
        "seed": seed,
        "official_dir": official_dir,
        "clock_mode": clock_mode,
        "clock_start": clock_start,
        "public_base_url": public_base_url,
        "trusted_proxy": trusted_proxy,
    }
    config = MockConfig.from_mapping(flags, base=config)
    if no_rate_limits:
        config = replace(config, rate_limits_enabled=False)
    try:
        state = MockState(config)
    except official.OfficialFilesMissing as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    app = create_app(state=state)
    base = f"http://{host}:{port}"
    click.echo(
        f"mockksef {state.spec.version} spec · environments: {', '.join(e.value for e in state.environments)}"
    )
    click.echo(f"  {base}/v2  ({config.default_env.value})")
    for env in state.environments:
        click.echo(f"  {base}/{env.value}/v2")
    click.echo(f"  admin: {base}/_mock/health")
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, proxy_headers=bool(config.trusted_proxy)
    )


@main.command(
    help="Fill the user cache with the official files from a directory or base URL, verified by SHA-256."
)
@click.argument("source")
@click.option("--target", default=None, type=click.Path(file_okay=False))
def sync(source: str, target: str | None) -> None:
    try:
        path = official.sync(source, Path(target) if target else None)
    except (official.PinMismatch, OSError) as exc:
        click.echo(f"sync failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"official files verified and copied to {path}")


@main.command(
    "official", help="Show where the official files are read from and whether they match the pins."
)
@click.option("--official-dir", default=None)
def official_cmd(official_dir: str | None) -> None:
    try:
        path = official.locate(official_dir)
    except official.OfficialFilesMissing as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    problems = official.verify(path)
    click.echo(f"official directory: {path}")
    if problems:
        for rel, problem in sorted(problems.items()):
            click.echo(f"  {rel}: {problem}")
        sys.exit(1)
    click.echo(f"  all {len(official.pins())} files match their SHA-256 pins")


@main.command(help="List the official operations and whether the mock implements them.")
def operations() -> None:
    from mockksef import operations as ops
    from mockksef.services import all_routes

    implemented = {getattr(r, "name", None) for r in all_routes()}
    for op in ops.OPERATIONS:
        mark = "x" if op.id in implemented else " "
        click.echo(f"[{mark}] {op.method:6} {op.path:70} {op.id}")
