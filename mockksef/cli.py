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


@main.command(
    "contract",
    help=(
        "Check a KSeF server against the official contract (OpenAPI + XSD): schemathesis "
        "positive and negative phases over every implemented operation, stateful flows, "
        "KSeF-specific checks. Exit code 1 when the server breaks the contract."
    ),
)
@click.option("--base-url", required=True, help="API base URL, e.g. http://127.0.0.1:8080/v2.")
@click.option(
    "--token",
    "ksef_token",
    default=None,
    envvar="MOCKKSEF_KSEF_TOKEN",
    help="KSeF token to log in with (needs --nip); or set MOCKKSEF_KSEF_TOKEN.",
)
@click.option(
    "--xades-cert",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="PEM certificate to sign the XAdES login with (needs --xades-key and --nip).",
)
@click.option(
    "--xades-key",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="PEM private key of --xades-cert (unencrypted).",
)
@click.option("--nip", default=None, help="Context NIP to log in to.")
@click.option(
    "--self-signed-nip",
    default=None,
    help="Log in with a generated self-signed certificate for this NIP (TEST only).",
)
@click.option("--examples", default=10, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--time-limit", default=None, type=click.FloatRange(min=1), help="Seconds for the whole run."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--operation",
    "operation_filter",
    multiple=True,
    help="Only these operations (id, area or 'METHOD /path'); repeatable.",
)
@click.option("--exclude", multiple=True, help="Leave out operations (id or area); repeatable.")
@click.option(
    "--tolerate",
    multiple=True,
    metavar="OPERATION=CODE[,CODE]",
    help="Accept exception codes the spec does not document for an operation (a known deviation); repeatable.",
)
@click.option("--flows/--no-flows", default=True, show_default=True, help="Run the stateful flows.")
@click.option(
    "--problem-details",
    is_flag=True,
    default=False,
    help="Send X-Error-Format: problem-details on every request (default: alternate).",
)
@click.option(
    "--junit", default=None, type=click.Path(dir_okay=False), help="Write JUnit XML here."
)
@click.option(
    "--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Write JSON here."
)
@click.option("--official-dir", default=None, help="Directory of the official KSeF files.")
@click.option("-v", "--verbose", is_flag=True, default=False, help="List skipped operations too.")
def contract(
    base_url: str,
    ksef_token: str | None,
    xades_cert: str | None,
    xades_key: str | None,
    nip: str | None,
    self_signed_nip: str | None,
    examples: int,
    time_limit: float | None,
    seed: int,
    operation_filter: tuple[str, ...],
    exclude: tuple[str, ...],
    tolerate: tuple[str, ...],
    flows: bool,
    problem_details: bool,
    junit: str | None,
    json_path: str | None,
    official_dir: str | None,
    verbose: bool,
) -> None:
    try:
        from contracts.harness import Budget, Credentials, Harness, HarnessError, Target
        from contracts.report import render_text, write_reports
    except ImportError as exc:  # the harness lives in the source tree, beside the package
        click.echo(f"the contract harness is not importable ({exc}); run from a checkout", err=True)
        sys.exit(2)
    from mockksef.spec import Spec

    chosen = [bool(ksef_token), bool(xades_cert or xades_key), bool(self_signed_nip)]
    if sum(chosen) > 1:
        raise click.UsageError("give one of --token, --xades-cert/--xades-key, --self-signed-nip")
    if (ksef_token or xades_cert or xades_key) and not nip:
        raise click.UsageError("--token and --xades-cert/--xades-key need --nip")
    if bool(xades_cert) != bool(xades_key):
        raise click.UsageError("--xades-cert and --xades-key go together")
    tolerated: dict[str, tuple[int, ...]] = {}
    for item in tolerate:
        op_id, _, codes = item.partition("=")
        try:
            tolerated[op_id.strip()] = tolerated.get(op_id.strip(), ()) + tuple(
                int(c) for c in codes.split(",")
            )
        except ValueError:
            raise click.UsageError(
                f"--tolerate takes OPERATION=CODE[,CODE], got {item!r}"
            ) from None
    try:
        if ksef_token:
            credentials = Credentials.ksef_token(ksef_token, nip or "")
        elif xades_cert and xades_key:
            credentials = Credentials.xades_files(xades_cert, xades_key, nip or "")
        elif self_signed_nip:
            credentials = Credentials.self_signed(self_signed_nip)
        else:
            credentials = Credentials.none()
        spec = Spec.from_dir(official.locate(official_dir))
        harness = Harness(
            Target.url(base_url),
            spec=spec,
            credentials=credentials,
            budget=Budget(examples=examples, time_limit=time_limit, seed=seed),
            error_format="problem-details" if problem_details else "both",
            tolerated_codes=tolerated,
        )
        report = harness.run(list(operation_filter) or None, flows=flows, exclude=exclude)
    except official.OfficialFilesMissing as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except (HarnessError, ValueError) as exc:
        click.echo(f"contract: {exc}", err=True)
        sys.exit(2)
    click.echo(render_text(report, verbose=verbose), nl=False)
    write_reports(report, junit=junit, json_path=json_path)
    sys.exit(0 if report.ok else 1)
