"""PermissionsBackend without HTTP: resolution, system hooks, operations on the clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mockksef.clock import Clock
from mockksef.errors import Gone, InvalidInputData
from mockksef.models import ContextIdentifier, Principal, SubjectIdentifier
from mockksef.services.subjects import Entity, Person
from mockksef.state import MockState
from tests import kit

OWNER_NIP = "5265877635"
OTHER_NIP = "7762811692"
PESEL = "15062788702"
FP = "CEB3643BAC2C111ADDE971BDA5A80163441867D65389FC0BC0DFF8B4C1CD4E59"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CTX = ContextIdentifier("Nip", OWNER_NIP)


def owner(
    nip: str = OWNER_NIP,
    ctx: ContextIdentifier | None = None,
    permissions: tuple[str, ...] = ("Owner",),
) -> Principal:
    return Principal(
        token_type="ContextToken",
        reference_number="20260302-AU-0000000000-0000000000-00",
        expires_at=T0 + timedelta(minutes=15),
        context=ctx or ContextIdentifier("Nip", nip),
        subject=SubjectIdentifier("Nip", nip),
        auth_method="QualifiedSeal",
        permissions=frozenset(permissions),
    )


def person_body(pesel: str = PESEL, permissions: list[str] | None = None) -> dict:  # type: ignore[type-arg]
    return kit.person_grant(("Pesel", pesel), permissions or ["InvoiceRead", "InvoiceWrite"])


# -- resolve ---------------------------------------------------------------------------


def test_owner_by_nip(env):  # type: ignore[no-untyped-def]
    assert env.permissions.resolve(SubjectIdentifier("Nip", OWNER_NIP), CTX) == {"Owner"}
    assert env.permissions.resolve(SubjectIdentifier("Nip", OTHER_NIP), CTX) == frozenset()


def test_owner_via_pesel_link_and_bailiff_enforcement(env):  # type: ignore[no-untyped-def]
    pesel = SubjectIdentifier("Pesel", PESEL)
    assert env.permissions.resolve(pesel, CTX) == frozenset()
    env.subjects.persons[OWNER_NIP] = Person(OWNER_NIP, PESEL, "Komornik", True, False, T0)
    assert env.permissions.resolve(pesel, CTX) == {"Owner", "EnforcementOperations"}
    assert env.permissions.resolve(SubjectIdentifier("Nip", OWNER_NIP), CTX) == {
        "Owner",
        "EnforcementOperations",
    }


def test_enforcement_authority_context_owner(env):  # type: ignore[no-untyped-def]
    env.subjects.entities[OWNER_NIP] = Entity(OWNER_NIP, "EnforcementAuthority", "Organ", T0)
    assert "EnforcementOperations" in env.permissions.resolve(
        SubjectIdentifier("Nip", OWNER_NIP), CTX
    )


def test_person_grant_then_revoke(env):  # type: ignore[no-untyped-def]
    pesel = SubjectIdentifier("Pesel", PESEL)
    ref = env.permissions.grant_persons(owner(), person_body(), T0)["referenceNumber"]
    assert "-EG-" in ref
    assert env.permissions.resolve(pesel, CTX) == {"InvoiceRead", "InvoiceWrite"}
    # Not in another context.
    assert env.permissions.resolve(pesel, ContextIdentifier("Nip", OTHER_NIP)) == frozenset()
    grant_id = next(g.id for g in env.permissions.grants.values() if g.permission == "InvoiceRead")
    env.permissions.revoke_common(owner(), grant_id, T0)
    assert env.permissions.resolve(pesel, CTX) == {"InvoiceWrite"}


def test_grant_via_linked_nip(env):  # type: ignore[no-untyped-def]
    env.subjects.persons[OTHER_NIP] = Person(OTHER_NIP, PESEL, "Jan", False, False, T0)
    env.permissions.grant_persons(owner(), person_body(), T0)
    # The person authenticating with its NIP gets what was granted to its PESEL.
    assert env.permissions.resolve(SubjectIdentifier("Nip", OTHER_NIP), CTX) == {
        "InvoiceRead",
        "InvoiceWrite",
    }


def test_duplicate_grant_is_idempotent(env):  # type: ignore[no-untyped-def]
    env.permissions.grant_persons(owner(), person_body(), T0)
    ref = env.permissions.grant_persons(owner(), person_body(), T0)["referenceNumber"]
    assert len(env.permissions.grants) == 2
    assert env.permissions.operation_status(owner(), ref, T0)["status"]["code"] == 200


def test_enforcement_operations_only_in_enforcement_context(env):  # type: ignore[no-untyped-def]
    ref = env.permissions.grant_persons(
        owner(), person_body(permissions=["EnforcementOperations"]), T0
    )["referenceNumber"]
    assert env.permissions.operation_status(owner(), ref, T0)["status"]["code"] == 430
    assert not env.permissions.grants
    env.subjects.persons[OWNER_NIP] = Person(OWNER_NIP, "30112206276", "Komornik", True, False, T0)
    ref = env.permissions.grant_persons(
        owner(), person_body(permissions=["EnforcementOperations"]), T0
    )["referenceNumber"]
    assert env.permissions.operation_status(owner(), ref, T0)["status"]["code"] == 200
    assert env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), CTX) == {
        "EnforcementOperations"
    }


def test_operation_is_lazy_on_the_clock(mock, spec):  # type: ignore[no-untyped-def]
    state = MockState(
        replace(mock.config, permission_processing_seconds=5), spec=spec, clock=Clock.virtual(T0)
    )
    env = state.env("TEST")
    ref = env.permissions.grant_persons(owner(), person_body(), state.clock.now())[
        "referenceNumber"
    ]
    status = env.permissions.operation_status(owner(), ref, state.clock.now())["status"]
    assert status == {"code": 100, "description": "Operacja przyjęta do realizacji"}
    assert env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), CTX) == frozenset()
    state.clock.advance(5)
    assert env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), CTX) == {
        "InvoiceRead",
        "InvoiceWrite",
    }
    assert (
        env.permissions.operation_status(owner(), ref, state.clock.now())["status"]["code"] == 200
    )
    state.clock.advance(31 * 86400)
    with pytest.raises(Gone):
        env.permissions.operation_status(owner(), ref, state.clock.now())


def test_operation_of_other_context_is_unknown(env):  # type: ignore[no-untyped-def]
    ref = env.permissions.grant_persons(owner(), person_body(), T0)["referenceNumber"]
    with pytest.raises(InvalidInputData):
        env.permissions.operation_status(owner(OTHER_NIP), ref, T0)


def test_revoke_grant_of_other_context_is_unknown(env):  # type: ignore[no-untyped-def]
    env.permissions.grant_persons(owner(), person_body(), T0)
    grant_id = next(iter(env.permissions.grants))
    with pytest.raises(InvalidInputData) as info:
        env.permissions.revoke_common(owner(OTHER_NIP), grant_id, T0)
    assert grant_id in info.value.errors[0].details[0]
    assert grant_id in env.permissions.grants


def test_system_grants_and_revoke_and_remove_subject(env):  # type: ignore[no-untyped-def]
    fp = SubjectIdentifier("Fingerprint", FP.lower())
    env.permissions.grant_system(
        CTX, fp, [("InvoiceRead", "praca"), ("CredentialsManage", "praca")], T0
    )
    env.permissions.grant_system(CTX, fp, [("InvoiceRead", "praca")], T0)  # no duplicate
    assert len(env.permissions.grants) == 2
    assert env.permissions.resolve(SubjectIdentifier("Fingerprint", FP), CTX) == {
        "InvoiceRead",
        "CredentialsManage",
    }
    assert all(g.author.type == "System" for g in env.permissions.grants.values())
    env.permissions.revoke_system(CTX, SubjectIdentifier("Fingerprint", FP))
    assert env.permissions.resolve(fp, CTX) == frozenset()
    env.permissions.grant_system(
        CTX, SubjectIdentifier("Pesel", PESEL), [("InvoiceRead", "praca")], T0
    )
    env.permissions.remove_subject(
        {SubjectIdentifier("Pesel", PESEL), SubjectIdentifier("Nip", OTHER_NIP)}
    )
    assert not env.permissions.grants


def test_entity_and_indirect_grants(env):  # type: ignore[no-untyped-def]
    client_ctx = CTX  # the client A delegates to the accounting office B
    office = OTHER_NIP
    office_ctx = ContextIdentifier("Nip", office)
    env.permissions.grant_entities(owner(), kit.entity_grant(office), T0)
    # The office's seal gets both permissions in the client's context.
    assert env.permissions.resolve(SubjectIdentifier("Nip", office), client_ctx) == {
        "InvoiceRead",
        "InvoiceWrite",
    }
    body = person_body(permissions=["InvoiceRead", "InvoiceWrite"])
    body["targetIdentifier"] = {"type": "Nip", "value": OWNER_NIP}
    ref = env.permissions.grant_indirect(owner(office), body, T0)["referenceNumber"]
    assert env.permissions.operation_status(owner(office), ref, T0)["status"]["code"] == 200
    # Only InvoiceRead was delegable.
    assert env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), client_ctx) == {"InvoiceRead"}
    assert env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), office_ctx) == frozenset()
    # Selective grant for a client that delegated nothing -> 440.
    body["targetIdentifier"] = {"type": "Nip", "value": "3568707925"}
    ref = env.permissions.grant_indirect(owner(office), body, T0)["referenceNumber"]
    assert env.permissions.operation_status(owner(office), ref, T0)["status"]["code"] == 440


def test_general_indirect_grant(env):  # type: ignore[no-untyped-def]
    office = OTHER_NIP
    env.permissions.grant_entities(owner(), kit.entity_grant(office), T0)
    body = person_body(permissions=["InvoiceRead"])
    body["targetIdentifier"] = {"type": "AllPartners"}
    env.permissions.grant_indirect(owner(office), body, T0)
    assert env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), CTX) == {"InvoiceRead"}


def test_subunit_admin_gets_credentials_manage(env):  # type: ignore[no-untyped-def]
    body = person_body()
    del body["permissions"]
    body["contextIdentifier"] = {"type": "InternalId", "value": f"{OWNER_NIP}-12345"}
    # Wrong check digit: 21405 at once.
    with pytest.raises(InvalidInputData):
        env.permissions.grant_subunits(owner(), {**body, "subunitName": "Jednostka 1"}, T0)
    from mockksef.models import internal_id_check_digit

    unit = f"{OWNER_NIP}-1234{internal_id_check_digit(OWNER_NIP, '1234')}"
    body["contextIdentifier"]["value"] = unit
    body["subunitName"] = "Jednostka 1"
    env.permissions.grant_subunits(owner(), body, T0)
    assert env.permissions.resolve(
        SubjectIdentifier("Pesel", PESEL), ContextIdentifier("InternalId", unit)
    ) == {"CredentialsManage"}


def test_eu_admin_grant(env):  # type: ignore[no-untyped-def]
    eu_ctx = ContextIdentifier("NipVatUe", f"{OWNER_NIP}-DE123456789")
    body = {
        "subjectIdentifier": {"type": "Fingerprint", "value": FP},
        "contextIdentifier": {"type": "NipVatUe", "value": eu_ctx.value},
        "description": "Administrator UE",
        "euEntityName": "Firma G.m.b.H., Berlin",
        "subjectDetails": {
            "subjectDetailsType": "EntityByFingerprint",
            "entityByFp": {"fullName": "Firma", "address": "Berlin"},
        },
        "euEntityDetails": {"fullName": "Firma G.m.b.H.", "address": "Berlin"},
    }
    env.permissions.grant_eu_entity_administration(owner(), body, T0)
    assert env.permissions.resolve(SubjectIdentifier("Fingerprint", FP), eu_ctx) == {
        "VatUeManage",
        "InvoiceWrite",
        "InvoiceRead",
        "Introspection",
    }


def test_attachment_status(env):  # type: ignore[no-untyped-def]
    from mockksef.services.subjects import AttachmentConsent

    assert env.permissions.attachment_status(owner(), T0) == {
        "isAttachmentAllowed": False,
        "revokedDate": None,
    }
    env.subjects.attachments[OWNER_NIP] = AttachmentConsent(True)
    assert env.permissions.attachment_status(owner(), T0)["isAttachmentAllowed"] is True
    env.subjects.attachments[OWNER_NIP] = AttachmentConsent(True, (T0 + timedelta(days=3)).date())
    status = env.permissions.attachment_status(owner(), T0)
    assert status["isAttachmentAllowed"] is True and status["revokedDate"].startswith("2026-03-05")
    assert (
        env.permissions.attachment_status(owner(), T0 + timedelta(days=3))["isAttachmentAllowed"]
        is False
    )
