"""An ERP connector's working day, played by the bundled client against the mock.

A drill's trainees see what a customer sees: not the journal first, but the
connector's messages — "KSeF2 GetInvoicesAsync – HTTP 403 Dostęp zabroniony".
``run_day`` plays the day with ``ksefclient`` in-process (httpx over ASGI, no
socket), in the server's own event loop:

1. log in (a KSeF token or a certificate);
2. send two FA(3) invoices in an online session;
3. import purchase invoices (``import_new`` as buyer, the last 30 days);
4. list sales invoices and download the newest.

The day stops after a failed login, as a connector would; other failed steps
are reported and the day goes on. Every wait of the client (``Retry-After``,
polling) moves the mock's Clock instead of sleeping. Messages quote what the
client raised (HTTP status, KSeF code, official Polish text) but not the
client's English explanation and fix: finding those is the trainee's job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

import ksefclient
from mockksef.explain import HTTP_STATUSES
from mockksef.invoicegen import InvoiceGenerator

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from mockksef.state import MockState

DEFAULT_NIP = "5265877635"
BASE_HOST = "http://connector.mockksef"


@dataclass(frozen=True)
class Credential:
    """What the connector logs in with: a KSeF token, or a certificate and its key (PEM)."""

    kind: str  # "token" | "certificate"
    label: str
    context: str
    token: str | None = None
    certificate: str | None = None
    private_key: str | None = None

    def client_credentials(self) -> Any:
        if self.kind == "token":
            return ksefclient.KsefTokenCredentials(self.token or "")
        return ksefclient.CertificateCredentials.from_pem(
            (self.certificate or "").encode(), (self.private_key or "").encode()
        )


def _origin(scenario: str, environment: str, item: Mapping[str, Any]) -> tuple[str, str]:
    """The label and context NIP of a token or certificate a scenario set up."""
    return f"{scenario}/{item.get('id')} ({environment})", str(item.get("context") or DEFAULT_NIP)


def credentials_of(reports: Mapping[str, Mapping[str, Any]]) -> list[Credential]:
    """Tokens and certificates the activated scenarios set up, in their order."""
    out: list[Credential] = []
    for scenario, report in reports.items():
        for environment, setup in (report.get("setup") or {}).items():
            for token in setup.get("tokens") or ():
                if token.get("token"):
                    label, context = _origin(scenario, environment, token)
                    out.append(Credential("token", label, context, token=str(token["token"])))
            for cert in setup.get("certificates") or ():
                if cert.get("certificate") and cert.get("privateKey"):
                    label, context = _origin(scenario, environment, cert)
                    pem, key = str(cert["certificate"]), str(cert["privateKey"])
                    out.append(
                        Credential("certificate", label, context, certificate=pem, private_key=key)
                    )
    return out


def pick_credential(candidates: Sequence[Credential]) -> Credential | None:
    """The one a drill's connector uses: the first the scenario did not label "valid".

    Catalogue scenarios that set up several credentials list the broken ones
    and a working "valid" one for comparison; the drill wants the broken one.
    """
    for item in candidates:
        if not item.label.split("/", 1)[-1].startswith("valid"):
            return item
    return candidates[0] if candidates else None


def fresh_token(state: MockState, environment: str, nip: str) -> Credential:
    """A working token for a scenario that sets up none (through the seeding verb)."""
    report = state.scenarios.seed(
        {
            "subjects": [{"nip": nip, "name": "Firma szkoleniowa sp. z o.o."}],
            "tokens": [
                {
                    "id": "connector",
                    "context": nip,
                    "permissions": ["InvoiceRead", "InvoiceWrite"],
                    "description": "Konektor ERP",
                }
            ],
        },
        environment=environment,
    )
    token = report[environment]["tokens"][0]["token"]
    return Credential("token", f"connector ({environment})", nip, token=str(token))


# -- messages as a connector shows them ---------------------------------------------------------


@dataclass(frozen=True)
class Line:
    level: str  # "info" | "ok" | "error"
    operation: str
    pl: str
    en: str


Say = Callable[[Line], None]


def describe_error(error: BaseException) -> tuple[str, str]:
    """(Polish, English) text of a client error, as a connector's log shows it."""
    if isinstance(error, ksefclient.KsefStatusError):
        details = f" [{'; '.join(error.details)}]" if error.details else ""
        text = f"status {error.code} {error.description}{details}"
        return f"operacja zakończona {text}", f"operation ended with {text}"
    if isinstance(error, ksefclient.KsefApiError):
        status = error.status_code
        info = HTTP_STATUSES.get(status)
        pl = f"HTTP {status} {info.polish if info else ''}".strip()
        en = f"HTTP {status} {info.english if info else ''}".strip()
        parts = [
            f"{e.code} {e.description}" + (f" [{'; '.join(e.details)}]" if e.details else "")
            for e in error.errors
        ]
        if isinstance(error, ksefclient.KsefForbiddenError) and error.reason_code:
            parts.append(f"reasonCode {error.reason_code}")
        detail = error.problem.get("detail") if error.problem else None
        if detail and not error.errors:
            parts.append(str(detail))
        retry = getattr(error, "retry_after", None)
        tail = f": {'; '.join(parts)}" if parts else ""
        if retry:
            return (
                f"{pl}{tail} (ponów po {retry:g} s)",
                f"{en}{tail} (retry after {retry:g} s)",
            )
        return pl + tail, en + tail
    if isinstance(error, ksefclient.KsefTransportError):
        return f"brak połączenia z KSeF: {error}", f"no connection to KSeF: {error}"
    if isinstance(error, ksefclient.KsefConfigurationError):
        return f"błąd konfiguracji: {error}", f"configuration error: {error}"
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"{type(error).__name__}: {first}", f"{type(error).__name__}: {first}"


# -- the day -------------------------------------------------------------------------------------


# What a step reports when it went well: (level, Polish, English) lines.
Report = list[tuple[str, str, str]]


async def run_day(
    state: MockState,
    app: ASGIApp,
    environment: str,
    credential: Credential,
    say: Say,
    *,
    nip: str | None = None,
    seed: int = 0,
) -> None:
    """Play the connector's day; every outcome goes to ``say``. Never raises a client error."""
    nip = nip or credential.context
    clock = state.clock
    env = environment.upper()

    async def wait(seconds: float) -> None:
        if seconds > 0:
            clock.advance(seconds)

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_HOST, timeout=30) as http:
        client: ksefclient.AsyncKsefClient | None = None
        newest: list[str] = []

        async def log_in() -> Report:
            nonlocal client
            client = ksefclient.AsyncKsefClient(
                base_url=f"{BASE_HOST}/{environment}/v2",
                nip=nip,
                credentials=credential.client_credentials(),
                http_client=http,
                sleep=wait,
                clock=clock.timestamp,
                # A Retry-After of minutes is reported, as many connectors do, not waited out.
                retry=ksefclient.RetryPolicy(max_attempts=3, max_retry_after=60.0),
            )
            tokens = await client.authenticate()
            granted = ", ".join(getattr(tokens, "permissions", ()) or ()) or "—"
            return [
                (
                    "ok",
                    f"Zalogowano (uprawnienia: {granted}).",
                    f"Logged in (permissions: {granted}).",
                )
            ]

        async def send() -> Report:
            assert client is not None
            now = clock.now()
            generator = InvoiceGenerator(seed)
            documents = [
                generator.document(seller=nip, number=f"FV/{now:%Y/%m}/{n:03d}", invoicing=now)
                for n in (1, 2)
            ]
            result = await client.send_invoices(documents)
            report: Report = []
            accepted = [i for i in result.invoices if i.is_accepted]
            if accepted:
                numbers = ", ".join(str(i.ksef_number) for i in accepted)
                report.append(
                    (
                        "ok",
                        f"Wysłano faktury ({len(accepted)}): {numbers}.",
                        f"Sent {len(accepted)} invoice(s): {numbers}.",
                    )
                )
            for item in result.invoices:
                if not item.is_accepted:
                    details = (
                        f" [{'; '.join(item.status.details or ())}]" if item.status.details else ""
                    )
                    text = f"{item.invoice_number or item.reference_number}: status {item.status.code} {item.status.description}{details}"
                    report.append(
                        ("error", f"Faktura odrzucona {text}", f"Invoice rejected {text}")
                    )
            return report

        async def import_purchases() -> Report:
            assert client is not None
            since = clock.now() - timedelta(days=30)
            imported = await client.import_new(ksefclient.Checkpoint.start(since, "Subject2"))
            n = len(imported.invoices)
            return [
                ("ok", f"Zaimportowano faktury zakupowe: {n}.", f"Imported {n} purchase invoices.")
            ]

        async def list_sales() -> Report:
            assert client is not None
            filters = ksefclient.InvoiceQueryFilters(
                "Subject1",
                ksefclient.DateRange("PermanentStorage", clock.now() - timedelta(days=30)),
            )
            page = await client.query_invoice_metadata(filters, page_size=100, sort_order="Desc")
            newest.extend(i.ksef_number for i in page.invoices[:1])
            n = len(page.invoices)
            return [("ok", f"Lista faktur sprzedaży: {n} pozycji.", f"Sales invoices listed: {n}.")]

        async def download() -> Report:
            if client is None or not newest:
                return []
            xml = await client.download_invoice(newest[0])
            return [
                (
                    "ok",
                    f"Pobrano fakturę {newest[0]} ({len(xml)} B).",
                    f"Downloaded invoice {newest[0]} ({len(xml)} B).",
                )
            ]

        say(
            Line(
                "info",
                "AuthenticateAsync",
                f"Łączenie z KSeF ({env}), NIP {nip}…",
                f"Connecting to KSeF ({env}), NIP {nip}…",
            )
        )
        steps = (
            ("AuthenticateAsync", log_in),
            ("SendInvoicesAsync", send),
            ("ImportPurchasesAsync", import_purchases),
            ("GetInvoicesAsync", list_sales),
            ("DownloadInvoiceAsync", download),
        )
        for operation, step in steps:
            try:
                for level, pl, en in await step():
                    say(Line(level, operation, pl, en))
            except ksefclient.KsefError as error:
                _failed(say, operation, error)
                if client is None or step is log_in:
                    say(
                        Line(
                            "error",
                            operation,
                            "Synchronizacja przerwana: brak zalogowania.",
                            "Synchronisation stopped: not logged in.",
                        )
                    )
                    return
        say(Line("info", "SynchronizeAsync", "Koniec synchronizacji.", "Synchronisation finished."))


def _failed(say: Say, operation: str, error: BaseException) -> None:
    pl, en = describe_error(error)
    say(Line("error", operation, pl, en))
