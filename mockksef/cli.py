"""The ``mockksef`` command line: serve, scenario, journal, clock, reset, cert, sync,
official, operations, contract, explain.

Every command checks its arguments before doing anything: a wrong one is one line on
stderr and exit code 2 (``OneLineGroup``), never a usage block or a traceback.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mockksef import official
from mockksef.config import MockConfig

if TYPE_CHECKING:
    from mockksef.credentials import Credentials
    from mockksef.state import MockState

# What `pip install 'mockksef[contract]'` adds (pyproject.toml), by import name.
CONTRACT_EXTRA_MODULES = ("hypothesis", "schemathesis")


def _refuse(ctx: click.Context, exc: click.UsageError) -> NoReturn:
    """One line on stderr and exit 2: what is wrong, with the command it belongs to.

    Click prints a usage block and a hint around the error; the one line says it.
    """
    path = " ".join(["mockksef", *ctx.command_path.split()[1:]])
    click.echo(f"{path}: {exc.format_message()}", err=True)
    ctx.exit(2)


class OneLineErrors(click.Command):
    """A command whose usage errors (parsing, or checks in its body) are one line, exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _refuse(ctx, exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _refuse(exc.ctx or ctx, exc)


class OneLineGroup(click.Group):
    """A group whose commands and subgroups all answer usage errors in one line."""

    command_class = OneLineErrors
    group_class = type  # subgroups are OneLineGroups too

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a bare `mockksef` shows the help
        except click.UsageError as exc:
            _refuse(ctx, exc)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            _refuse(ctx, exc)


@click.group(cls=OneLineGroup, help="mockksef: an offline, faithful KSeF 2.0 test server.")
@click.version_option(package_name="mockksef")
def main() -> None:
    pass


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An http(s) address with a host, or a usage error before any request."""
    from urllib.parse import urlsplit

    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise click.BadParameter(f"{value!r} is not an http:// or https:// address")
    return value


# TEST and DEMO do not check a NIP's check digit (test data rarely has one); the form they do.
NIP_FORM = re.compile(r"[1-9][0-9]{9}")
PESEL_FORM = re.compile(r"[0-9]{11}")


def _nip(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not NIP_FORM.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a NIP (10 digits, not starting with 0)")
    return value


def _checked(
    parse: Callable[[str], object], expected: str
) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A click callback: the value as typed, once ``parse`` accepts it."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            try:
                parse(value)
            except ValueError:
                raise click.BadParameter(f"{value!r} is not {expected}") from None
        return value

    return check


def _parse_duration(text: str) -> float:
    from mockksef.scenarios.model import parse_duration

    return parse_duration(text)


def _parse_instant(text: str) -> object:
    from mockksef.clock import parse_datetime

    return parse_datetime(text)


_duration = _checked(_parse_duration, "a duration (seconds, or 90s, 15m, 2h, 1d)")
_instant = _checked(_parse_instant, "an ISO date-time (2026-03-02T09:00:00Z)")


ENVIRONMENT_CHOICE = click.Choice(["test", "demo", "prod"])


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
    from mockksef.server import bind, uvicorn_config
    from mockksef.state import MockState

    try:
        state = MockState(config)
        with progress.shown("seeding"):
            issued = [credentials.issued(s, state.scenarios.activate(s)) for s in loaded]
    except official.OfficialFilesMissing as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except ScenarioError as exc:
        _fail(str(exc))
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
    server.run(sockets=[sock])


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


@main.command(
    help="Fill the user cache with the official files from a directory or base URL, verified by SHA-256."
)
@click.argument("source")
@click.option("--target", default=None, type=click.Path(file_okay=False))
def sync(source: str, target: str | None) -> None:
    if not source.startswith(("http://", "https://")) and not Path(source).is_dir():
        raise click.UsageError(f"{source}: neither a directory nor an http(s) base URL")
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
@click.option(
    "--base-url",
    required=True,
    callback=_http_url,
    help="API base URL, e.g. http://127.0.0.1:8080/v2.",
)
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
@click.option("--nip", default=None, callback=_nip, help="Context NIP to log in to.")
@click.option(
    "--self-signed-nip",
    default=None,
    callback=_nip,
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
    # The arguments first: a wrong one is one line, before the harness starts.
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
        from ksefcontract.harness import Budget, Credentials, Harness, HarnessError, Target
        from ksefcontract.report import render_text, write_reports
    except ModuleNotFoundError as exc:
        # Only the [contract] extra's packages may be missing; anything else is a real bug.
        if (exc.name or "").partition(".")[0] not in CONTRACT_EXTRA_MODULES:
            raise
        click.echo(
            f"mockksef contract needs the contract extra (no module {exc.name!r}): "
            "pip install 'mockksef[contract]'",
            err=True,
        )
        sys.exit(2)
    from mockksef import progress
    from mockksef.spec import Spec

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
        with progress.shown("contract"):
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


# -- scenarios -------------------------------------------------------------------------------------


@main.group(help="Scenario files: the bundled catalogue, show, validate, the JSON Schema.")
def scenario() -> None:
    pass


@scenario.command("list", help="List the scenarios of the bundled catalogue.")
def scenario_list() -> None:
    from mockksef.scenarios import ScenarioError, catalogue_names, resolve

    names = catalogue_names()
    if not names:
        click.echo("the catalogue is empty")
        return
    width = max(len(n) for n in names)
    for name in names:
        try:
            description = resolve(name).description
        except ScenarioError as exc:
            description = f"(invalid: {exc.problems[0]})"
        click.echo(f"{name:{width}}  {description}")


@scenario.command("show", help="Show a scenario: explanation, setup, rules.")
@click.argument("name_or_path")
@click.option("--lang", default="en", type=click.Choice(["en", "pl"]), show_default=True)
@click.option("--yaml", "as_yaml", is_flag=True, default=False, help="Print the YAML source.")
def scenario_show(name_or_path: str, lang: str, as_yaml: bool) -> None:
    from mockksef.scenarios import ScenarioError, resolve

    try:
        item = resolve(name_or_path)
    except ScenarioError as exc:
        raise click.UsageError(str(exc)) from None
    if as_yaml:
        import yaml

        click.echo(yaml.safe_dump(item.to_dict(), allow_unicode=True, sort_keys=False), nl=False)
        return
    click.echo(f"{item.name} — {item.description}" if item.description else item.name)
    click.echo(f"  source: {item.source}")
    explain = item.explanation(lang)
    if explain:
        for key in ("symptom", "cause", "fix"):
            click.echo(f"  {key}: {explain[key]}")
    if item.environments:
        click.echo(f"  environments: {', '.join(item.environments)}")
    if item.clock_mode or item.clock_start:
        click.echo(f"  clock: {item.clock_mode or ''} {item.clock_start or ''}".rstrip())
    for kind, items in item.setup.items():
        click.echo(f"  setup {kind}: {len(items)}")
    from mockksef.credentials import describe, planned

    promised = planned(item)
    if promised:
        click.echo("  credentials:")
        for line in describe(promised, indent="    "):
            click.echo(line)
        click.echo(
            f"    `mockksef serve --scenario {name_or_path} --write-credentials DIR` "
            f"writes them to DIR/{item.name}/ (tokens, PEM and PFX certificates)"
        )
    for rule in item.rules:
        actions = ", ".join(t.kind for t in rule.then)
        shape = f"[{actions}]" if rule.sequence else actions
        click.echo(f"  rule {rule.name}: {shape}")
        text = rule.explanation(lang)
        if text:
            click.echo(f"      {text}")
    if item.require_all_fired:
        click.echo("  require_all_fired: true")


@scenario.command(
    "validate",
    help="Validate scenario files (or catalogue names); no argument = the whole catalogue.",
)
@click.argument("items", nargs=-1)
def scenario_validate(items: tuple[str, ...]) -> None:
    from mockksef.scenarios import ScenarioError, catalogue_names, resolve

    targets = list(items) or catalogue_names()
    failed = 0
    for target in targets:
        try:
            item = resolve(target)
        except ScenarioError as exc:
            failed += 1
            for line in exc.problems:
                click.echo(line, err=True)
            continue
        click.echo(f"ok  {target} ({item.name}, {len(item.rules)} rules)")
    if failed:
        click.echo(f"{failed} of {len(targets)} invalid", err=True)
        sys.exit(1)


@scenario.command("schema", help="Print the JSON Schema of scenario files.")
def scenario_schema() -> None:
    from mockksef.scenarios import schema_text

    click.echo(schema_text(), nl=False)


@main.command(
    help="Look up what a customer pasted (an error message, an exception code such as 21418, "
    "an HTTP status, 'Zbyt wiele żądań'…): the matching KSeF codes and catalogue scenarios, "
    "with their causes and fixes."
)
@click.argument("text", nargs=-1, required=True)
@click.option("--lang", default="pl", type=click.Choice(["pl", "en"]), show_default=True)
@click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON.")
def explain(text: tuple[str, ...], lang: str, as_json: bool) -> None:
    from mockksef.explain import explain as look_up
    from mockksef.explain import format_text

    result = look_up(" ".join(text))
    if as_json:
        import json

        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_text(result, lang))
    if not result:
        sys.exit(1)


# -- journal and clock through the admin API --------------------------------------------------------

_URL_OPTION = click.option(
    "--url",
    default="http://127.0.0.1:8080",
    show_default=True,
    envvar="MOCKKSEF_URL",
    callback=_http_url,
    help="Base URL of a running mockksef (or set MOCKKSEF_URL).",
)


def _admin_headers() -> dict[str, str]:
    """The admin token of a guarded server (serve --admin-token), from the environment."""
    import os

    token = os.environ.get("MOCKKSEF_ADMIN_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _admin(command: str, url: str, method: str, path: str, ok: int = 200, **send: Any) -> Any:
    """One call to a running server's admin plane: its JSON, or one line on stderr and exit."""
    import httpx

    try:
        response = httpx.request(
            method, f"{url.rstrip('/')}{path}", headers=_admin_headers(), timeout=30, **send
        )
    except httpx.HTTPError as exc:
        click.echo(f"{command}: cannot reach {url}: {exc}", err=True)
        sys.exit(2)
    if response.status_code != ok:
        click.echo(f"{command}: {response.status_code} {response.text}", err=True)
        sys.exit(1)
    return response.json()


def _format_entry(entry: dict[str, object]) -> str:
    if entry.get("kind") == "event":
        rest = {k: v for k, v in entry.items() if k not in ("seq", "kind", "time", "event")}
        detail = " ".join(f"{k}={v}" for k, v in rest.items())
        return f"#{entry['seq']} {entry['time']} * {entry['event']} {detail}".rstrip()
    parts = [
        f"#{entry['seq']}",
        str(entry.get("time")),
        str(entry.get("environment")),
        f"{entry.get('method')} {entry.get('path')}",
        str(entry.get("operation") or "-"),
        str(entry.get("status") if entry.get("status") is not None else "-"),
    ]
    if entry.get("context"):
        parts.append(f"ctx={entry['context']}")
    if entry.get("codes"):
        parts.append("codes=" + ",".join(str(c) for c in entry["codes"]))  # type: ignore[attr-defined]
    if entry.get("fault"):
        parts.append(f"fault={entry['fault']}")
    if entry.get("rule"):
        parts.append(f"rule={entry['rule']}->{entry.get('action')}")
        if entry.get("explain"):
            parts.append(f"({entry['explain']})")
    return " ".join(parts)


@main.command(help="Print the request journal of a running server (--follow to keep polling).")
@_URL_OPTION
@click.option("-f", "--follow", is_flag=True, default=False, help="Keep polling for new entries.")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds between polls.",
)
@click.option(
    "--polls", default=None, type=click.IntRange(min=1), help="With --follow: stop after N polls."
)
@click.option(
    "--since",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Entries after this seq.",
)
@click.option("--limit", default=None, type=click.IntRange(min=1))
@click.option("--operation", default=None, help="Operation id or glob (invoices.*).")
@click.option("--environment", default=None, type=ENVIRONMENT_CHOICE)
@click.option("--status", default=None, type=click.IntRange(100, 599))
@click.option("--context", default=None, help="Context NIP.")
@click.option("--rule", default=None, help="scenario/rule or a glob.")
@click.option("--fired", is_flag=True, default=False, help="Only requests a rule fired on.")
@click.option("--json", "as_json", is_flag=True, default=False, help="One JSON object per line.")
def journal(
    url: str,
    follow: bool,
    interval: float,
    polls: int | None,
    since: int,
    limit: int | None,
    operation: str | None,
    environment: str | None,
    status: int | None,
    context: str | None,
    rule: str | None,
    fired: bool,
    as_json: bool,
) -> None:
    import json
    import time

    import httpx

    params: dict[str, str | int] = {
        k: v
        for k, v in {
            "limit": limit,
            "operation": operation,
            "environment": environment,
            "status": status,
            "context": context,
            "rule": rule,
            "fired": "true" if fired else None,
        }.items()
        if v is not None
    }
    count = 0
    with httpx.Client(base_url=url.rstrip("/"), timeout=10, headers=_admin_headers()) as http:
        while True:
            try:
                response = http.get("/_mock/journal", params={**params, "since": since})
            except httpx.HTTPError as exc:
                click.echo(f"journal: cannot reach {url}: {exc}", err=True)
                sys.exit(2)
            if response.status_code != 200:
                click.echo(f"journal: {response.status_code} {response.text}", err=True)
                sys.exit(2)
            data = response.json()
            for entry in data["entries"]:
                click.echo(
                    json.dumps(entry, ensure_ascii=False) if as_json else _format_entry(entry)
                )
            # Filters hide entries; the next poll still starts after the newest seq.
            since = max(since, int(data.get("lastSeq", since)))
            count += 1
            if not follow or (polls is not None and count >= polls):
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return


@main.command("reset", help="Reset the data of a running server (like a DEMO data reset).")
@_URL_OPTION
@click.option("--env", "environment", default=None, type=ENVIRONMENT_CHOICE, help="Default: all.")
def reset_cmd(url: str, environment: str | None) -> None:
    params = {"env": environment} if environment else {}
    click.echo(f"reset: {_admin('reset', url, 'POST', '/_mock/reset', params=params)['reset']}")


@main.command("clock", help="Show or move the clock of a running server.")
@_URL_OPTION
@click.option(
    "--advance",
    default=None,
    callback=_duration,
    help="Move forward: seconds or 90s, 15m, 2h, 1d.",
)
@click.option("--set", "set_to", default=None, callback=_instant, help="Set to an ISO date-time.")
@click.option("--mode", default=None, type=click.Choice(["real", "virtual", "offset"]))
def clock_cmd(url: str, advance: str | None, set_to: str | None, mode: str | None) -> None:
    body = {k: v for k, v in {"advance": advance, "set": set_to, "mode": mode}.items() if v}
    if body:
        data = _admin("clock", url, "POST", "/_mock/clock", json=body)
    else:
        data = _admin("clock", url, "GET", "/_mock/clock")
    click.echo(f"{data['mode']} {data['now']}")


# -- test certificates -------------------------------------------------------------------------------


def _usage(command: str, message: str) -> NoReturn:
    click.echo(f"mockksef {command}: {message}", err=True)
    sys.exit(2)


@main.command(
    "cert",
    cls=OneLineErrors,
    help=(
        "Make a test certificate for a NIP or PESEL: a company seal (NIP, the default) or a "
        "personal certificate, EC P-256 (default) or RSA 2048, PEM or PKCS#12 (PFX). TEST: "
        "self-signed, which TEST accepts as qualified. DEMO and PROD: issued by that "
        "environment's mock CA in a running mockksef (--url); the key never leaves this machine."
    ),
)
@click.option("--nip", default=None, help="Owner NIP (10 digits).")
@click.option("--pesel", default=None, help="Owner PESEL (11 digits): a personal certificate.")
@click.option("--seal", "kind", flag_value="seal", default=None, help="A company seal (VATPL-NIP).")
@click.option(
    "--personal",
    "kind",
    flag_value="personal",
    help="A personal certificate (TINPL-NIP or PNOPL-PESEL).",
)
@click.option(
    "--key", "key_type", default="ec", show_default=True, type=click.Choice(["ec", "rsa"])
)
@click.option(
    "--format",
    "output_format",
    default="pem",
    show_default=True,
    type=click.Choice(["pem", "pfx", "both"]),
    help="pem: NAME.pem + NAME.key.pem; pfx: NAME.pfx (PKCS#12).",
)
@click.option(
    "--password",
    default=None,
    envvar="MOCKKSEF_CERT_PASSWORD",
    help="Encrypt the PFX with this password (or set MOCKKSEF_CERT_PASSWORD).",
)
@click.option(
    "--env",
    "environment",
    default="test",
    show_default=True,
    type=click.Choice(["test", "demo", "prod"]),
)
@_URL_OPTION
@click.option("--name", default=None, help="Organisation name (seal) or common name (person).")
@click.option(
    "--valid-from",
    default=None,
    help=(
        "ISO date-time (default: an hour before now, or before the earliest catalogue "
        "scenario's start when that is earlier, so it works on every scenario's clock)."
    ),
)
@click.option("--days", default=730, show_default=True, type=click.IntRange(1, 3650))
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for the files.",
)
@click.option("--file-name", default=None, help="Base name of the files (default: nip-NIP-seal …).")
def cert(
    nip: str | None,
    pesel: str | None,
    kind: str | None,
    key_type: str,
    output_format: str,
    password: str | None,
    environment: str,
    url: str,
    name: str | None,
    valid_from: str | None,
    days: int,
    out_dir: str,
    file_name: str | None,
) -> None:
    from mockksef import credentials as creds
    from mockksef.clock import Clock, format_datetime_seconds, parse_datetime
    from mockksef.crypto import fingerprint

    # 1. Every argument, before anything is made.
    if (nip is None) == (pesel is None):
        _usage("cert", "give the owner: --nip NIP or --pesel PESEL (one of them)")
    if nip is not None and not NIP_FORM.fullmatch(nip):
        _usage("cert", f"--nip {nip}: not a NIP (10 digits, not starting with 0)")
    if pesel is not None and not PESEL_FORM.fullmatch(pesel):
        _usage("cert", f"--pesel {pesel}: not a PESEL (11 digits)")
    if kind == "seal" and pesel is not None:
        _usage("cert", "--seal is a company's: give --nip, or --personal for a PESEL")
    if password and output_format == "pem":
        _usage("cert", "--password encrypts the PFX: add --format pfx or --format both")
    start = None
    if valid_from is not None:
        try:
            start = parse_datetime(valid_from)
        except ValueError:
            _usage("cert", f"--valid-from {valid_from}: not an ISO date-time (2026-03-02T09:00Z)")
    chosen_kind = kind or ("seal" if nip else "personal")
    owner = {"nip": nip} if nip else {"pesel": pesel}
    stem = file_name or f"{'nip' if nip else 'pesel'}-{nip or pesel}-{chosen_kind}"
    formats = ("pem", "pfx") if output_format == "both" else (output_format,)

    # 2. The certificate: self-signed here, or the key's CSR signed by the mock CA.
    now = Clock().now()
    made = creds.new_certificate(
        nip=nip,
        pesel=pesel,
        kind=chosen_kind,  # type: ignore[arg-type]
        key_type=key_type,  # type: ignore[arg-type]
        name=name,
        valid_from=start or creds.default_valid_from(now),
        days=days,
    )
    certificate = made.certificate
    issuer = "self-signed"
    if environment != "test":
        from cryptography import x509

        item: dict[str, object] = {
            "owner": owner,
            "csr": creds.certificate_request(made).decode("ascii"),
            "name": name or f"Certyfikat {nip or pesel}",
        }
        if start is not None:
            item["valid_from"] = valid_from
        body = {"environment": environment, "setup": {"certificates": [item]}}
        seeded = _admin("mockksef cert", url, "POST", "/_mock/seed", ok=201, json=body)
        issued = seeded["seeded"][environment]["certificates"][0]
        certificate = x509.load_pem_x509_certificate(issued["certificate"].encode())
        issuer = f"issued by the {environment.upper()} mock CA of {url}"
    paths = creds.write_certificate(
        Path(out_dir), stem, certificate, made.private_key, formats, password
    )
    key_name = "EC P-256" if key_type == "ec" else "RSA 2048"
    click.echo(
        f"{chosen_kind} certificate for {'NIP' if nip else 'PESEL'} {nip or pesel}, "
        f"{key_name}, {issuer}"
    )
    click.echo(
        f"  valid {format_datetime_seconds(certificate.not_valid_before_utc)} to "
        f"{format_datetime_seconds(certificate.not_valid_after_utc)}"
    )
    click.echo(f"  fingerprint (SHA-256): {fingerprint(certificate)}")
    for path in paths:
        click.echo(f"  {path}")
