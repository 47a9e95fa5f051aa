"""TestdataBackend without HTTP: entities, persons, ZAW-FA grants, attachments, blocks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import ContextIdentifier, SubjectIdentifier
from tests.conftest import START

GROUP = "3755747347"
MEMBERS = ("4972530874", "8225900795")
NIP = "7980332920"
PESEL = "30112206276"
FP = "ceb3643bac2c111adde971bda5a80163441867d65389fc0bc0dff8b4c1cd4e59"


def vat_group(created: str | None = None, members: tuple[str, ...] = MEMBERS) -> dict:  # type: ignore[type-arg]
    body = {
        "subjectNip": GROUP,
        "subjectType": "VatGroup",
        "description": "Grupa VAT",
        "subunits": [{"subjectNip": m, "description": f"Członek grupy {m}"} for m in members],
    }
    if created:
        body["createdDate"] = created
    return body


def person(nip: str = NIP, pesel: str = PESEL, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"nip": nip, "pesel": pesel, "isBailiff": False, "description": "Osoba testowa", **extra}


def codes(err: pytest.ExceptionInfo[KsefError]) -> int:
    return err.value.code


# -- entities -------------------------------------------------------------------------------


def test_vat_group_with_members(env):
    env.testdata.create_subject(vat_group(), START)
    group = env.subjects.entities[GROUP]
    assert (
        group.role == "VatGroupUnit" and group.subunits == list(MEMBERS) and group.created == START
    )
    member = env.subjects.entities[MEMBERS[0]]
    assert member.role == "VatGroupSubUnit" and member.parent_nip == GROUP
    assert env.subjects.roles_of(MEMBERS[1])[0][0] == "VatGroupSubUnit"


def test_jst_and_enforcement_authority_roles(env):
    env.testdata.create_subject(
        {
            "subjectNip": GROUP,
            "subjectType": "JST",
            "description": "Gmina",
            "subunits": [{"subjectNip": MEMBERS[0], "description": "Szkoła"}],
        },
        START,
    )
    assert env.subjects.entities[GROUP].role == "LocalGovernmentUnit"
    assert env.subjects.entities[MEMBERS[0]].role == "LocalGovernmentSubUnit"
    env.testdata.create_subject(
        {
            "subjectNip": NIP,
            "subjectType": "EnforcementAuthority",
            "description": "Organ egzekucyjny",
        },
        START,
    )
    assert env.subjects.is_enforcement_context(NIP)


def test_existing_subject_is_30001_unless_created_later(env):
    env.testdata.create_subject(vat_group(), START)
    with pytest.raises(KsefError) as err:
        env.testdata.create_subject(vat_group(), START + timedelta(hours=1))
    assert codes(err) == 30001
    same_date = START.isoformat()
    with pytest.raises(KsefError) as err:
        env.testdata.create_subject(vat_group(same_date), START)
    assert codes(err) == 30001
    later = (START + timedelta(days=1)).isoformat()
    env.testdata.create_subject(vat_group(later, members=(MEMBERS[1],)), START)
    assert env.subjects.entities[GROUP].created == START + timedelta(days=1)
    assert (
        MEMBERS[0] not in env.subjects.entities
        and env.subjects.entities[MEMBERS[1]].parent_nip == GROUP
    )


def test_recreation_after_removal_needs_a_later_date(env):
    future = START + timedelta(days=5)
    env.testdata.create_subject(vat_group(future.isoformat()), START)
    env.testdata.remove_subject(GROUP)
    with pytest.raises(KsefError) as err:
        env.testdata.create_subject(vat_group(), START)  # "now" is before the remembered date
    assert codes(err) == 30001
    env.testdata.create_subject(vat_group((future + timedelta(seconds=1)).isoformat()), START)


def test_subunit_rules(env):
    with pytest.raises(InvalidInputData):
        env.testdata.create_subject(
            {
                "subjectNip": NIP,
                "subjectType": "EnforcementAuthority",
                "description": "Organ",
                "subunits": [{"subjectNip": GROUP, "description": "Jednostka"}],
            },
            START,
        )
    with pytest.raises(InvalidInputData):
        env.testdata.create_subject(vat_group(members=(GROUP,)), START)
    with pytest.raises(InvalidInputData):
        env.testdata.create_subject(vat_group(members=(MEMBERS[0], MEMBERS[0])), START)
    env.testdata.create_subject(
        {"subjectNip": MEMBERS[0], "subjectType": "JST", "description": "Gmina"}, START
    )
    with pytest.raises(KsefError) as err:
        env.testdata.create_subject(vat_group(), START)
    assert codes(err) == 30001
    assert GROUP not in env.subjects.entities


def test_remove_subject_takes_subunits_and_their_grants(env, monkeypatch):
    removed: list[set[SubjectIdentifier]] = []
    monkeypatch.setattr(env.permissions, "remove_subject", removed.append)
    env.testdata.create_subject(vat_group(), START)
    env.testdata.remove_subject(GROUP)
    assert not env.subjects.entities
    assert removed == [{SubjectIdentifier("Nip", n) for n in (GROUP, *MEMBERS)}]
    env.testdata.remove_subject(GROUP)  # unknown now: nothing happens
    assert len(removed) == 1


def test_removing_a_member_updates_the_group(env):
    env.testdata.create_subject(vat_group(), START)
    env.testdata.remove_subject(MEMBERS[0])
    assert env.subjects.entities[GROUP].subunits == [MEMBERS[1]]


# -- persons ---------------------------------------------------------------------------------


def test_person_link_bailiff_and_deceased(env):
    env.testdata.create_person(person(isBailiff=True, isDeceased=True), START)
    subject = SubjectIdentifier("Pesel", PESEL)
    assert env.subjects.linked_identifiers(subject) == {subject, SubjectIdentifier("Nip", NIP)}
    assert env.subjects.is_deceased(SubjectIdentifier("Nip", NIP))
    assert env.subjects.roles_of(NIP)[0][0] == "CourtBailiff"


def test_person_conflicts(env):
    env.testdata.create_person(person(), START)
    with pytest.raises(KsefError) as err:
        env.testdata.create_person(person(), START)
    assert codes(err) == 30001
    with pytest.raises(KsefError) as err:
        env.testdata.create_person(person(nip="5265877635"), START)  # PESEL linked to another NIP
    assert codes(err) == 30001
    env.testdata.create_person(
        person(description="Nowy opis", createdDate=(START + timedelta(days=1)).isoformat()), START
    )
    assert env.subjects.persons[NIP].description == "Nowy opis"


def test_remove_person_drops_grants_to_both_identifiers(env):
    env.testdata.create_person(person(), START)
    context = ContextIdentifier("Nip", GROUP)
    env.testdata.grant_permissions(
        {
            "contextIdentifier": {"type": "Nip", "value": GROUP},
            "authorizedIdentifier": {"type": "Pesel", "value": PESEL},
            "permissions": [{"permissionType": "InvoiceRead", "description": "praca w kontekście"}],
        },
        START,
    )
    assert "InvoiceRead" in env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), context)
    env.testdata.remove_person(NIP)
    assert NIP not in env.subjects.persons
    assert not env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), context)
    assert env.testdata.remove_person(NIP) is None


# -- ZAW-FA grants ----------------------------------------------------------------------------


def test_grant_and_revoke_system_permissions(env, monkeypatch):
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(env.permissions, "grant_system", lambda *a: calls.append(("grant", *a)))
    monkeypatch.setattr(env.permissions, "revoke_system", lambda *a: calls.append(("revoke", *a)))
    body = {
        "contextIdentifier": {"type": "Nip", "value": GROUP},
        "authorizedIdentifier": {"type": "Fingerprint", "value": FP},
        "permissions": [
            {"permissionType": "InvoiceRead", "description": "odczyt faktur"},
            {"permissionType": "CredentialsManage", "description": "zarządzanie"},
        ],
    }
    env.testdata.grant_permissions(body, START)
    env.testdata.revoke_permissions(body)
    context, subject = ContextIdentifier("Nip", GROUP), SubjectIdentifier("Fingerprint", FP.upper())
    assert calls == [
        (
            "grant",
            context,
            subject,
            [("InvoiceRead", "odczyt faktur"), ("CredentialsManage", "zarządzanie")],
            START,
        ),
        ("revoke", context, subject),
    ]


@pytest.mark.parametrize(
    ("context", "authorized"),
    [
        ("0123456789", {"type": "Nip", "value": GROUP}),  # NIP pattern: no leading zero
        (GROUP, {"type": "Pesel", "value": "3011220627"}),
        (GROUP, {"type": "Nip", "value": PESEL}),
        (GROUP, {"type": "Fingerprint", "value": "XYZ" * 20}),
    ],
)
def test_identifier_values_are_checked(env, context, authorized):  # type: ignore[no-untyped-def]
    body = {
        "contextIdentifier": {"type": "Nip", "value": context},
        "authorizedIdentifier": authorized,
        "permissions": [],
    }
    with pytest.raises(InvalidInputData):
        env.testdata.grant_permissions(body, START)


# -- attachments and blocks ------------------------------------------------------------------------


def test_attachment_consent_and_withdrawal(env):
    env.testdata.allow_attachments(NIP)
    assert env.subjects.attachment_consent(NIP).allowed
    env.testdata.revoke_attachments(NIP, "2026-04-01", START)
    consent = env.subjects.attachment_consent(NIP)
    assert consent.allowed and consent.revoked_date == date(2026, 4, 1)
    env.testdata.revoke_attachments(NIP, None, START)
    assert env.subjects.attachment_consent(NIP).revoked_date == START.date()
    env.testdata.revoke_attachments(GROUP, None, START)
    assert not env.subjects.attachment_consent(GROUP).allowed


def test_block_and_unblock_any_context_type(env):
    for type_, value in (
        ("Nip", NIP),
        ("InternalId", f"{NIP}-00001"),
        ("NipVatUe", f"{NIP}-DE123456789"),
        ("PeppolId", "PPL123456"),
    ):
        context = env.testdata.block_context({"contextIdentifier": {"type": type_, "value": value}})
        assert env.subjects.is_blocked(context)
        env.testdata.unblock_context({"contextIdentifier": {"type": type_, "value": value}})
        assert not env.subjects.is_blocked(context)
    for body in (
        {},
        {"contextIdentifier": None},
        {"contextIdentifier": {"type": "Nip", "value": "12"}},
    ):
        with pytest.raises(InvalidInputData):
            env.testdata.block_context(body)
