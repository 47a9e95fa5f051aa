"""``mockksef contract``: the contract harness against a KSeF server."""

from __future__ import annotations

import sys

import click

from mockksef import official
from mockksef.cli import _http_url, _nip, main

# What `pip install 'mockksef[contract]'` adds (pyproject.toml), by import name.
CONTRACT_EXTRA_MODULES = ("hypothesis", "schemathesis")


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
