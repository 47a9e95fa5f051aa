"""The one error catalogue and its renderer.

Every KSeF exception code the reference documents lives in ``CATALOGUE`` with its
HTTP status, the official Polish description (exact text) and an English gloss.
Backends raise the exceptions below; one handler renders them in the official
formats: the legacy ``ExceptionResponse`` by default, ``application/problem+json``
when the request carries ``X-Error-Format: problem-details``; 401, 403 and 410
are always problem+json. No route builds an error body by hand.

This module imports nothing from the project: renderers take plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CatalogueEntry:
    code: int
    description: str
    english: str
    http_status: int = 400


def _e(code: int, description: str, english: str, http_status: int = 400) -> CatalogueEntry:
    return CatalogueEntry(code, description, english, http_status)


CATALOGUE: dict[int, CatalogueEntry] = {
    e.code: e
    for e in [
        _e(
            9101,
            "Nieprawidłowy dokument.",
            "Invalid document: the XML is not a usable AuthTokenRequest.",
        ),
        _e(9102, "Brak podpisu.", "The document carries no ds:Signature."),
        _e(9103, "Przekroczona liczba dozwolonych podpisów.", "More than one signature."),
        _e(
            9105,
            "Nieprawidłowy podpis.",
            "Signature verification failed or uses a forbidden algorithm/transform.",
        ),
        _e(
            21001,
            "Nieczytelna treść.",
            "Unreadable content: the body is not valid XML/JSON or its Content-Type does not match.",
        ),
        _e(
            21111,
            "Nieprawidłowe wyzwanie autoryzacyjne.",
            "Unknown, expired or already used authorisation challenge.",
        ),
        _e(
            21115,
            "Nieprawidłowy certyfikat.",
            "Certificate unreadable or without a usable subject identifier.",
        ),
        _e(
            21117,
            "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
            "The context identifier value does not fit its type.",
        ),
        _e(
            21155,
            "Przekroczono dozwoloną liczbę faktur w sesji.",
            "Invoice count limit of the session exceeded.",
        ),
        _e(21157, "Nieprawidłowy rozmiar części pakietu.", "Invalid batch package part size."),
        # The spec's table says "pakietu"; the service answers "pakietów" (java
        # BatchIntegrationTest.shouldThrowWhileSendWithExceededPartCount, TEST 2026-04).
        _e(
            21161, "Przekroczono dozwoloną liczbę części pakietów.", "Too many batch package parts."
        ),
        _e(
            21164,
            "Faktura o podanym identyfikatorze nie istnieje.",
            "No invoice with this KSeF number.",
        ),
        _e(
            21165,
            "Faktura o podanym numerze KSeF nie jest jeszcze dostępna.",
            "The invoice is processed but not yet available.",
        ),
        _e(21166, "Korekta techniczna niedostępna.", "Technical correction unavailable."),
        _e(
            21167,
            "Status faktury nie pozwala na korektę techniczną.",
            "The invoice status does not allow a technical correction.",
        ),
        _e(
            21173,
            "Brak sesji o wskazanym numerze referencyjnym.",
            "No session with this reference number.",
        ),
        _e(
            21175,
            "Wynik zapytania o podanym identyfikatorze nie istnieje.",
            "No export/query result with this reference number.",
        ),
        _e(21178, "Nie znaleziono UPO dla podanych kryteriów.", "No UPO for these criteria."),
        _e(
            21180,
            "Status sesji nie pozwala na wykonanie operacji.",
            "The session status does not allow this operation.",
        ),
        _e(21181, "Nieprawidłowe żądanie eksportu faktur.", "Invalid invoice export request."),
        _e(21182, "Osiągnięto limit trwających eksportów.", "Concurrent export limit reached."),
        _e(
            21183,
            "Zakres filtrowania wykracza poza dostępny zakres danych.",
            "Filter range beyond the available data.",
        ),
        _e(
            21184,
            "Sesja tymczasowo niedostępna.",
            "The interactive session is paused for maintenance; retry or open a new session.",
        ),
        _e(
            21205,
            "Pakiet nie może być pusty.",
            "The package cannot be empty: a declared part was not uploaded.",
        ),
        _e(
            21208,
            "Czas oczekiwania na requesty upload lub finish został przekroczony.",
            "Upload/close wait time exceeded.",
        ),
        _e(21217, "Nieprawidłowe kodowanie znaków.", "Invalid character encoding."),
        _e(
            21301,
            "Brak autoryzacji.",
            "Not authorised: the authentication operation does not allow this.",
        ),
        _e(
            21304,
            "Brak uwierzytelnienia.",
            "No authentication: the authentication operation was not found.",
        ),
        _e(
            21308,
            "Próba wykorzystania metod autoryzacyjnych osoby zmarłej.",
            "Attempt to use a deceased person's credentials.",
        ),
        _e(
            21401,
            "Dokument nie jest zgodny ze schemą (xsd).",
            "The document does not conform to the XSD.",
        ),
        _e(21402, "Nieprawidłowy rozmiar pliku.", "Declared file size does not match the content."),
        _e(21403, "Nieprawidłowy skrót pliku.", "Declared file hash does not match the content."),
        _e(21405, "Błąd walidacji danych wejściowych.", "Input validation error."),
        _e(
            21406,
            "Konflikt podpisu i typu uwierzytelnienia.",
            "The signature conflicts with the authentication type.",
        ),
        _e(
            21418,
            "Przekazany token kontynuacji ma nieprawidłowy format.",
            "Malformed continuation token.",
        ),
        _e(
            21470,
            "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
            "Unknown or withdrawn public key id.",
        ),
        _e(
            25001,
            "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.",
            "CSR data are not available for this authentication method.",
        ),
        _e(
            25002,
            "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu uwierzytelnienia.",
            "A certificate enrollment is not possible for this authentication method.",
        ),
        _e(
            25003,
            "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.",
            "CSR data do not match the authenticating credential.",
        ),
        _e(
            25004,
            "Niepoprawny format CSR lub niepoprawny podpis CSR.",
            "Bad CSR format or signature.",
        ),
        _e(
            25005,
            "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.",
            "No certificate enrollment with this reference number.",
        ),
        _e(
            25006,
            "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.",
            "Certificate enrollment limit reached.",
        ),
        _e(
            25007,
            "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.",
            "Active certificate limit reached.",
        ),
        _e(
            25008,
            "Certyfikat o podanym numerze seryjnym nie istnieje.",
            "No certificate with this serial number.",
        ),
        _e(
            25009,
            "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, zablokowany lub nieważny.",
            "The certificate is already revoked, blocked or invalid.",
        ),
        _e(
            25010,
            "Nieprawidłowy typ lub długość klucza.",
            "Invalid key type or length (RSA-2048 or EC P-256 only).",
        ),
        _e(25011, "Nieprawidłowy algorytm podpisu CSR.", "Invalid CSR signature algorithm."),
        _e(
            26001,
            "Nie można nadać tokenowi uprawnień których nie posiadasz.",
            "A token cannot carry permissions its author lacks.",
        ),
        _e(
            26002,
            "Nie można wygenerować tokena dla obecnego typu kontekstu.",
            "Tokens can only be generated in Nip or InternalId contexts.",
        ),
        _e(
            30001,
            "Podmiot lub uprawnienie już istnieje.",
            "The entity or permission already exists.",
        ),
        _e(
            71001,
            "Faktura o podanym identyfikatorze nie istnieje.",
            "The invoice is unknown or not visible to the context.",
        ),
        _e(
            71002,
            "Faktura jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych.",
            "The invoice is already in the maximum number of collective identifiers.",
        ),
        _e(71004, "Faktury mają różnych sprzedawców.", "The invoices have different sellers."),
        _e(
            71005,
            "Powtórzony numer KSeF w żądaniu.",
            "The same KSeF number appears twice in the request.",
        ),
    ]
}

# 403 reason codes with their official Polish detail texts.
FORBIDDEN_REASONS: dict[str, str] = {
    "missing-permissions": "Brak wymaganych uprawnień do wykonania operacji w bieżącym kontekście.",
    "ip-not-allowed": "Żądanie pochodzi z adresu IP innego niż wskazany podczas uwierzytelnienia.",
    "insufficient-resource-access": "Brak dostępu do wskazanego zasobu.",
    "auth-method-not-allowed": "Ta operacja nie jest dostępna dla użytej metody uwierzytelnienia.",
    "security-service-blocked": "Żądanie zostało zablokowane przez mechanizmy bezpieczeństwa.",
    "context-type-not-allowed": "Operacja nie jest dostępna dla uwierzytelnionego typu kontekstu.",
}

UNAUTHORIZED_DETAIL = "Wymagane jest uwierzytelnienie."
GONE_DETAIL = "Operacja wygasła i nie jest już dostępna."
BAD_REQUEST_DETAIL = "Żądanie jest nieprawidłowe."


@dataclass(frozen=True)
class ApiError:
    """One entry of a 400 answer (``exceptionDetailList`` / ``errors``)."""

    code: int
    details: tuple[str, ...] = ()
    # Some endpoints word a shared code differently (21418 on the IZ endpoints).
    wording: str | None = None

    @property
    def description(self) -> str:
        return self.wording or CATALOGUE[self.code].description


class MockError(Exception):
    """Base of every error the mock answers with."""

    status: int = 500
    problem_only: bool = False
    headers: dict[str, str]

    def __init__(self) -> None:
        super().__init__()
        self.headers = {}


class KsefError(MockError):
    """A 400 (or other catalogue status) with one or more exception codes."""

    def __init__(
        self,
        code: int,
        *details: str,
        more: Sequence[ApiError] = (),
        wording: str | None = None,
    ) -> None:
        super().__init__()
        if code not in CATALOGUE:
            raise ValueError(f"exception code {code} is not in the catalogue")
        self.errors: list[ApiError] = [ApiError(code, tuple(details), wording), *more]
        self.status = CATALOGUE[code].http_status

    @property
    def code(self) -> int:
        return self.errors[0].code

    def __str__(self) -> str:
        return " | ".join(
            f"{e.code}: {e.description}" + (f" - {'; '.join(e.details)}" if e.details else "")
            for e in self.errors
        )


class InvalidInputData(KsefError):
    """21405, the universal validation error.

    Its details come from ``mockksef.violations``; a detail about a field already
    reported is dropped (the validator names each field once), as is a repeated text.
    """

    def __init__(self, *details: str) -> None:
        kept: list[str] = []
        fields: set[str] = set()
        for detail in details:
            field = getattr(detail, "field", None)
            if detail in kept or (field is not None and field in fields):
                continue
            if field is not None:
                fields.add(field)
            kept.append(detail)
        super().__init__(21405, *kept)


class UnreadableContent(KsefError):
    def __init__(self, *details: str) -> None:
        super().__init__(21001, *details)


class Unauthorized(MockError):
    status = 401
    problem_only = True

    def __init__(self, detail: str = UNAUTHORIZED_DETAIL) -> None:
        super().__init__()
        self.detail = detail
        self.headers = {"WWW-Authenticate": "Bearer"}

    def __str__(self) -> str:
        return f"401: {self.detail}"


class Forbidden(MockError):
    status = 403
    problem_only = True

    def __init__(self, reason_code: str, security: dict[str, Any] | None = None) -> None:
        super().__init__()
        if reason_code not in FORBIDDEN_REASONS:
            raise ValueError(f"unknown 403 reason code {reason_code}")
        self.reason_code = reason_code
        self.security = security

    def __str__(self) -> str:
        return f"403 {self.reason_code}"


class MissingPermissions(Forbidden):
    def __init__(self, required: Sequence[str], present: Sequence[str]) -> None:
        super().__init__(
            "missing-permissions",
            {"requiredAnyOfPermissions": list(required), "presentPermissions": list(present)},
        )


class Gone(MockError):
    status = 410
    problem_only = True

    def __init__(self, detail: str = GONE_DETAIL) -> None:
        super().__init__()
        self.detail = detail


class TooManyRequests(MockError):
    status = 429

    def __init__(self, retry_after: int, detail: str) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after))
        self.detail = detail
        self.headers = {"Retry-After": str(self.retry_after)}


class NotFound(MockError):
    """An unknown route (not an unknown resource: those are 400 with a code)."""

    status = 404
    problem_only = True


class MethodNotAllowed(MockError):
    status = 405
    problem_only = True


class ServiceUnavailable(MockError):
    status = 503

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__()
        self.detail = detail
        if retry_after is not None:
            self.headers = {"Retry-After": str(retry_after)}


class InternalError(MockError):
    status = 500

    def __init__(self, detail: str = "Wystąpił nieoczekiwany błąd.") -> None:
        super().__init__()
        self.detail = detail


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

PROBLEM_JSON = "application/problem+json"
LEGACY_JSON = "application/json"


@dataclass
class ErrorContext:
    """What the renderer needs to know about the request."""

    instance: str
    timestamp: str
    trace_id: str
    reference_id: str
    problem_details: bool
    extra: dict[str, Any] = field(default_factory=dict)


def wants_problem_details(header_value: str | None) -> bool:
    return bool(header_value) and header_value.strip().lower() == "problem-details"  # type: ignore[union-attr]


def render(error: MockError, ctx: ErrorContext) -> tuple[int, str, dict[str, Any]]:
    """Return ``(status, content type, body)`` for an error."""
    status = error.status
    title = _TITLES.get(status, "Error")
    problem = error.problem_only or ctx.problem_details
    if isinstance(error, KsefError):
        if problem:
            return (
                status,
                PROBLEM_JSON,
                {
                    "title": title,
                    "status": status,
                    "instance": ctx.instance,
                    "detail": BAD_REQUEST_DETAIL,
                    "errors": [
                        {
                            "code": e.code,
                            "description": e.description,
                            "details": list(e.details) or None,
                        }
                        for e in error.errors
                    ],
                    "timestamp": ctx.timestamp,
                    "traceId": ctx.trace_id,
                },
            )
        return (
            status,
            LEGACY_JSON,
            {
                "exception": {
                    "exceptionDetailList": [
                        {
                            "exceptionCode": e.code,
                            "exceptionDescription": e.description,
                            "details": list(e.details) or None,
                        }
                        for e in error.errors
                    ],
                    "referenceNumber": ctx.reference_id,
                    "serviceCode": f"00-{ctx.trace_id}-{ctx.trace_id[:16]}-00",
                    "serviceCtx": "srvMOCK",
                    "serviceName": "mockksef",
                    "timestamp": ctx.timestamp,
                }
            },
        )
    if isinstance(error, TooManyRequests):
        if problem:
            body: dict[str, Any] = {
                "title": title,
                "status": 429,
                "instance": ctx.instance,
                "detail": error.detail,
                "timestamp": ctx.timestamp,
                "traceId": ctx.trace_id,
            }
            return 429, PROBLEM_JSON, body
        return (
            429,
            LEGACY_JSON,
            {"status": {"code": 429, "description": title, "details": [error.detail]}},
        )
    body = {"title": title, "status": status}
    if isinstance(error, Forbidden):
        body["detail"] = FORBIDDEN_REASONS[error.reason_code]
        body["instance"] = ctx.instance
        body["reasonCode"] = error.reason_code
        if error.security is not None:
            body["security"] = error.security
    elif isinstance(error, Unauthorized | Gone | ServiceUnavailable | InternalError):
        body["detail"] = error.detail
        body["instance"] = ctx.instance
    else:
        body["detail"] = title
        body["instance"] = ctx.instance
    body["timestamp"] = ctx.timestamp
    body["traceId"] = ctx.trace_id
    if isinstance(error, ServiceUnavailable | InternalError) and not problem:
        return (
            status,
            LEGACY_JSON,
            {
                "exception": {
                    "exceptionDetailList": [
                        {
                            "exceptionCode": status,
                            "exceptionDescription": error.detail,
                            "details": None,
                        }
                    ],
                    "referenceNumber": ctx.reference_id,
                    "serviceCode": f"00-{ctx.trace_id}-{ctx.trace_id[:16]}-00",
                    "serviceCtx": "srvMOCK",
                    "serviceName": "mockksef",
                    "timestamp": ctx.timestamp,
                }
            },
        )
    return status, PROBLEM_JSON, body
