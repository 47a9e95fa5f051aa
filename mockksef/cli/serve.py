"""``mockksef serve``: the flags checked, the state seeded, the banner, uvicorn."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mockksef import official
from mockksef.cli import OneLineErrors, main
from mockksef.config import MockConfig

if TYPE_CHECKING:
    from mockksef.credentials import Credentials
    from mockksef.scenarios import Scenario
    from mockksef.state import MockState


def _fail(message: str) -> NoReturn:
    click.echo(f"mockksef serve: {message}", err=True)
    sys.exit(2)


# MockConfig field -> the serve flag that sets it (the others come from MOCKKSEF_*).
_FLAGS = {
    "environments": "--environments",
    "default_env": "--default-env",
    "seed": "--seed",
    "official_dir": "--official-dir",
    "clock_mode": "--clock",
    "clock_start": "--clock-start",
    "public_base_url": "--public-base-url",
    "journal_size": "--journal-size",
    "reset_schedule": "--reset-schedule",
    "legacy_v1": "--legacy-v1",
    "admin_token": "--admin-token",
    "data_dir": "--data",
    "snapshot_dir": "--snapshot-dir",
}


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@main.command(
    cls=OneLineErrors,
    help=(
        "Start the server (uvicorn) on the embedded defaults. Every flag is checked "
        "before anything starts; a wrong one is a one-line error and exit code 2."
    ),
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--environments",
    "environments",
    default=None,
    help="Comma list of test,demo,prod (default: all).",
)
@click.option(
    "--default-env",
    default=None,
    help="Environment served under plain /v2 (default: test, or the only one enabled).",
)
@click.option(
    "--seed",
    default=None,
    type=click.IntRange(min=0),
    help="Replay the identifiers of a run (default: a fresh seed per start, printed).",
)
@click.option(
    "--official-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Directory of the official KSeF files.",
)
@click.option(
    "--data",
    "data_dir",
    default=None,
    type=click.Path(file_okay=False),
    help=(
        "Keep all state in this directory (SQLite): it survives restarts and crashes. "
        "Default: memory only."
    ),
)
@click.option(
    "--snapshot-dir",
    default=None,
    type=click.Path(file_okay=False),
    help=(
        "Where `mockksef snapshot` and /_mock/snapshots keep snapshots. Default: "
        "DATA/snapshots with --data, else ~/.local/share/mockksef/snapshots."
    ),
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
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME_OR_PATH",
    help="Activate a scenario (catalogue name or YAML file) at start; repeatable.",
)
@click.option(
    "--write-credentials",
    "credentials_dir",
    default=None,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Write the tokens and certificates the scenarios set up to DIR/<scenario>/ (PEM and PFX).",
)
@click.option(
    "--journal/--no-journal",
    "journal_enabled",
    default=None,
    help="Record requests in the journal (GET /_mock/journal); on by default.",
)
@click.option(
    "--journal-size",
    default=None,
    type=click.IntRange(min=1),
    help="Journal ring-buffer size (1000).",
)
@click.option(
    "--reset-schedule",
    default=None,
    help="Scheduled data resets on the clock, e.g. demo@03:00 or test@every=12h (comma list).",
)
@click.option(
    "--legacy-v1",
    default=None,
    type=click.Choice(["not_found", "gone", "refused", "reset", "close"]),
    help="How the retired KSeF 1.0 paths (/api/online/...) answer (default not_found).",
)
@click.option(
    "--admin-token",
    default=None,
    metavar="TOKEN",
    help=(
        "Require this token on /_mock/* (Authorization: Bearer, X-Mock-Admin-Token, or "
        "/_mock/console?token=); or set MOCKKSEF_ADMIN_TOKEN. Needed off loopback."
    ),
)
@click.option(
    "--insecure-admin",
    is_flag=True,
    default=False,
    help="Serve /_mock/* without a token on an address other machines can reach.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(
        ["critical", "error", "warning", "info", "debug", "trace"], case_sensitive=False
    ),
)
def serve(
    host: str,
    port: int,
    environments: str | None,
    default_env: str | None,
    seed: int | None,
    official_dir: str | None,
    data_dir: str | None,
    snapshot_dir: str | None,
    clock_mode: str | None,
    clock_start: str | None,
    public_base_url: str | None,
    trusted_proxy: bool | None,
    no_rate_limits: bool,
    scenarios: tuple[str, ...],
    credentials_dir: str | None,
    journal_enabled: bool | None,
    journal_size: int | None,
    reset_schedule: str | None,
    legacy_v1: str | None,
    admin_token: str | None,
    insecure_admin: bool,
    log_level: str,
) -> None:
    from mockksef.admin.guard import is_loopback
    from mockksef.config import ConfigError
    from mockksef.scenarios import ScenarioError, resolve

    # 1. Everything the flags and the environment say, checked before anything starts.
    try:
        loaded = [resolve(item) for item in scenarios]
    except ScenarioError as exc:
        _fail(str(exc))
    if credentials_dir is not None and not loaded:
        _fail("--write-credentials writes what a scenario sets up: add --scenario NAME")
    flags = {
        "environments": environments,
        "default_env": default_env,
        "seed": seed,
        "official_dir": official_dir,
        "data_dir": data_dir,
        "snapshot_dir": snapshot_dir,
        "clock_mode": clock_mode,
        "clock_start": clock_start,
        "public_base_url": public_base_url,
        "trusted_proxy": trusted_proxy,
        "journal_enabled": journal_enabled,
        "journal_size": journal_size,
        "reset_schedule": reset_schedule,
        "legacy_v1": legacy_v1,
        "admin_token": admin_token,
        "admin_insecure": True if insecure_admin else None,
    }
    try:
        base = MockConfig.from_env()
    except ConfigError as exc:
        _fail(f"MOCKKSEF_{exc.setting.upper()}: {exc.problem}")
    try:
        config = MockConfig.from_mapping(flags, base=base)
        if no_rate_limits:
            config = replace(config, rate_limits_enabled=False)
        config.validate()
    except ConfigError as exc:
        # Name what the user typed: the flag, or the environment variable it came from.
        flag = _FLAGS.get(exc.setting) if flags.get(exc.setting) is not None else None
        _fail(f"{flag or 'MOCKKSEF_' + exc.setting.upper()}: {exc.problem}")
    if not is_loopback(host) and config.admin_token is None and not config.admin_insecure:
        _fail(
            f"{host} is reachable from other machines and /_mock/* (reset, clock, scenarios) "
            "would be open to them: pass --admin-token TOKEN (or set MOCKKSEF_ADMIN_TOKEN), "
            "or --insecure-admin to serve it without one"
        )

    # 2. The state (official files, scenarios), then the socket: the banner comes last.
    from mockksef import credentials, progress
    from mockksef.app import create_app
    from mockksef.persistence import StoreError
    from mockksef.server import bind, uvicorn_config
    from mockksef.state import MockState

    try:
        state = MockState(config)
        with progress.shown("seeding"):
            issued = [credentials.issued(s, _activate(state, s)) for s in loaded]
    except official.OfficialFilesMissing as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except ScenarioError as exc:
        _fail(str(exc))
    except StoreError as exc:
        _fail(f"--data {exc}")
    except ValueError as exc:
        _fail(f"configuration: {exc}")
    app = create_app(state=state)
    try:
        sock = bind(host, port)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    # Written once the socket is ours: the certificates are of this server's mock CA.
    if credentials_dir is not None:
        try:
            issued = [credentials.write_credentials(Path(credentials_dir), i) for i in issued]
        except OSError as exc:
            _fail(f"--write-credentials {credentials_dir}: {exc.strerror or exc}")
    _banner(state, host, sock.getsockname()[1], issued)

    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, state.config, log_level=log_level.lower()))
    try:
        server.run(sockets=[sock])
    finally:
        if state.persistence is not None:
            state.commit()
            state.persistence.close()


def _activate(state: MockState, scenario: Scenario) -> dict[str, Any]:
    """Activate a ``--scenario``, unless ``--data`` brought it back already active.

    A server restarted with the command it was first started with must not set
    the scenario up a second time (its tokens and invoices are in the data).
    """
    if (
        state.persistence is not None
        and state.persistence.restored
        and scenario.name in state.scenarios.active
    ):
        return state.scenarios.describe(scenario.name)
    return state.scenarios.activate(scenario)


def _banner(state: MockState, host: str, port: int, issued: list[Credentials]) -> None:
    from mockksef.admin.guard import is_loopback

    config = state.config
    base = f"http://{_url_host(host)}:{port}"
    clock = state.clock.describe()
    click.echo(
        f"mockksef · KSeF API {state.spec.version} · listening on {base} "
        f"(environments: {', '.join(e.value for e in state.environments)})"
    )
    click.echo(f"  {base}/v2  ->  {config.default_env.value} (also /api/v2)")
    for env in state.environments:
        click.echo(f"  {base}/{env.value}/v2  clock {clock['mode']}, now {clock['now']}")
    click.echo(
        "  clock: change it with `mockksef clock --mode real|offset|virtual`, `--set ISO`, "
        "`--advance 15m` (POST /_mock/clock)"
    )
    data = state.persistence
    if data is not None:
        what = f"restored {', '.join(data.restored)}" if data.restored else "new"
        click.echo(f"  data: {data.path} ({what}; every answer is durable)")
        if data.restored and state.scenarios.active:
            # --scenario of a restored one is not set up again (see _activate).
            click.echo(f"  scenarios active in the data: {', '.join(state.scenarios.active)}")
    else:
        click.echo("  data: memory only (keep it across restarts with --data DIR)")
    how = "given with --seed" if state.seed_explicit else f"fresh; replay with --seed {state.seed}"
    click.echo(f"  seed: {state.seed} ({how})")
    if config.admin_token is not None:
        guard = "token required"
    elif config.admin_insecure and not is_loopback(host):
        guard = "OPEN to every address (--insecure-admin)"
    else:
        guard = "open on loopback"
    click.echo(f"  admin: {base}/_mock/health ({guard})")
    for line in _credential_lines(base, issued):
        click.echo(line)
    if is_loopback(host) and config.public_base_url is None:
        # Issue 12: some SDKs refuse pre-signed upload/download URLs on 127.0.0.1.
        click.echo(
            "  SDKs that refuse loopback addresses in pre-signed URLs: add "
            f"--public-base-url http://$(hostname):{port}"
        )
    click.echo("  stop: Ctrl+C")
    sys.stdout.flush()


def _credential_lines(base: str, issued: list[Credentials]) -> list[str]:
    """Per scenario: the tokens and certificates a client is configured with, and a first try."""
    from mockksef.credentials import describe

    lines: list[str] = []
    for item in issued:
        lines.append(f"  scenario: {item.scenario}")
        lines += describe(item, indent="    ")
        token = next((t for t in item.tokens if t.value), None)
        if token is not None:
            files = item.files.get(f"{token.environment}-{token.id}")
            value = f'"$(cat {files[0]})"' if files else f"'{token.value}'"
            lines.append(
                f"    try: KSEF_TOKEN={value} ksefclient --base-url {base}/{token.environment}/v2 "
                f"--nip {token.context} authenticate"
            )
        if any(c.certificate_pem for c in item.certificates) and not item.files:
            lines.append("    certificate files (PEM, PFX): add --write-credentials DIR")
    return lines
