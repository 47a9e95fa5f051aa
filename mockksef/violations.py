"""Every 21405 detail, worded in one place.

KSeF validates requests with FluentValidation (.NET) and answers one 21405
"Błąd walidacji danych wejściowych." whose ``details`` hold one sentence per
violated rule. Two sentences are seen on TEST word for word (java
``QueryInvoiceIntegrationTest``: ``'pageSize' must be between 10 and 250. You
entered 5.``; java ``BatchIntegrationTest``: ``'fileSize' must be less than or equal
to '5000000000'.``, and the same range wording for ``POST /testdata/rate-limits``):
both are FluentValidation's English defaults with the property named by its
camelCase JSON path. The other rule templates below are the same library's
defaults for the other rule kinds, so they are inferred, not observed.

Names: a request's properties by their dotted JSON path from the root
(``rateLimits.onlineSession.perHour``), list items with their index
(``fileParts[1].fileHash``), query and path parameters bare (``pageSize``);
the members of ``batchFile`` by their own name (``fileSize``), as KSeF validates
that object with a validator of its own.

Rules that FluentValidation has no sentence for (a resource that does not
exist, two dates in the wrong order, a list longer than a limit) keep the
service's Polish sentences; they are named here too, so that no other module
words a 21405 detail. A field is reported once: the first violation of a field
wins (``InvalidInputData`` drops later details about the same field).

This module imports nothing from the project (the spec and the backends call it).
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "MAX_DETAILS",
    "Detail",
    "at_least",
    "at_most",
    "bad_format",
    "between",
    "condition",
    "field_name",
    "greater_than",
    "length",
    "less_than",
    "not_empty",
    "not_in_enum",
    "service",
]

# A 21405 lists every violation; a bounded list still keeps a huge body's answer small.
MAX_DETAILS = 100

# Objects KSeF validates with a validator of their own: their members are named
# relative to them (java BatchIntegrationTest sees 'fileSize', not 'batchFile.fileSize').
_OWN_VALIDATOR = ("batchFile",)


class Detail(str):
    """One 21405 detail: the sentence, and the field it is about (None: the whole request)."""

    field: str | None

    def __new__(cls, text: str, field: str | None = None) -> Detail:
        detail = super().__new__(cls, text)
        detail.field = field
        return detail


def field_name(path: tuple[str | int, ...] | list[str | int]) -> str:
    """A JSON path as the validator names it: ``rateLimits.onlineSession.perHour``,
    ``fileParts[1].fileHash``; members of ``batchFile`` by their own name."""
    parts = list(path)
    for owner in _OWN_VALIDATOR:
        if len(parts) > 1 and parts[0] == owner:
            parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _shown(value: object) -> str:
    """A value as .NET's ToString shows it in a message."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# -- FluentValidation's sentences -------------------------------------------------------------


def not_empty(name: str) -> Detail:
    """NotNull / NotEmpty: a required value that is missing, null or empty."""
    return Detail(f"'{name}' must not be empty.", name)


def between(name: str, low: object, high: object, value: object) -> Detail:
    """InclusiveBetween (observed: pageSize, rateLimits.*)."""
    return Detail(
        f"'{name}' must be between {_shown(low)} and {_shown(high)}. You entered {_shown(value)}.",
        name,
    )


def at_most(name: str, high: object) -> Detail:
    """LessThanOrEqualTo (observed: fileSize)."""
    return Detail(f"'{name}' must be less than or equal to '{_shown(high)}'.", name)


def at_least(name: str, low: object) -> Detail:
    """GreaterThanOrEqualTo."""
    return Detail(f"'{name}' must be greater than or equal to '{_shown(low)}'.", name)


def less_than(name: str, bound: object) -> Detail:
    return Detail(f"'{name}' must be less than '{_shown(bound)}'.", name)


def greater_than(name: str, bound: object) -> Detail:
    return Detail(f"'{name}' must be greater than '{_shown(bound)}'.", name)


def not_in_enum(name: str, value: object) -> Detail:
    """IsInEnum / IsEnumName."""
    return Detail(f"'{name}' has a range of values which does not include '{_shown(value)}'.", name)


def bad_format(name: str) -> Detail:
    """Matches, and every value that does not parse as its type (Base64, a date, a NIP)."""
    return Detail(f"'{name}' is not in the correct format.", name)


def length(name: str, low: int | None, high: int | None, entered: int) -> Detail:
    """Length / MinimumLength / MaximumLength of a text."""
    if low is not None and high is not None:
        if low == high:
            text = (
                f"'{name}' must be {high} characters in length. You entered {entered} characters."
            )
        else:
            text = (
                f"'{name}' must be between {low} and {high} characters. "
                f"You entered {entered} characters."
            )
    elif low is not None:
        text = (
            f"The length of '{name}' must be at least {low} characters. "
            f"You entered {entered} characters."
        )
    else:
        text = (
            f"The length of '{name}' must be {high} characters or fewer. "
            f"You entered {entered} characters."
        )
    return Detail(text, name)


def condition(name: str) -> Detail:
    """Must: a predicate without a sentence of its own."""
    return Detail(f"The specified condition was not met for '{name}'.", name)


# -- the service's own sentences ----------------------------------------------------------------

# Texts KSeF gives for rules FluentValidation has no sentence for. Placeholders are
# str.format fields; ``service(key, field, **values)`` fills them.
_SERVICE: dict[str, str] = {
    # documented (spec example, reference B §2.1)
    "unsupported_form": "Wskazany kod formularza nie jest wspierany.",
    # observed (CIRFMF/ksef-api#165)
    "metadata_page_past_10000": (
        "You cannot retrieve invoices starting from number 10 000 or higher. "
        "Please narrow your filters."
    ),
    # resources that do not exist for the caller (reference A §4.4, B §4.5)
    "token_not_found": "Token o numerze referencyjnym {reference} nie został znaleziony.",
    "auth_session_not_found": (
        "Sesja uwierzytelnienia o numerze referencyjnym {reference} nie została znaleziona."
    ),
    "session_not_found": "Sesja o numerze referencyjnym {reference} nie została znaleziona.",
    "session_invoice_not_found": (
        "Faktura o numerze referencyjnym {invoice} nie została odnaleziona w sesji {session}."
    ),
    "invoice_upo_not_found": (
        "UPO faktury o numerze referencyjnym {invoice} dla sesji {session} nie zostało znalezione."
    ),
    "permission_operation_not_found": (
        "Operacja o numerze referencyjnym {reference} nie została znaleziona."
    ),
    "permission_not_found": "Uprawnienie o identyfikatorze {id} nie zostało znalezione.",
    # the request as a whole
    "body_required": "Treść żądania jest wymagana.",
    "body_not_an_object": "Treść żądania musi być obiektem JSON.",
    "body_too_large": "Rozmiar żądania przekracza dopuszczalny limit {limit} bajtów.",
    "body_too_many_values": "Treść żądania może zawierać co najwyżej {limit} wartości.",
    "bad_path_parameter": "Nieprawidłowa wartość parametru ścieżki.",
    # rules between fields, and list sizes (no FluentValidation sentence)
    "range_reversed": "{field}: data początkowa jest późniejsza niż data końcowa.",
    "range_too_long": "{field}: maksymalny dozwolony zakres dat wynosi {days} dni.",
    "too_many_items": "{field}: lista może zawierać co najwyżej {limit} pozycji.",
    "too_few_items": "{field}: lista musi zawierać co najmniej {limit} pozycje.",
    "repeated_items": "{field}: każda wartość może wystąpić tylko raz.",
    "part_numbers": (
        "batchFile.fileParts: numery części muszą być kolejnymi liczbami od 1 do {count}."
    ),
    "iv_length": "encryption.initializationVector: wektor inicjalizujący musi mieć 16 bajtów.",
    "valid_to_extended": (
        "validTo: nowa data ważności nie może być późniejsza niż obecna ({current})."
    ),
    "subunits_not_allowed": (
        "subunits: jednostki podrzędne można podać tylko dla typów VatGroup i JST."
    ),
    "own_subunit": "subunits: podmiot {nip} nie może być swoją jednostką podrzędną.",
    "details_type_mismatch": (
        "subjectDetails.subjectDetailsType: typ {kind} nie jest dozwolony dla identyfikatora "
        "typu {identifier}."
    ),
}


def service(key: str, field: str | None = None, **values: object) -> Detail:
    """One of the service's own sentences, about ``field`` (None: the whole request)."""
    return Detail(_SERVICE[key].format(field=field, **values), field)
