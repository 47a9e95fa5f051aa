"""The /testdata/* surface over HTTP: 200 with an empty body, 30001, 21405, effects, TEST only."""

from __future__ import annotations

import pytest

from mockksef.environments import Env
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.services.limits.models import OVERRIDABLE_GROUPS
from mockksef.services.testdata import routes as testdata_routes
from tests import kit
from tests.conftest import bearer, legacy_codes, mint_access_token, problem_codes

NIP = "5265877635"
GROUP = "3755747347"
MEMBERS = ("4972530874", "8225900795")
PERSON_NIP = "7980332920"
PESEL = "30112206276"


def assert_empty_ok(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers.get("content-length") == "0"


@pytest.fixture
def token(mock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(mint_access_token(mock, nip=NIP))


def session_limits_body(online: int = 20, collective: int | None = 50) -> dict:  # type: ignore[type-arg]
    return kit.session_limits((2, 5, online), (3, 6, 30), collective)


def rate_limits_body(value: int = 4) -> dict:  # type: ignore[type-arg]
    return {
        "rateLimits": {
            # Within 10x the production values of every group (TEST refuses more).
            g: {"perSecond": value, "perMinute": value * 10, "perHour": value * 40}
            for g in OVERRIDABLE_GROUPS
        }
    }


# -- entities and persons --------------------------------------------------------------------------


def test_subject_create_conflict_and_remove(client, mock):
    body = {
        "subjectNip": GROUP,
        "subjectType": "VatGroup",
        "description": "Grupa VAT",
        "subunits": [
            {"subjectNip": m, "description": f"NIP {m}: członek grupy VAT"} for m in MEMBERS
        ],
    }
    assert_empty_ok(client.post("/testdata/subject", json=body))
    env = mock.env("TEST")
    assert env.subjects.entities[MEMBERS[1]].role == "VatGroupSubUnit"
    again = client.post("/testdata/subject", json=body)
    assert again.status_code == 400 and legacy_codes(again) == [30001]
    assert (
        again.json()["exception"]["exceptionDetailList"][0]["exceptionDescription"]
        == "Podmiot lub uprawnienie już istnieje."
    )
    problem = client.post(
        "/testdata/subject", json=body, headers={"X-Error-Format": "problem-details"}
    )
    assert problem.headers["content-type"] == "application/problem+json" and problem_codes(
        problem
    ) == [30001]
    later = client.post("/testdata/subject", json={**body, "createdDate": "2026-03-03T00:00:00Z"})
    assert_empty_ok(later)
    assert_empty_ok(client.post("/testdata/subject/remove", json={"subjectNip": GROUP}))
    assert not env.subjects.entities


@pytest.mark.parametrize(
    "body",
    [
        {"subjectNip": GROUP, "subjectType": "Spolka", "description": "Grupa VAT"},
        {"subjectNip": GROUP, "subjectType": "JST", "description": "abc"},
        {"subjectNip": "123", "subjectType": "JST", "description": "Gmina testowa"},
        {"subjectType": "JST", "description": "Gmina testowa"},
        {
            "subjectNip": GROUP,
            "subjectType": "EnforcementAuthority",
            "description": "Organ",
            "subunits": [{"subjectNip": NIP, "description": "Jednostka"}],
        },
    ],
)
def test_subject_validation_is_21405(client, body):  # type: ignore[no-untyped-def]
    response = client.post("/testdata/subject", json=body)
    assert response.status_code == 400 and legacy_codes(response) == [21405], response.text


def test_enum_values_are_read_case_insensitively(client, mock):
    assert_empty_ok(
        client.post(
            "/testdata/subject",
            json={"subjectNip": GROUP, "subjectType": "jst", "description": "Gmina testowa"},
        )
    )
    assert mock.env("TEST").subjects.entities[GROUP].subject_type == "JST"


def test_person_create_conflict_and_remove(client, mock):
    body = {"nip": PERSON_NIP, "pesel": PESEL, "description": "Komornik", "isBailiff": True}
    assert_empty_ok(client.post("/testdata/person", json=body))
    env = mock.env("TEST")
    assert env.subjects.person_by_pesel(PESEL).is_bailiff
    conflict = client.post("/testdata/person", json=body)
    assert conflict.status_code == 400 and legacy_codes(conflict) == [30001]
    missing = client.post(
        "/testdata/person", json={"nip": PERSON_NIP, "pesel": PESEL, "description": "Komornik"}
    )
    assert legacy_codes(missing) == [21405]
    assert_empty_ok(client.post("/testdata/person/remove", json={"nip": PERSON_NIP}))
    assert env.subjects.person_by_pesel(PESEL) is None


def test_permissions_grant_and_revoke(client, mock):
    body = {
        "contextIdentifier": {"type": "nip", "value": GROUP},
        "authorizedIdentifier": {"type": "pesel", "value": "38092277125"},
        "permissions": [
            {"permissionType": "InvoiceRead", "description": f"praca w kontekście {GROUP}"},
            {"permissionType": "CredentialsManage", "description": f"praca w kontekście {GROUP}"},
        ],
    }
    assert_empty_ok(client.post("/testdata/permissions", json=body))
    env = mock.env("TEST")
    subject, context = SubjectIdentifier("Pesel", "38092277125"), ContextIdentifier("Nip", GROUP)
    assert {"InvoiceRead", "CredentialsManage"} <= env.permissions.resolve(subject, context)
    revoke = {k: body[k] for k in ("contextIdentifier", "authorizedIdentifier")}
    assert_empty_ok(client.post("/testdata/permissions/revoke", json=revoke))
    assert not env.permissions.resolve(subject, context)
    internal = {**body, "contextIdentifier": {"type": "InternalId", "value": f"{GROUP}-00001"}}
    assert legacy_codes(client.post("/testdata/permissions", json=internal)) == [21405]
    vat_ue = {
        **body,
        "permissions": [{"permissionType": "VatUeManage", "description": "niedozwolone"}],
    }
    assert legacy_codes(client.post("/testdata/permissions", json=vat_ue)) == [21405]


def test_attachment_allow_and_revoke(client, mock):
    assert_empty_ok(client.post("/testdata/attachment", json={"nip": NIP}))
    assert mock.env("TEST").subjects.attachment_consent(NIP).allowed
    assert_empty_ok(
        client.post(
            "/testdata/attachment/revoke", json={"nip": NIP, "expectedEndDate": "2026-03-10"}
        )
    )
    assert str(mock.env("TEST").subjects.attachment_consent(NIP).revoked_date) == "2026-03-10"
    bad = client.post(
        "/testdata/attachment/revoke", json={"nip": NIP, "expectedEndDate": "10.03.2026"}
    )
    assert legacy_codes(bad) == [21405]


def test_context_block_and_unblock_ignore_a_bearer(client, mock, token):
    body = {"contextIdentifier": {"type": "Nip", "value": NIP}}
    assert_empty_ok(client.post("/testdata/context/block", json=body, headers=token))
    assert mock.env("TEST").subjects.is_blocked(ContextIdentifier("Nip", NIP))
    assert_empty_ok(client.post("/testdata/context/unblock", json=body))
    assert not mock.env("TEST").subjects.is_blocked(ContextIdentifier("Nip", NIP))
    for bad in (
        {},
        {"contextIdentifier": {"type": "Krs", "value": NIP}},
        {"contextIdentifier": {"type": "PeppolId", "value": "P1"}},
    ):
        assert legacy_codes(client.post("/testdata/context/block", json=bad)) == [21405]


# -- limits of the current context / subject ------------------------------------------------------


def test_session_limits_override_shows_in_limits_context(client, token):
    assert_empty_ok(
        client.post("/testdata/limits/context/session", json=session_limits_body(), headers=token)
    )
    limits = client.get("/limits/context", headers=token).json()
    assert (
        limits["onlineSession"]["maxInvoices"] == 20
        and limits["batchSession"]["maxInvoiceWithAttachmentSizeInMB"] == 6
    )
    assert limits["collectiveIdentifier"] == {"maxInvoices": 50}
    assert_empty_ok(client.delete("/testdata/limits/context/session", headers=token))
    assert client.get("/limits/context", headers=token).json()["collectiveIdentifier"] == {
        "maxInvoices": 500
    }


@pytest.mark.parametrize(
    "body",
    [
        session_limits_body(online=100_001),
        session_limits_body(collective=None),
        session_limits_body(collective=5001),
        kit.session_limits((2, 5, 20), (6, 3, 1), 50),
        {"onlineSession": session_limits_body()["onlineSession"]},
    ],
)
def test_session_limit_ranges_are_21405(client, token, body):  # type: ignore[no-untyped-def]
    response = client.post("/testdata/limits/context/session", json=body, headers=token)
    assert response.status_code == 400 and legacy_codes(response) == [21405]


def test_certificate_limits_override_shows_in_both_limit_endpoints(client, mock):
    pesel_token = bearer(
        mint_access_token(
            mock, subject=SubjectIdentifier("Pesel", PESEL), context=ContextIdentifier("Nip", NIP)
        )
    )
    assert client.get("/limits/subject", headers=pesel_token).json() == {
        "enrollment": {"maxEnrollments": 12},
        "certificate": {"maxCertificates": 6},
    }
    body = {
        "subjectIdentifierType": "Pesel",
        "enrollment": {"maxEnrollments": 3},
        "certificate": {"maxCertificates": 0},
    }
    assert_empty_ok(
        client.post("/testdata/limits/subject/certificate", json=body, headers=pesel_token)
    )
    assert client.get("/limits/subject", headers=pesel_token).json() == {
        "enrollment": {"maxEnrollments": 3},
        "certificate": {"maxCertificates": 0},
    }
    limits = client.get("/certificates/limits", headers=pesel_token).json()
    assert limits == {
        "canRequest": False,
        "enrollment": {"remaining": 3, "limit": 3},
        "certificate": {"remaining": 0, "limit": 0},
    }
    negative = client.post(
        "/testdata/limits/subject/certificate",
        json={"enrollment": {"maxEnrollments": -1}},
        headers=pesel_token,
    )
    assert legacy_codes(negative) == [21405]
    assert_empty_ok(client.delete("/testdata/limits/subject/certificate", headers=pesel_token))
    assert client.get("/limits/subject", headers=pesel_token).json()["certificate"] == {
        "maxCertificates": 6
    }


def test_rate_limits_override_reset_and_production(client, token):
    assert_empty_ok(client.post("/testdata/rate-limits", json=rate_limits_body(4), headers=token))
    effective = client.get("/rate-limits", headers=token).json()
    assert effective["invoiceSend"] == {"perSecond": 4, "perMinute": 40, "perHour": 160}
    assert effective["onlineSessionClose"] == {"perSecond": 20, "perMinute": 60, "perHour": 240}
    assert effective["anonymous"] == {"perSecond": 60, "perMinute": -1, "perHour": -1}
    assert_empty_ok(client.delete("/testdata/rate-limits", headers=token))
    assert client.get("/rate-limits", headers=token).json()["invoiceSend"] == {
        "perSecond": 10,
        "perMinute": 30,
        "perHour": 180,
    }
    assert_empty_ok(client.post("/testdata/rate-limits/production", headers=token))
    production = client.get("/rate-limits", headers=token).json()
    values = client.app.state.mock.env("TEST").limits.production_rate_limits()
    assert production == {g: v.as_json() for g, v in values.items()}


@pytest.mark.parametrize("value", [0, -1])
def test_rate_limit_values_below_one_are_21405(client, token, value):  # type: ignore[no-untyped-def]
    body = rate_limits_body()
    body["rateLimits"]["other"]["perHour"] = value
    response = client.post("/testdata/rate-limits", json=body, headers=token)
    assert response.status_code == 400 and legacy_codes(response) == [21405]
    assert (
        "rateLimits.other.perHour"
        in response.json()["exception"]["exceptionDetailList"][0]["details"][0]
    )


def test_rate_limits_need_all_13_groups(client, token):
    body = rate_limits_body()
    del body["rateLimits"]["collectiveIdentifier"]
    response = client.post("/testdata/rate-limits", json=body, headers=token)
    assert response.status_code == 400 and legacy_codes(response) == [21405]


def test_limit_endpoints_need_an_access_token(client):
    for method, path in (
        ("POST", "/testdata/rate-limits/production"),
        ("DELETE", "/testdata/limits/context/session"),
    ):
        response = client.request(method, path)
        assert (
            response.status_code == 401
            and response.headers["content-type"] == "application/problem+json"
        )


# -- TEST only ---------------------------------------------------------------------------------------

TESTDATA_ROUTES = [(next(iter(r.methods - {"HEAD"})), r.path) for r in testdata_routes.routes]  # type: ignore[attr-defined]


def test_all_testdata_routes_are_mounted():
    assert len(TESTDATA_ROUTES) == 18


@pytest.mark.parametrize("env", ["demo", "prod"])
@pytest.mark.parametrize(
    ("method", "path"), TESTDATA_ROUTES, ids=[f"{m} {p}" for m, p in TESTDATA_ROUTES]
)
def test_testdata_is_404_outside_test(client, mock, env, method, path):  # type: ignore[no-untyped-def]
    token = bearer(mint_access_token(mock, nip=NIP, env=Env(env)))
    url = f"http://testserver/{env}/v2" + path.replace("{serialNumber}", "0123456789ABCDEF")
    response = client.request(method, url, json={"nip": NIP}, headers=token)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_demo_by_host_header_is_404_too(client):
    response = client.post("http://api-demo.ksef.mf.gov.pl/v2/testdata/person", json={"nip": NIP})
    assert response.status_code == 404
