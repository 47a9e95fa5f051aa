"""``ksefclient`` / ``python -m ksefclient``: the everyday jobs from a shell.

Commands: ``authenticate``, ``send``, ``import-new``, ``download``, ``upo``.
Every command prints JSON (one object per line) on stdout; errors go to stderr
as one line in plain words. Exit codes: 0 done, 1 KSeF refused or failed (also
when it rejected any invoice sent), 2 bad usage or configuration (checked before
any request), 3 a transient failure outlasted the retries (a rate limit, a
server down: reported within seconds).

``import-new`` stores each invoice and then the checkpoint as it goes, so an
import cut short (a rate limit, a crash) continues where it stopped; when more
invoices are due than the hour's download budget allows it exports them instead.

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
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any, NoReturn, TextIO

import httpx

from ksefclient._auth import AuthTokens, CertificateCredentials, KsefTokenCredentials
from ksefclient._exceptions import (
    TRANSIENT_ERRORS,
    KsefApiError,
    KsefConfigurationError,
    KsefError,
    KsefIntegrityError,
    KsefRateLimitError,
    KsefServerError,
    KsefStatusError,
    KsefTimeoutError,
    KsefTransportError,
)
from ksefclient._models import (
    FA2,
    FA3,
    FA_RR,
    Checkpoint,
    FormCode,
    ImportedInvoice,
    parse_datetime,
)
from ksefclient._sync import KsefClient

__all__ = ["FORMS", "main"]

FORMS: dict[str, FormCode] = {"FA3": FA3, "FA2": FA2, "FA_RR": FA_RR}
_ENVIRONMENTS = ("test", "demo", "prod")
_SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")
# What the context issued and what it received: the invoices a connector books.
_DEFAULT_SUBJECT_TYPES = ("Subject1", "Subject2")
# With the client's 8 s for a server that takes no connection (RetryPolicy), a
# silent address is reported within 10 s, a refusing one within 8 s.
_CONNECT_TIMEOUT = 2.5


class _UsageError(Exception):
    """A wrong argument, found before any request: one line, exit code 2."""


class _Refused(Exception):
    """KSeF answered, and the answer is a refusal (exit code 1)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints its usage block first; one line says what is wrong.
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = _Parser(prog="ksefclient", description="KSeF 2.0 from the command line.")
    parser.add_argument("--env", default=env("KSEF_ENV"), help="test, demo or prod (default: test)")
    parser.add_argument(
        "--base-url", default=env("KSEF_BASE_URL"), help="another base URL (a mock)"
    )
    parser.add_argument("--nip", default=env("KSEF_NIP"), help="the context NIP")
    parser.add_argument(
        "--token", default=env("KSEF_TOKEN"), help="a KSeF token (better: KSEF_TOKEN)"
    )
    parser.add_argument(
        "--cert",
        default=env("KSEF_CERT") or env("KSEF_P12"),
        help="certificate (PEM, or PKCS#12 without --key; password in KSEF_PASSWORD)",
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

    new = commands.add_parser(
        "import-new", help="download every invoice new since the checkpoint, saving as it goes"
    )
    new.add_argument("--checkpoint", type=Path, required=True, help="JSON file, created if missing")
    new.add_argument(
        "--since",
        help="start of a new checkpoint (ISO date-time; default: 30 days back, by KSeF's clock)",
    )
    new.add_argument(
        "--subject-type",
        action="append",
        choices=_SUBJECT_TYPES,
        help="Subject1: issued by the context; Subject2: received; repeatable "
        "(default: Subject1 and Subject2)",
    )
    new.add_argument("--out", type=Path, required=True, help="directory for the XML files")
    new.add_argument(
        "--use-export",
        action="store_true",
        help="always use an encrypted export (default: when downloads one by one would "
        "exceed the hour's budget)",
    )

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


# -- checking the arguments (before any request) ----------------------------------------------


def _check(args: argparse.Namespace) -> None:
    if args.env is not None and args.env.lower() not in _ENVIRONMENTS:
        raise _UsageError(f"--env {args.env}: use test, demo or prod")
    if args.base_url is not None and not args.base_url.startswith(("http://", "https://")):
        raise _UsageError(f"--base-url {args.base_url}: give an http:// or https:// address")
    if args.nip is not None and not (len(args.nip) == 10 and args.nip.isdigit()):
        raise _UsageError(f"--nip {args.nip}: a NIP has 10 digits")
    if args.token and args.cert:
        raise _UsageError("give a KSeF token (--token) or a certificate (--cert), not both")
    if args.key and not args.cert:
        raise _UsageError("--key goes with --cert (the certificate it belongs to)")
    for option, value in (("--cert", args.cert), ("--key", args.key)):
        if value and not Path(value).is_file():
            raise _UsageError(f"{option} {value}: no such file")
    resumable = args.session_file is not None and args.session_file.is_file()
    if not (args.token or args.cert or resumable):
        raise _UsageError(
            "give credentials: a KSeF token (--token or KSEF_TOKEN) or a certificate "
            "(--cert and --key, or a PKCS#12 file; or KSEF_CERT/KSEF_KEY)"
        )
    if not (args.nip or args.token):
        raise _UsageError("give the context NIP: --nip or KSEF_NIP")
    if args.command == "send":
        missing = [str(p) for p in args.files if not p.is_file()]
        if missing:
            raise _UsageError(f"no such invoice file: {', '.join(missing)}")
    if args.command == "import-new":
        if args.since is not None:
            try:
                parse_datetime(args.since)
            except ValueError:
                raise _UsageError(
                    f"--since {args.since}: not an ISO date-time (e.g. 2026-02-01T00:00:00Z)"
                ) from None
        _Checkpoints.load(args.checkpoint)  # a damaged file is refused before any request
        if args.out.exists() and not args.out.is_dir():
            raise _UsageError(f"--out {args.out}: not a directory")


# -- the client -----------------------------------------------------------------------------------


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
        try:
            tokens = AuthTokens.from_json(json.loads(args.session_file.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            raise _UsageError(f"--session-file {args.session_file}: not a session file") from None
    kwargs.setdefault("timeout", httpx.Timeout(30.0, connect=_CONNECT_TIMEOUT))
    return KsefClient(
        args.env and args.env.lower(),
        base_url=args.base_url,
        nip=args.nip,
        credentials=_credentials(args),
        tokens=tokens,
        **kwargs,
    )


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _save(args: argparse.Namespace, client: KsefClient) -> None:
    if args.session_file and client.tokens is not None:
        _write_private(args.session_file, json.dumps(client.tokens.to_json()))


def _write_atomically(path: Path, data: bytes) -> None:
    """Whole or not at all: a crash never leaves half a file that looks done."""
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)


def _emit(out: TextIO, **fields: Any) -> None:
    out.write(json.dumps(fields, ensure_ascii=False, default=str) + "\n")
    out.flush()


# -- the commands ------------------------------------------------------------------------------------


class _Checkpoints:
    """The checkpoint file: one checkpoint per subject type (an older file holds just one)."""

    def __init__(self, path: Path, items: dict[str, Checkpoint]) -> None:
        self.path = path
        self.items = items

    @classmethod
    def load(cls, path: Path) -> _Checkpoints:
        if not path.exists():
            return cls(path, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            raw = [data] if "subjectType" in data else list(data["checkpoints"].values())
            found = [Checkpoint.from_json(json.dumps(item)) for item in raw]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _UsageError(
                f"--checkpoint {path}: not a checkpoint file (move it away to start afresh)"
            ) from None
        return cls(path, {c.subject_type: c for c in found})

    def save(self, checkpoint: Checkpoint) -> None:
        self.items[checkpoint.subject_type] = checkpoint
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.path, self.to_json().encode("utf-8"))

    def to_json(self) -> str:
        checkpoints = {name: json.loads(c.to_json()) for name, c in sorted(self.items.items())}
        return json.dumps({"checkpoints": checkpoints}, indent=1, sort_keys=True)


def _import_new(args: argparse.Namespace, client: KsefClient, out: TextIO) -> None:
    store = _Checkpoints.load(args.checkpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = 0

    def stored(item: ImportedInvoice, progress: Checkpoint) -> None:
        nonlocal saved
        if item.xml is not None:
            _write_atomically(args.out / f"{item.ksef_number}.xml", item.xml)
        # After the invoice is on disk: a crash in between imports it again, never skips it.
        store.save(progress)
        saved += 1
        _emit(
            out,
            subjectType=progress.subject_type,
            ksefNumber=item.ksef_number,
            invoiceNumber=item.metadata.invoice_number,
        )

    try:
        for subject_type in args.subject_type or _DEFAULT_SUBJECT_TYPES:
            checkpoint = store.items.get(subject_type) or Checkpoint.start(
                _since(args, client), subject_type
            )
            result = client.import_new(
                checkpoint, use_export=True if args.use_export else None, on_invoice=stored
            )
            store.save(result.checkpoint)
    except KsefError:
        _emit(out, imported=saved, complete=False, checkpoint=json.loads(store.to_json()))
        raise
    _emit(out, imported=saved, complete=True, checkpoint=json.loads(store.to_json()))


def _since(args: argparse.Namespace, client: KsefClient) -> datetime:
    if args.since:
        return parse_datetime(args.since)
    # KSeF's clock, not this machine's (a fresh challenge tells it): from the start of that day.
    client.authenticate()
    day = (client.server_time - timedelta(days=30)).date()
    return datetime.combine(day, time_of_day(0), UTC)


def _send(args: argparse.Namespace, client: KsefClient, out: TextIO) -> None:
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
    refused = [name for name, status in rows if status is None or status.status.code != 200]
    if refused:
        count = f"{len(refused)} of {len(rows)}"
        raise _Refused(f"KSeF did not accept {count} invoices: {', '.join(refused)}")


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
        _send(args, client, out)
    elif args.command == "import-new":
        _import_new(args, client, out)
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


# -- waits ---------------------------------------------------------------------------------------------

# Shorter waits pass unannounced; a longer one (Retry-After, polling) shows a countdown.
_ANNOUNCED_WAIT = 2.0


def _sleeper(err: TextIO) -> Callable[[float], None]:
    """``time.sleep``, with a countdown bar on ``err`` for waits over 2 s when it is a terminal."""
    if not err.isatty():
        return time.sleep

    def sleep(seconds: float) -> None:
        if seconds <= _ANNOUNCED_WAIT:
            time.sleep(seconds)
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(file=err), transient=True) as bar:
            task = bar.add_task(f"ksefclient: waiting {seconds:.0f} s", total=seconds)
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(0.2, left))
                bar.update(task, completed=seconds - max(left - 0.2, 0.0))

    return sleep


# -- errors in plain words ---------------------------------------------------------------------------


def _explain(error: BaseException, base_url: str) -> tuple[int, str]:
    """The exit code and the one line a person reads for ``error``."""
    if isinstance(error, _UsageError | KsefConfigurationError):
        return 2, str(error)
    if isinstance(error, _Refused):
        return 1, str(error)
    if isinstance(error, KsefTransportError):
        cause = error.__cause__
        reason = _reason(cause) if cause is not None else str(error)
        if not error.connected:
            return 3, f"cannot connect to {base_url} ({reason}): is the server running there?"
        return 3, f"the connection to {base_url} kept failing ({reason}); try again later"
    if isinstance(error, KsefRateLimitError):
        wait = f"{error.retry_after:.0f} s" if error.retry_after is not None else "a while"
        return 3, f"KSeF's rate limit: it asks to wait {wait} (HTTP 429); run again then"
    if isinstance(error, KsefServerError):
        return 3, f"KSeF is unavailable (HTTP {error.status_code}): {error}"
    if isinstance(error, TRANSIENT_ERRORS):
        return 3, f"gave up after retries: {error}"
    if isinstance(error, KsefTimeoutError):
        return 3, f"gave up waiting: {error}"
    if isinstance(error, KsefIntegrityError):
        return 1, f"a download arrived damaged: {error}"
    if isinstance(error, KsefApiError):
        return 1, f"KSeF refused (HTTP {error.status_code}): {error}"
    if isinstance(error, KsefStatusError | KsefError):
        return 1, f"KSeF refused: {error}"
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return 2, f"cannot use{where}: {error.strerror or error}"
    raise error


def _reason(cause: BaseException) -> str:
    text = str(cause.args[0] if cause.args else cause)
    # "[Errno 111] Connection refused" -> "connection refused"
    if "] " in text:
        text = text.split("] ", 1)[1]
    return text[:1].lower() + text[1:] if text else type(cause).__name__


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
    base_url = args.base_url or f"KSeF {(args.env or 'test').upper()}"
    client: KsefClient | None = None
    client_options.setdefault("sleep", _sleeper(err))
    try:
        _check(args)
        client = _client(args, **client_options)
        base_url = client.base_url
        _run(args, client, out)
    except (KsefError, _UsageError, _Refused, OSError) as error:
        code, message = _explain(error, base_url)
        err.write(f"ksefclient: {message}\n")
        return code
    finally:
        if client is not None:
            _save(args, client)
            client.close()
    return 0
