"""``ksefclient`` / ``python -m ksefclient``: the everyday jobs from a shell.

Commands: ``authenticate``, ``send``, ``import-new``, ``download``, ``upo``.
Every command prints JSON (one object per line) on stdout; errors go to stderr
with the English explanation. Exit codes: 0 done, 1 KSeF refused or failed,
2 bad usage or configuration, 3 a transient failure outlasted the retries.

Credentials and settings come from options or the environment: ``KSEF_ENV``,
``KSEF_BASE_URL``, ``KSEF_NIP``, ``KSEF_TOKEN``, ``KSEF_CERT``/``KSEF_KEY`` (PEM)
or ``KSEF_P12``, ``KSEF_PASSWORD``. ``--session-file`` keeps the access and
refresh tokens between commands (written with mode 0600).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from ksefclient._auth import AuthTokens, CertificateCredentials, KsefTokenCredentials
from ksefclient._exceptions import (
    TRANSIENT_ERRORS,
    KsefConfigurationError,
    KsefError,
)
from ksefclient._models import FA2, FA3, FA_RR, Checkpoint, FormCode, parse_datetime
from ksefclient._sync import KsefClient

__all__ = ["FORMS", "main"]

FORMS: dict[str, FormCode] = {"FA3": FA3, "FA2": FA2, "FA_RR": FA_RR}


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="ksefclient", description="KSeF 2.0 from the command line."
    )
    parser.add_argument("--env", default=env("KSEF_ENV"), help="test, demo or prod (default: test)")
    parser.add_argument(
        "--base-url", default=env("KSEF_BASE_URL"), help="another base URL (a mock)"
    )
    parser.add_argument("--nip", default=env("KSEF_NIP"), help="the context NIP")
    parser.add_argument(
        "--token", default=env("KSEF_TOKEN"), help="a KSeF token (better: KSEF_TOKEN)"
    )
    parser.add_argument(
        "--cert", default=env("KSEF_CERT"), help="certificate (PEM, or PKCS#12 without --key)"
    )
    parser.add_argument("--key", default=env("KSEF_KEY"), help="private key (PEM)")
    parser.add_argument(
        "--session-file", type=Path, help="keep tokens here between commands (mode 0600)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("authenticate", help="authenticate and print the session")

    send = commands.add_parser("send", help="send invoices (online session, or --batch)")
    send.add_argument("files", nargs="+", type=Path)
    send.add_argument("--batch", action="store_true", help="one batch session instead of online")
    send.add_argument("--form", choices=sorted(FORMS), default="FA3")
    send.add_argument("--offline", action="store_true", help="declare offline issuing")

    new = commands.add_parser("import-new", help="download every invoice new since the checkpoint")
    new.add_argument("--checkpoint", type=Path, required=True, help="JSON file, created if missing")
    new.add_argument(
        "--since", help="start of a new checkpoint (ISO date-time; default 30 days ago)"
    )
    new.add_argument(
        "--subject-type",
        default="Subject1",
        choices=["Subject1", "Subject2", "Subject3", "SubjectAuthorized"],
        help="Subject1: issued by the context; Subject2: received",
    )
    new.add_argument("--out", type=Path, required=True, help="directory for the XML files")
    new.add_argument("--use-export", action="store_true", help="use an encrypted export")

    download = commands.add_parser("download", help="one invoice by KSeF number")
    download.add_argument("ksef_number")
    download.add_argument("-o", "--output", type=Path, help="file (default: stdout)")

    upo = commands.add_parser("upo", help="UPO of an invoice or of a whole session")
    upo.add_argument("--session", required=True, help="session reference number")
    which = upo.add_mutually_exclusive_group(required=True)
    which.add_argument("--ksef-number")
    which.add_argument("--invoice-reference")
    which.add_argument("--all", action="store_true", help="the session's collective UPO pages")
    upo.add_argument("-o", "--output", type=Path, help="file, or directory with --all")
    return parser


def _credentials(args: argparse.Namespace) -> KsefTokenCredentials | CertificateCredentials | None:
    if args.token:
        return KsefTokenCredentials(args.token)
    if args.cert:
        password = os.environ.get("KSEF_PASSWORD")
        return CertificateCredentials.from_files(args.cert, args.key, password)
    return None


def _client(args: argparse.Namespace, **kwargs: Any) -> KsefClient:
    tokens = None
    if args.session_file and args.session_file.exists():
        tokens = AuthTokens.from_json(json.loads(args.session_file.read_text(encoding="utf-8")))
    return KsefClient(
        args.env,
        base_url=args.base_url,
        nip=args.nip,
        credentials=_credentials(args),
        tokens=tokens,
        **kwargs,
    )


def _save(args: argparse.Namespace, client: KsefClient) -> None:
    if not args.session_file or client.tokens is None:
        return
    path: Path = args.session_file
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(client.tokens.to_json(), handle)


def _emit(out: TextIO, **fields: Any) -> None:
    out.write(json.dumps(fields, ensure_ascii=False, default=str) + "\n")


def _run(args: argparse.Namespace, client: KsefClient, out: TextIO) -> None:
    if args.command == "authenticate":
        tokens = client.authenticate()
        _emit(
            out,
            referenceNumber=tokens.reference_number,
            context=client.context.value,
            permissions=list(tokens.permissions),
            accessTokenValidUntil=tokens.access_token.valid_until.isoformat(),
        )
    elif args.command == "send":
        documents = [path.read_bytes() for path in args.files]
        form = FORMS[args.form]
        if args.batch:
            result = client.send_batch(
                {p.name: d for p, d in zip(args.files, documents, strict=True)},
                form,
                offline_mode=args.offline,
            )
            names = {s.invoice_file_name: s for s in result.invoices}
            rows = [(p.name, names.get(p.name)) for p in args.files]
        else:
            result = client.send_invoices(documents, form, offline_mode=args.offline)
            rows = [(p.name, s) for p, s in zip(args.files, result.invoices, strict=True)]
        session = result.reference_number
        for name, status in rows:
            _emit(
                out,
                file=name,
                session=session,
                referenceNumber=status.reference_number if status else None,
                status=status.status.code if status else None,
                description=status.status.description if status else None,
                details=list(status.status.details) if status else None,
                ksefNumber=status.ksef_number if status else None,
            )
    elif args.command == "import-new":
        if args.checkpoint.exists():
            checkpoint = Checkpoint.from_json(args.checkpoint.read_text(encoding="utf-8"))
        else:
            since = (
                parse_datetime(args.since) if args.since else datetime.now(UTC) - timedelta(days=30)
            )
            checkpoint = Checkpoint.start(since, args.subject_type)
        imported = client.import_new(checkpoint, use_export=args.use_export)
        args.out.mkdir(parents=True, exist_ok=True)
        for item in imported.invoices:
            if item.xml is not None:
                (args.out / f"{item.ksef_number}.xml").write_bytes(item.xml)
            _emit(out, ksefNumber=item.ksef_number, invoiceNumber=item.metadata.invoice_number)
        # Saved only after the invoices are on disk: a crash re-imports, never skips.
        args.checkpoint.write_text(imported.checkpoint.to_json(), encoding="utf-8")
        _emit(
            out,
            imported=len(imported.invoices),
            checkpoint=json.loads(imported.checkpoint.to_json()),
        )
    elif args.command == "download":
        data = client.download_invoice(args.ksef_number)
        if args.output:
            args.output.write_bytes(data)
            _emit(out, ksefNumber=args.ksef_number, file=str(args.output), size=len(data))
        else:
            out.write(data.decode("utf-8"))
    elif args.command == "upo":
        if args.all:
            pages = client.session_upo(args.session)
            target = args.output or Path(".")
            target.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(pages, 1):
                path = target / f"upo-{args.session}-{number}.xml"
                path.write_bytes(page)
                _emit(out, session=args.session, file=str(path))
            return
        data = client.invoice_upo(
            args.session, ksef_number=args.ksef_number, invoice_reference=args.invoice_reference
        )
        if args.output:
            args.output.write_bytes(data)
            _emit(out, session=args.session, file=str(args.output))
        else:
            out.write(data.decode("utf-8"))


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    **client_options: Any,
) -> int:
    """Run the CLI; ``client_options`` reach ``KsefClient`` (tests inject an http client)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    try:
        client = _client(args, **client_options)
        try:
            _run(args, client, out)
        finally:
            _save(args, client)
            client.close()
    except KsefConfigurationError as error:
        err.write(f"ksefclient: configuration: {error}\n")
        return 2
    except TRANSIENT_ERRORS as error:
        err.write(f"ksefclient: gave up after retries: {error}\n")
        return 3
    except KsefError as error:
        err.write(f"ksefclient: {type(error).__name__}: {error}\n")
        return 1
    except OSError as error:
        err.write(f"ksefclient: {error}\n")
        return 2
    return 0
