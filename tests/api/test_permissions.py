"""Permissions over HTTP: every grant, revoke, status and query endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mockksef.environments import Env
from mockksef.models import ContextIdentifier, SubjectIdentifier, internal_id_check_digit
from mockksef.services.subjects import AttachmentConsent, Entity, Person
from tests import kit
from tests.conftest import assert_missing_permissions, bearer, legacy_codes, mint_access_token
from tests.unit.test_permissions_backend import person_body

NIP = "5265877635"
OFFICE = "7762811692"
CLIENT = "3568707925"
PESEL = "15062788702"
PESEL2 = "22271569167"
FP = "CEB3643BAC2C111ADDE971BDA5A80163441867D65389FC0BC0DFF8B4C1CD4E59"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PERSON_DETAILS = {
    "subjectDetailsType": "PersonByIdentifier",
    "personById": {"firstName": "Adam", "lastName": "Abacki"},
}
FP_DETAILS = {
    "subjectDetailsType": "PersonByFingerprintWithIdentifier",
    "personByFpWithId": {
        "firstName": "Adam",
        "lastName": "Abacki",
        "identifier": {"type": "Pesel", "value": PESEL},
    },
}


def schema_errors(spec, method: str, path: str, status: str, body) -> list[str]:  # type: ignore[no-untyped-def]
    schema = spec.operation(method, path).raw["responses"][status]["content"]["application/json"][
        "schema"
    ]
    return spec.validate_value(schema, body).errors


@pytest.fixture
def owner(mock) -> str:  # type: ignore[no-untyped-def]
    return mint_access_token(mock, nip=NIP)


def grant(client, path: str, token: str, body: dict) -> str:  # type: ignore[no-untyped-def,type-arg]
    """POST a grant, check 202 + schema, return the operation's final status code."""
    spec = client.app.state.mock.spec
    response = client.post(path, json=body, headers=bearer(token))
    assert response.status_code == 202, response.text
    assert schema_errors(spec, "POST", path, "202", response.json()) == []
    ref = response.json()["referenceNumber"]
    assert "-EG-" in ref
    status = client.get(f"/permissions/operations/{ref}", headers=bearer(token))
    assert status.status_code == 200
    assert (
        schema_errors(
            spec, "GET", "/permissions/operations/{referenceNumber}", "200", status.json()
        )
        == []
    )
    return status.json()["status"]["code"]  # type: ignore[no-any-return]


def revoke(client, kind: str, permission_id: str, token: str) -> None:  # type: ignore[no-untyped-def]
    """DELETE /permissions/{kind}/grants/{id}: 202 with the body the spec declares."""
    response = client.delete(f"/permissions/{kind}/grants/{permission_id}", headers=bearer(token))
    assert response.status_code == 202, response.text
    template = f"/permissions/{kind}/grants/{{permissionId}}"
    assert (
        schema_errors(client.app.state.mock.spec, "DELETE", template, "202", response.json()) == []
    )


def query(client, path: str, token: str, body: dict | None = None, **params) -> dict:  # type: ignore[no-untyped-def,type-arg]
    spec = client.app.state.mock.spec
    if path.endswith("/roles") and body is None and path.startswith("/permissions/query/entities"):
        response = client.get(path, params=params, headers=bearer(token))
        method = "GET"
    else:
        response = client.post(path, json=body or {}, params=params, headers=bearer(token))
        method = "POST"
    assert response.status_code == 200, response.text
    data = response.json()
    assert schema_errors(spec, method, path, "200", data) == []
    return data  # type: ignore[no-any-return]


def test_persons_grant_query_and_revoke(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    assert grant(client, "/permissions/persons/grants", owner, person_body()) == 200
    env = mock.env(Env.TEST)
    assert env.permissions.resolve(
        SubjectIdentifier("Pesel", PESEL), ContextIdentifier("Nip", NIP)
    ) == {"InvoiceRead", "InvoiceWrite"}
    data = query(
        client,
        "/permissions/query/persons/grants",
        owner,
        {"queryType": "PermissionsInCurrentContext"},
    )
    assert data["hasMore"] is False
    assert {p["permissionScope"] for p in data["permissions"]} == {"InvoiceRead", "InvoiceWrite"}
    item = data["permissions"][0]
    assert item["authorizedIdentifier"] == {"type": "Pesel", "value": PESEL}
    assert item["authorIdentifier"] == {"type": "Nip", "value": NIP}
    assert item["subjectPersonDetails"] == {
        "subjectDetailsType": "PersonByIdentifier",
        "firstName": "Adam",
        "lastName": "Abacki",
    }
    assert "contextIdentifier" not in item and "targetIdentifier" not in item
    granted = query(
        client,
        "/permissions/query/persons/grants",
        owner,
        {"queryType": "PermissionsGrantedInCurrentContext", "permissionTypes": ["InvoiceRead"]},
    )
    assert [p["permissionScope"] for p in granted["permissions"]] == ["InvoiceRead"]
    revoke(client, "common", item["id"], owner)
    left = query(
        client,
        "/permissions/query/persons/grants",
        owner,
        {"queryType": "PermissionsInCurrentContext"},
    )
    assert len(left["permissions"]) == 1
    # Unknown id, and an id of another context: 400 21405.
    again = client.delete(f"/permissions/common/grants/{item['id']}", headers=bearer(owner))
    assert again.status_code == 400 and legacy_codes(again) == [21405]
    other = mint_access_token(mock, nip=OFFICE)
    foreign = client.delete(
        f"/permissions/common/grants/{left['permissions'][0]['id']}", headers=bearer(other)
    )
    assert foreign.status_code == 400 and legacy_codes(foreign) == [21405]


def test_grant_validation_errors(client, owner):  # type: ignore[no-untyped-def]
    bad_pesel = person_body("15062788703")
    response = client.post("/permissions/persons/grants", json=bad_pesel, headers=bearer(owner))
    assert response.status_code == 400 and legacy_codes(response) == [21405]
    no_details = {k: v for k, v in person_body().items() if k != "subjectDetails"}
    assert legacy_codes(
        client.post("/permissions/persons/grants", json=no_details, headers=bearer(owner))
    ) == [21405]
    fingerprint_with_id_details = {
        **person_body(),
        "subjectIdentifier": {"type": "Fingerprint", "value": FP},
    }
    assert legacy_codes(
        client.post(
            "/permissions/persons/grants", json=fingerprint_with_id_details, headers=bearer(owner)
        )
    ) == [21405]


def test_missing_permissions_403(client, mock):  # type: ignore[no-untyped-def]
    reader = mint_access_token(mock, nip=NIP, permissions=("InvoiceRead", "CredentialsRead"))
    response = client.post(
        "/permissions/persons/grants", json=person_body(), headers=bearer(reader)
    )
    assert_missing_permissions(response, ["CredentialsManage"], ["CredentialsRead", "InvoiceRead"])
    # CredentialsRead is enough to query.
    assert (
        client.post(
            "/permissions/query/persons/grants",
            json={"queryType": "PermissionsInCurrentContext"},
            headers=bearer(reader),
        ).status_code
        == 200
    )


def test_enforcement_operations_430(client, spec, owner):  # type: ignore[no-untyped-def]
    assert (
        grant(
            client,
            "/permissions/persons/grants",
            owner,
            person_body(permissions=["EnforcementOperations"]),
        )
        == 430
    )


def test_operation_status_pending_unknown_and_gone(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    env = mock.env(Env.TEST)
    from dataclasses import replace

    object.__setattr__(env, "config", replace(env.config, permission_processing_seconds=3))
    ref = client.post(
        "/permissions/persons/grants", json=person_body(), headers=bearer(owner)
    ).json()["referenceNumber"]
    pending = client.get(f"/permissions/operations/{ref}", headers=bearer(owner)).json()
    assert pending == {"status": {"code": 100, "description": "Operacja przyjęta do realizacji"}}
    assert (
        query(
            client,
            "/permissions/query/persons/grants",
            owner,
            {"queryType": "PermissionsInCurrentContext"},
        )["permissions"]
        == []
    )
    mock.clock.advance(3)
    assert (
        client.get(f"/permissions/operations/{ref}", headers=bearer(owner)).json()["status"]["code"]
        == 200
    )
    unknown = client.get(
        "/permissions/operations/20260302-EG-0000000000-0000000000-00", headers=bearer(owner)
    )
    assert unknown.status_code == 400 and legacy_codes(unknown) == [21405]
    assert "nie została znaleziona" in unknown.text
    mock.clock.advance(31 * 86400)
    gone = client.get(
        f"/permissions/operations/{ref}", headers=bearer(mint_access_token(mock, nip=NIP))
    )
    assert (
        gone.status_code == 410
        and gone.json()["detail"] == "Operacja wygasła i nie jest już dostępna."
    )


def test_entities_indirect_and_personal(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    assert grant(client, "/permissions/entities/grants", owner, kit.entity_grant(OFFICE)) == 200
    office = mint_access_token(mock, nip=OFFICE)
    received = query(client, "/permissions/query/entities/grants", office)
    assert {(p["permissionScope"], p["canDelegate"]) for p in received["permissions"]} == {
        ("InvoiceRead", True),
        ("InvoiceWrite", False),
    }
    assert all(
        p["contextIdentifier"] == {"type": "Nip", "value": NIP} for p in received["permissions"]
    )
    # The office's Owner sees them among its personal permissions, plus ownerPermissions.
    personal = query(client, "/permissions/query/personal/grants", office)
    assert {p["permissionScope"] for p in personal["permissions"]} == {
        "InvoiceRead",
        "InvoiceWrite",
    }
    assert (
        "CredentialsManage" in personal["ownerPermissions"]
        and "VatUeManage" not in personal["ownerPermissions"]
    )
    indirect = {
        **person_body(permissions=["InvoiceRead"]),
        "targetIdentifier": {"type": "Nip", "value": NIP},
    }
    assert grant(client, "/permissions/indirect/grants", office, indirect) == 200
    indirect_bad = {**indirect, "targetIdentifier": {"type": "Nip", "value": CLIENT}}
    assert grant(client, "/permissions/indirect/grants", office, indirect_bad) == 440
    # The employee's own view in the client's context.
    employee = mint_access_token(
        mock, nip=NIP, subject=SubjectIdentifier("Pesel", PESEL), permissions=("InvoiceRead",)
    )
    mine = query(client, "/permissions/query/personal/grants", employee)
    assert [p["targetIdentifier"] for p in mine["permissions"]] == [{"type": "Nip", "value": NIP}]
    assert "ownerPermissions" not in mine
    in_office = query(
        client,
        "/permissions/query/persons/grants",
        office,
        {"queryType": "PermissionsInCurrentContext"},
    )
    assert [p["targetIdentifier"]["value"] for p in in_office["permissions"]] == [NIP]


def test_authorizations_grant_query_revoke(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    body = {
        "subjectIdentifier": {"type": "Nip", "value": OFFICE},
        "permission": "SelfInvoicing",
        "description": "Samofakturowanie przez biuro",
        "subjectDetails": {"fullName": "Biuro sp. z o.o."},
    }
    assert grant(client, "/permissions/authorizations/grants", owner, body) == 200
    assert (
        grant(
            client,
            "/permissions/authorizations/grants",
            owner,
            {**body, "permission": "PefInvoicing"},
        )
        == 450
    )
    granted = query(
        client, "/permissions/query/authorizations/grants", owner, {"queryType": "Granted"}
    )
    item = granted["authorizationGrants"][0]
    assert item["authorizedEntityIdentifier"] == {"type": "Nip", "value": OFFICE}
    assert item["authorizingEntityIdentifier"] == {"type": "Nip", "value": NIP}
    assert item["subjectEntityDetails"] == {
        "subjectDetailsType": "EntityByIdentifier",
        "fullName": "Biuro sp. z o.o.",
    }
    office = mint_access_token(mock, nip=OFFICE, permissions=("CredentialsRead",))
    received = query(
        client, "/permissions/query/authorizations/grants", office, {"queryType": "Received"}
    )
    assert [g["id"] for g in received["authorizationGrants"]] == [item["id"]]
    assert mock.env(Env.TEST).permissions.has_authorization(
        NIP, SubjectIdentifier("Nip", OFFICE), "SelfInvoicing"
    )
    # The common endpoint does not revoke authorisation permissions.
    assert (
        client.delete(f"/permissions/common/grants/{item['id']}", headers=bearer(owner)).status_code
        == 400
    )
    revoke(client, "authorizations", item["id"], owner)
    assert (
        query(
            client,
            "/permissions/query/authorizations/grants",
            owner,
            {"queryType": "Granted"},
        )["authorizationGrants"]
        == []
    )
    assert (
        client.post(
            "/permissions/query/authorizations/grants", json={}, headers=bearer(owner)
        ).status_code
        == 400
    )


def test_subunits_grant_and_query(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    unit = f"{NIP}-1234{internal_id_check_digit(NIP, '1234')}"
    body = {
        "subjectIdentifier": {"type": "Pesel", "value": PESEL},
        "contextIdentifier": {"type": "InternalId", "value": unit},
        "description": "Administrator jednostki",
        "subunitName": "Jednostka 014",
        "subjectDetails": PERSON_DETAILS,
    }
    assert grant(client, "/permissions/subunits/grants", owner, body) == 200
    other_unit = f"{OFFICE}-1234{internal_id_check_digit(OFFICE, '1234')}"
    assert (
        grant(
            client,
            "/permissions/subunits/grants",
            owner,
            {**body, "contextIdentifier": {"type": "InternalId", "value": other_unit}},
        )
        == 410
    )
    # A NIP subunit needs a JST / VAT-group parent context.
    nip_unit = {**body, "contextIdentifier": {"type": "Nip", "value": CLIENT}}
    assert grant(client, "/permissions/subunits/grants", owner, nip_unit) == 430
    data = query(
        client,
        "/permissions/query/subunits/grants",
        owner,
        {"subunitIdentifier": {"type": "InternalId", "value": unit}},
    )
    item = data["permissions"][0]
    assert item["subunitIdentifier"] == {"type": "InternalId", "value": unit}
    assert item["subunitName"] == "Jednostka 014" and item["permissionScope"] == "CredentialsManage"
    admin = mint_access_token(
        mock,
        context=ContextIdentifier("InternalId", unit),
        subject=SubjectIdentifier("Pesel", PESEL),
        permissions=("CredentialsManage",),
    )
    # The unit admin can create a token in the InternalId context.
    token = client.post(
        "/tokens",
        json={"permissions": ["CredentialsManage"], "description": "Token jednostki"},
        headers=bearer(admin),
    )
    assert token.status_code == 202 and f"|internalId-{unit}|" in token.json()["token"]


def test_eu_entities_admin_and_representative(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    eu_value = f"{NIP}-DE123456789"
    admin_body = {
        "subjectIdentifier": {"type": "Fingerprint", "value": FP},
        "contextIdentifier": {"type": "NipVatUe", "value": eu_value},
        "description": "Administrator podmiotu UE",
        "euEntityName": "Firma G.m.b.H., Berlin",
        "subjectDetails": FP_DETAILS,
        "euEntityDetails": {"fullName": "Firma G.m.b.H.", "address": "Berlin"},
    }
    assert grant(client, "/permissions/eu-entities/administration/grants", owner, admin_body) == 200
    listed = query(client, "/permissions/query/eu-entities/grants", owner)
    assert {p["permissionScope"] for p in listed["permissions"]} == {
        "VatUeManage",
        "InvoiceWrite",
        "InvoiceRead",
        "Introspection",
    }
    assert listed["permissions"][0]["vatUeIdentifier"] == "DE123456789"
    assert listed["permissions"][0]["subjectPersonDetails"]["personIdentifier"] == {
        "type": "Pesel",
        "value": PESEL,
    }
    eu_ctx = ContextIdentifier("NipVatUe", eu_value)
    perms = mock.env(Env.TEST).permissions.resolve(SubjectIdentifier("Fingerprint", FP), eu_ctx)
    eu_admin = mint_access_token(
        mock,
        context=eu_ctx,
        subject=SubjectIdentifier("Fingerprint", FP),
        permissions=tuple(sorted(perms)),
    )
    rep = "A" * 64
    rep_body = {
        "subjectIdentifier": {"type": "Fingerprint", "value": rep},
        "permissions": ["InvoiceWrite"],
        "description": "Reprezentant podmiotu UE",
        "subjectDetails": {
            "subjectDetailsType": "EntityByFingerprint",
            "entityByFp": {"fullName": "Rep GmbH", "address": "Wien"},
        },
    }
    assert grant(client, "/permissions/eu-entities/grants", eu_admin, rep_body) == 200
    in_eu = query(
        client,
        "/permissions/query/eu-entities/grants",
        eu_admin,
        {"authorizedFingerprintIdentifier": rep.lower()},
    )
    assert [(p["permissionScope"], p["euEntityName"]) for p in in_eu["permissions"]] == [
        ("InvoiceWrite", "Firma G.m.b.H., Berlin")
    ]
    assert in_eu["permissions"][0]["subjectEntityDetails"] == {
        "subjectDetailsType": "EntityByFingerprint",
        "fullName": "Rep GmbH",
        "address": "Wien",
    }
    # The EU admin revokes the representative through the common endpoint (VatUeManage).
    revoke(client, "common", in_eu["permissions"][0]["id"], eu_admin)
    assert (
        query(
            client,
            "/permissions/query/eu-entities/grants",
            eu_admin,
            {"authorizedFingerprintIdentifier": rep},
        )["permissions"]
        == []
    )


def test_system_grants_listed_with_system_author(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    env = mock.env(Env.TEST)
    env.permissions.grant_system(
        ContextIdentifier("Nip", NIP),
        SubjectIdentifier("Pesel", PESEL2),
        [("CredentialsManage", "praca w kontekście")],
        T0,
    )
    data = query(
        client,
        "/permissions/query/persons/grants",
        owner,
        {"queryType": "PermissionsInCurrentContext", "authorIdentifier": {"type": "System"}},
    )
    assert [p["authorIdentifier"] for p in data["permissions"]] == [{"type": "System"}]
    assert "subjectPersonDetails" not in data["permissions"][0]


def test_paging_and_sort(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    for i, pesel in enumerate(["15062788702", "22271569167", "38092277125", "30112206276"]):
        client.post(
            "/permissions/persons/grants",
            json=person_body(pesel, permissions=["InvoiceRead", "InvoiceWrite", "Introspection"]),
            headers=bearer(owner),
        )
        mock.clock.advance(1 + i)
    first = query(
        client,
        "/permissions/query/persons/grants",
        owner,
        {"queryType": "PermissionsInCurrentContext"},
        pageSize=10,
    )
    second = query(
        client,
        "/permissions/query/persons/grants",
        owner,
        {"queryType": "PermissionsInCurrentContext"},
        pageSize=10,
        pageOffset=1,
    )
    assert first["hasMore"] is True and second["hasMore"] is False
    assert len(first["permissions"]) == 10 and len(second["permissions"]) == 2
    rows = first["permissions"] + second["permissions"]
    assert len({r["id"] for r in rows}) == 12
    keys = [(r["startDate"], r["id"]) for r in rows]
    # startDate desc, then id asc
    assert keys == sorted(sorted(keys, key=lambda k: k[1]), key=lambda k: k[0], reverse=True)
    assert rows[0]["authorizedIdentifier"]["value"] == "30112206276"
    bad = client.post(
        "/permissions/query/persons/grants",
        params={"pageSize": 101},
        json={"queryType": "PermissionsInCurrentContext"},
        headers=bearer(owner),
    )
    assert bad.status_code == 400 and legacy_codes(bad) == [21405]


def test_entity_and_subordinate_roles(client, mock, spec):  # type: ignore[no-untyped-def]
    env = mock.env(Env.TEST)
    env.subjects.entities[NIP] = Entity(NIP, "VatGroup", "Grupa VAT", T0, subunits=[CLIENT])
    env.subjects.entities[CLIENT] = Entity(
        CLIENT, "VatGroup", "Członek grupy VAT", T0, parent_nip=NIP
    )
    owner = mint_access_token(mock, nip=NIP)
    roles = query(client, "/permissions/query/entities/roles", owner)
    assert roles == {
        "roles": [
            {
                "role": "VatGroupUnit",
                "description": "Grupa VAT",
                "startDate": "2026-03-02T09:00:00.0000000+00:00",
            }
        ],
        "hasMore": False,
    }
    member = query(client, "/permissions/query/entities/roles", mint_access_token(mock, nip=CLIENT))
    assert member["roles"][0]["parentEntityIdentifier"] == {"type": "Nip", "value": NIP}
    subs = query(client, "/permissions/query/subordinate-entities/roles", owner)
    assert subs["roles"] == [
        {
            "subordinateEntityIdentifier": {"type": "Nip", "value": CLIENT},
            "role": "VatGroupSubUnit",
            "description": "Członek grupy VAT",
            "startDate": "2026-03-02T09:00:00.0000000+00:00",
        }
    ]
    filtered = query(
        client,
        "/permissions/query/subordinate-entities/roles",
        owner,
        {"subordinateEntityIdentifier": {"type": "Nip", "value": OFFICE}},
    )
    assert filtered["roles"] == []
    # Now a NIP subunit administrator can be appointed from the VAT group.
    body = {
        "subjectIdentifier": {"type": "Pesel", "value": PESEL},
        "contextIdentifier": {"type": "Nip", "value": CLIENT},
        "description": "Administrator członka grupy",
        "subjectDetails": PERSON_DETAILS,
    }
    assert grant(client, "/permissions/subunits/grants", owner, body) == 200
    assert env.permissions.resolve(
        SubjectIdentifier("Pesel", PESEL), ContextIdentifier("Nip", CLIENT)
    ) == {"CredentialsManage"}


def test_attachment_status(client, mock, spec, owner):  # type: ignore[no-untyped-def]
    response = client.get("/permissions/attachments/status", headers=bearer(owner))
    assert response.status_code == 200
    assert (
        schema_errors(spec, "GET", "/permissions/attachments/status", "200", response.json()) == []
    )
    assert response.json() == {"isAttachmentAllowed": False, "revokedDate": None}
    mock.env(Env.TEST).subjects.attachments[NIP] = AttachmentConsent(True)
    assert (
        client.get("/permissions/attachments/status", headers=bearer(owner)).json()[
            "isAttachmentAllowed"
        ]
        is True
    )
    reader = mint_access_token(mock, nip=NIP, permissions=("InvoiceRead",))
    assert client.get("/permissions/attachments/status", headers=bearer(reader)).status_code == 403


def test_owner_via_pesel_in_personal_query(client, mock, spec):  # type: ignore[no-untyped-def]
    env = mock.env(Env.TEST)
    env.subjects.persons[NIP] = Person(NIP, PESEL, "Jan", True, False, T0)
    perms = env.permissions.resolve(
        SubjectIdentifier("Pesel", PESEL), ContextIdentifier("Nip", NIP)
    )
    token = mint_access_token(
        mock, nip=NIP, subject=SubjectIdentifier("Pesel", PESEL), permissions=tuple(sorted(perms))
    )
    data = query(client, "/permissions/query/personal/grants", token)
    assert data["permissions"] == []
    assert "EnforcementOperations" in data["ownerPermissions"]
