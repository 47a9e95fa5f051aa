"""``mockksef cert``: test certificates, self-signed (TEST) or from a mock CA (DEMO, PROD)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from mockksef.cli import (
    _URL_OPTION,
    ENVIRONMENT_CHOICE,
    NIP_FORM,
    PESEL_FORM,
    OneLineErrors,
    _admin,
    main,
)


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
@click.option("--env", "environment", default="test", show_default=True, type=ENVIRONMENT_CHOICE)
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
