"""Validation of grant requests beyond the official schema, and subject-details rendering.

The schema checks lengths only; KSeF also rejects (400 21405) bad NIP/PESEL
checksums, malformed fingerprints, internal ids with a wrong check digit and
subject-details variants that do not fit the identifier type.
"""

from __future__ import annotations

from typing import Any

from mockksef import violations
from mockksef.errors import InvalidInputData
from mockksef.models import (
    FINGERPRINT_RE,
    INTERNAL_ID_RE,
    NIP_RE,
    PEPPOL_ID_RE,
    PESEL_RE,
    SubjectIdentifier,
    internal_id_check_digit,
    nip_checksum_ok,
    pesel_checksum_ok,
)
from mockksef.services.permissions.models import norm

_PERSON_DETAIL_FIELDS = {
    "PersonByIdentifier": "personById",
    "PersonByFingerprintWithIdentifier": "personByFpWithId",
    "PersonByFingerprintWithoutIdentifier": "personByFpNoId",
    "EntityByFingerprint": "entityByFp",
}


def bad(*details: str) -> InvalidInputData:
    return InvalidInputData(*details)


def check_nip(value: str, where: str) -> None:
    if not (NIP_RE.match(value) and nip_checksum_ok(value)):
        raise bad(violations.bad_format(where))


def check_identifier(ident: dict[str, Any], where: str) -> SubjectIdentifier:
    """Validate a Nip/Pesel/Fingerprint/PeppolId value beyond the schema's lengths."""
    kind, value = ident["type"], str(ident.get("value") or "")
    if kind == "Nip":
        check_nip(value, f"{where}.value")
    elif kind == "Pesel":
        if not (PESEL_RE.match(value) and pesel_checksum_ok(value)):
            raise bad(violations.bad_format(f"{where}.value"))
    elif kind == "Fingerprint":
        if not FINGERPRINT_RE.match(value):
            raise bad(violations.bad_format(f"{where}.value"))
    elif kind == "PeppolId":
        if not PEPPOL_ID_RE.match(value):
            raise bad(violations.bad_format(f"{where}.value"))
    return norm(SubjectIdentifier(kind, value))


def check_internal_id(value: str, where: str) -> None:
    match = INTERNAL_ID_RE.match(value)
    if not match or not nip_checksum_ok(match.group(1)):
        raise bad(violations.bad_format(where))
    nip, digits = match.group(1), match.group(5)
    if internal_id_check_digit(nip, digits[:4]) != int(digits[4]):
        raise bad(violations.bad_format(where))


def render_subject_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """Request ``subjectDetails`` -> the query shapes (subjectPersonDetails / subjectEntityDetails)."""
    if not details:
        return {}
    kind = details.get("subjectDetailsType")
    if kind is None and "fullName" in details:  # EntityDetails of entity/authorisation grants
        return {
            "subjectEntityDetails": {
                "subjectDetailsType": "EntityByIdentifier",
                "fullName": details["fullName"],
            }
        }
    data = details.get(_PERSON_DETAIL_FIELDS.get(kind or "", ""), None) or {}
    if kind == "EntityByFingerprint":
        out = {"subjectDetailsType": kind, "fullName": data.get("fullName")}
        if data.get("address") is not None:
            out["address"] = data["address"]
        return {"subjectEntityDetails": out}
    person: dict[str, Any] = {
        "subjectDetailsType": kind,
        "firstName": data.get("firstName"),
        "lastName": data.get("lastName"),
    }
    if kind == "PersonByFingerprintWithIdentifier" and data.get("identifier"):
        person["personIdentifier"] = {
            "type": data["identifier"]["type"],
            "value": data["identifier"]["value"],
        }
    if kind == "PersonByFingerprintWithoutIdentifier":
        if data.get("birthDate"):
            person["birthDate"] = data["birthDate"]
        if data.get("idDocument"):
            person["idDocument"] = data["idDocument"]
    return {"subjectPersonDetails": person}


def check_details(details: dict[str, Any], subject: SubjectIdentifier, eu: bool = False) -> None:
    kind = details.get("subjectDetailsType")
    field = _PERSON_DETAIL_FIELDS.get(kind or "")
    if field is None:
        raise bad(violations.not_in_enum("subjectDetails.subjectDetailsType", kind))
    if not details.get(field):
        raise bad(violations.not_empty(f"subjectDetails.{field}"))
    by_fingerprint = kind != "PersonByIdentifier"
    if eu:
        return
    if by_fingerprint != (subject.type == "Fingerprint"):
        raise bad(
            violations.service(
                "details_type_mismatch",
                "subjectDetails.subjectDetailsType",
                kind=kind,
                identifier=subject.type,
            )
        )
    if kind == "PersonByFingerprintWithIdentifier":
        ident = details[field]["identifier"]
        check_identifier(ident, f"subjectDetails.{field}.identifier")


def unique(values: list[str], where: str) -> list[str]:
    if not values:
        raise bad(violations.not_empty(where))
    if len(set(values)) != len(values):
        raise bad(violations.service("repeated_items", where))
    return list(values)
