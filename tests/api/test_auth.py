"""Authentication over HTTP: challenge, XAdES and KSeF-token auth, status, redeem,
refresh, auth sessions and every documented failure (reference A §2, C §1.4).

Most tests run in-process (``client``); ``test_*_over_a_real_socket`` repeat the
main flows against uvicorn. Certificates are self-signed and made by the bundled
client (``ksefclient.xades``), as an integrator would on KSeF TEST.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ksefclient.xades import (
    SigningCredentials,
    auth_token_request,
    personal_certificate,
    sign_auth_token_request,
)
from ksefcontract import wire
from mockksef.clock import parse_datetime, to_millis
from mockksef.environments import Env
from mockksef.models import nip_checksum_ok
from tests import kit
from tests.conftest import (
    START,
    bearer,
    legacy_codes,
    mint_access_token,
    problem_codes,
    tuned_client,
)

NOT_BEFORE = START - timedelta(hours=1)
XML = kit.XML
INVOICES = ("InvoiceRead", "InvoiceWrite")
_counter = itertools.count(1)


def new_nip() -> str:
    """A fresh, checksum-valid NIP per call (TEST data are shared: use random NIPs)."""
    while True:
        body = f"{5260000000 // 10 + next(_counter) * 7919 % 89999999:09d}"
        for last in range(10):
            candidate = body + str(last)
            if nip_checksum_ok(candidate) and re.match(
                r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}$", candidate
            ):
                return candidate


def person(
    nip: str | None = None, *, pesel: str | None = None, serial: str | None = None
) -> SigningCredentials:
    return kit.person(nip, pesel=pesel, serial=serial, not_before=NOT_BEFORE)


def seal(nip: str) -> SigningCredentials:
    return kit.seal(nip, not_before=NOT_BEFORE)


@functools.cache
def anonymous() -> SigningCredentials:
    """A certificate with neither serialNumber nor organizationIdentifier (only CN and C)."""
    from cryptography.x509.oid import NameOID

    subject = {NameOID.COMMON_NAME: "Bez identyfikatora", NameOID.COUNTRY_NAME: "PL"}
    return kit.self_signed(subject, NOT_BEFORE)


def schema_errors(spec, method: str, path: str, status: str, body: Any) -> list[str]:  # type: ignore[no-untyped-def]
    op = spec.operation(method, path)
    schema = op.raw["responses"][status]["content"]["application/json"]["schema"]
    return spec.validate_value(schema, body).errors


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def login(client, creds, context, **kw) -> kit.Session:  # type: ignore[no-untyped-def]
    return kit.xades_login(client, context[1], creds, context_type=context[0], **kw)


PERMISSIONS = {
    "InvoiceRead": "Odczyt faktur testowych.",
    "InvoiceWrite": "Wysyłka faktur testowych.",
    "CredentialsManage": "Zarządzanie tokenami.",
}


def fingerprint_grant(nip: str, who: SigningCredentials, *permissions: str) -> dict[str, Any]:
    """A ``/testdata/permissions`` body: ``permissions`` in ``nip`` to a certificate fingerprint."""
    return {
        "contextIdentifier": {"type": "Nip", "value": nip},
        "authorizedIdentifier": {"type": "Fingerprint", "value": who.fingerprint},
        "permissions": [{"permissionType": p, "description": PERMISSIONS[p]} for p in permissions],
    }


def details(response: httpx.Response) -> list[str]:
    return response.json()["exception"]["exceptionDetailList"][0]["details"] or []


# -- challenge ---------------------------------------------------------------------------


def test_challenge_shape_and_millisecond_floor(client, mock, spec):  # type: ignore[no-untyped-def]
    mock.clock.set(START + timedelta(microseconds=123_987))
    response = client.post("/auth/challenge")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert schema_errors(spec, "POST", "/auth/challenge", "200", body) == []
    assert re.fullmatch(r"\d{8}-CR-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}", body["challenge"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00", body["timestamp"])
    assert body["timestamp"].endswith(".1239870+00:00")
    assert (
        body["timestampMs"]
        == to_millis(parse_datetime(body["timestamp"]))
        == to_millis(START) + 123
    )
    assert body["clientIp"]
    assert client.post("/auth/challenge").json()["challenge"] != body["challenge"]


# -- XAdES ------------------------------------------------------------------------------------


def test_xades_personal_full_flow(client, mock, spec):  # type: ignore[no-untyped-def]
    nip = new_nip()
    started = kit.start_xades(client, person(nip), ("Nip", nip))
    assert started.status_code == 202, started.text
    body = started.json()
    assert schema_errors(spec, "POST", "/auth/xades-signature", "202", body) == []
    op_claims = claims(body["authenticationToken"]["token"])
    assert op_claims["typ"] == "OperationToken" and op_claims["arn"] == body["referenceNumber"]
    assert op_claims["exp"] - op_claims["iat"] == 45 * 60
    assert parse_datetime(body["authenticationToken"]["validUntil"]).timestamp() == op_claims["exp"]

    status = kit.auth_status(client, started)
    assert schema_errors(spec, "GET", "/auth/{referenceNumber}", "200", status) == []
    assert status["status"] == {"code": 200, "description": "Uwierzytelnianie zakończone sukcesem"}
    assert status["authenticationMethod"] == "QualifiedSignature"
    assert status["authenticationMethodInfo"] == {
        "category": "XadesSignature",
        "code": "xades.qualified-signature",
        "displayName": "Podpis kwalifikowany",
    }
    assert status["isTokenRedeemed"] is False and status["refreshTokenValidUntil"] is None

    redeem = client.post("/auth/token/redeem", headers=bearer(body["authenticationToken"]["token"]))
    assert redeem.status_code == 200
    assert schema_errors(spec, "POST", "/auth/token/redeem", "200", redeem.json()) == []
    access, refresh = redeem.json()["accessToken"], redeem.json()["refreshToken"]
    access_claims_ = claims(access["token"])
    assert access_claims_["typ"] == "ContextToken"
    assert (access_claims_["cit"], access_claims_["civ"], access_claims_["aum"]) == (
        "Nip",
        nip,
        "QualifiedSignature",
    )
    assert "Owner" in json.loads(access_claims_["per"])
    sud = json.loads(access_claims_["sud"])
    assert sud["SubjectIdentifier"] == {"Type": "Nip", "Value": nip}
    assert (
        sud["SerialNumber"] == f"TINPL-{nip}"
        and sud["CertificateFingerprint"] == person(nip).fingerprint
    )
    assert access_claims_["exp"] - access_claims_["iat"] == 15 * 60
    assert parse_datetime(access["validUntil"]).timestamp() == access_claims_["exp"]
    refresh_claims = claims(refresh["token"])
    assert (
        refresh_claims["typ"] == "RefreshToken" and refresh_claims["arn"] == body["referenceNumber"]
    )
    assert refresh_claims["exp"] - refresh_claims["iat"] == 7 * 86400
    assert parse_datetime(refresh["validUntil"]).timestamp() == refresh_claims["exp"]

    # The access token works on the API.
    assert client.get("/auth/sessions", headers=bearer(access["token"])).status_code == 200
    status = kit.auth_status(client, started)
    assert status["isTokenRedeemed"] is True
    assert status["refreshTokenValidUntil"] == refresh["validUntil"]


def test_xades_seal_and_fingerprint_and_namespace_21(client, mock):  # type: ignore[no-untyped-def]
    nip = new_nip()
    sealed = kit.start_xades(client, seal(nip), ("Nip", nip), version="2.1")
    status = kit.auth_status(client, sealed)
    assert status["status"]["code"] == 200
    assert status["authenticationMethod"] == "QualifiedSeal"
    assert status["authenticationMethodInfo"]["code"] == "xades.qualified-seal"

    # Fingerprint identity: no permissions until one is granted to the fingerprint.
    stranger = person(serial="brak-identyfikatora")
    started = kit.start_xades(client, stranger, ("Nip", nip), subject_type="certificateFingerprint")
    assert kit.auth_status(client, started)["status"] == {
        "code": 415,
        "description": "Uwierzytelnianie zakończone niepowodzeniem",
        "details": ["Brak przypisanych uprawnień"],
    }
    grant = client.post(
        "/testdata/permissions",
        json=fingerprint_grant(nip, stranger, "InvoiceRead"),
    )
    assert grant.status_code == 200, grant.text
    session = login(client, stranger, ("Nip", nip), subject_type="certificateFingerprint")
    granted = claims(session.access_token)
    assert json.loads(granted["per"]) == ["InvoiceRead"]
    assert json.loads(granted["sud"])["SubjectIdentifier"] == {
        "Type": "Fingerprint",
        "Value": stranger.fingerprint,
    }


def test_dotnet_signed_document_authenticates(client):  # type: ignore[no-untyped-def]
    from tests.unit.test_xades import dotnet_signed

    nip = new_nip()
    challenge = client.post("/auth/challenge").json()["challenge"]
    xml = auth_token_request(challenge, "Nip", nip, allowed_ips={})
    started = client.post(
        "/auth/xades-signature?verifyCertificateChain=false",
        content=dotnet_signed(xml, person(nip)),
        headers={"Content-Type": "application/xml; charset=utf-8"},
    )
    assert started.status_code == 202, started.text
    assert kit.auth_status(client, started)["status"]["code"] == 200


def test_pesel_owner_through_testdata_person_and_deceased(client):  # type: ignore[no-untyped-def]
    nip, pesel = new_nip(), "30112206276"
    started = kit.start_xades(client, person(pesel=pesel), ("Nip", nip))
    assert kit.auth_status(client, started)["status"]["code"] == 415
    created = client.post(
        "/testdata/person",
        json={"nip": nip, "pesel": pesel, "isBailiff": False, "description": "Osoba testowa"},
    )
    assert created.status_code == 200, created.text
    session = login(client, person(pesel=pesel), ("Nip", nip))
    assert "Owner" in json.loads(claims(session.access_token)["per"])

    other_nip, dead = new_nip(), "02070803628"
    client.post(
        "/testdata/person",
        json={
            "nip": other_nip,
            "pesel": dead,
            "isBailiff": False,
            "isDeceased": True,
            "description": "Osoba zmarła",
        },
    )
    started = kit.start_xades(client, person(pesel=dead), ("Nip", other_nip))
    status = kit.auth_status(client, started)["status"]
    assert status == {
        "code": 470,
        "description": "Uwierzytelnianie zakończone niepowodzeniem",
        "details": ["Próba wykorzystania metod autoryzacyjnych osoby zmarłej"],
    }
    redeem = client.post(
        "/auth/token/redeem", headers=bearer(started.json()["authenticationToken"]["token"])
    )
    assert legacy_codes(redeem) == [21308]


def test_blocked_context_is_480(client):  # type: ignore[no-untyped-def]
    nip = new_nip()
    assert (
        client.post(
            "/testdata/context/block", json={"contextIdentifier": {"type": "Nip", "value": nip}}
        ).status_code
        == 200
    )
    started = kit.start_xades(client, person(nip), ("Nip", nip))
    assert kit.auth_status(client, started)["status"] == {
        "code": 480,
        "description": "Uwierzytelnienie zablokowane",
        "details": [
            "Podejrzenie incydentu bezpieczeństwa. Skontaktuj się z Ministerstwem Finansów przez formularz zgłoszeniowy."
        ],
    }
    client.post(
        "/testdata/context/unblock", json={"contextIdentifier": {"type": "Nip", "value": nip}}
    )
    assert (
        kit.auth_status(client, kit.start_xades(client, person(nip), ("Nip", nip)))["status"][
            "code"
        ]
        == 200
    )


def test_certificate_trust_and_validity_460(client, mock):  # type: ignore[no-untyped-def]
    nip = new_nip()
    chained = kit.start_xades(
        client, person(nip), ("Nip", nip), params={"verifyCertificateChain": "true"}
    )
    assert kit.auth_status(client, chained)["status"] == {
        "code": 460,
        "description": "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
        "details": ["Niezaufany łańcuch certyfikatów"],
    }
    explicit_false = kit.start_xades(
        client, person(nip), ("Nip", nip), params={"verifyCertificateChain": "false"}
    )
    assert kit.auth_status(client, explicit_false)["status"]["code"] == 200

    expired = personal_certificate(nip=nip, not_before=START - timedelta(days=10), valid_days=5)
    assert kit.auth_status(client, kit.start_xades(client, expired, ("Nip", nip)))["status"][
        "details"
    ] == ["Nieważny certyfikat"]
    future = personal_certificate(nip=nip, not_before=START + timedelta(days=1))
    assert kit.auth_status(client, kit.start_xades(client, future, ("Nip", nip)))["status"][
        "details"
    ] == ["Nieważny certyfikat"]


@pytest.mark.parametrize("env", ["demo", "prod"])
def test_self_signed_is_untrusted_on_demo_and_prod(app, env):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    nip = "5265877635"
    with TestClient(app, base_url=f"http://testserver/{env}/v2") as other:
        started = kit.start_xades(other, person(nip), ("Nip", nip))
        assert started.status_code == 202
        assert kit.auth_status(other, started)["status"]["details"] == [
            "Niezaufany łańcuch certyfikatów"
        ]


def test_status_stays_100_while_processing(mock, spec):  # type: ignore[no-untyped-def]
    with tuned_client(mock, auth_processing_seconds=5) as (client, slow):
        nip = new_nip()
        started = kit.start_xades(client, person(nip), ("Nip", nip))
        assert kit.auth_status(client, started)["status"] == {
            "code": 100,
            "description": "Uwierzytelnianie w toku",
        }
        operation = bearer(started.json()["authenticationToken"]["token"])
        early = client.post("/auth/token/redeem", headers=operation)
        assert legacy_codes(early) == [21301]
        assert details(early) == ["Status uwierzytelniania (100) nie pozwala na pobranie tokenów."]
        slow.clock.advance(5)
        assert kit.auth_status(client, started)["status"]["code"] == 200
        assert client.post("/auth/token/redeem", headers=operation).status_code == 200


# -- synchronous XAdES failures ------------------------------------------------------------------


def test_stale_used_and_foreign_challenges_are_21111(client, mock, app):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    nip = new_nip()
    challenge = client.post("/auth/challenge").json()["challenge"]
    mock.clock.advance(11 * 60)
    stale = kit.start_xades(client, person(nip), ("Nip", nip), challenge_value=challenge)
    assert stale.status_code == 400 and legacy_codes(stale) == [21111]
    assert (
        stale.json()["exception"]["exceptionDetailList"][0]["exceptionDescription"]
        == "Nieprawidłowe wyzwanie autoryzacyjne."
    )

    fresh = client.post("/auth/challenge").json()["challenge"]
    assert (
        kit.start_xades(client, person(nip), ("Nip", nip), challenge_value=fresh).status_code == 202
    )
    reused = kit.start_xades(client, person(nip), ("Nip", nip), challenge_value=fresh)
    assert legacy_codes(reused) == [21111]

    with TestClient(app, base_url="http://testserver/demo/v2") as demo:
        foreign = demo.post("/auth/challenge").json()["challenge"]
    other_env = kit.start_xades(client, person(nip), ("Nip", nip), challenge_value=foreign)
    assert legacy_codes(other_env) == [21111]
    problem = client.post(
        "/auth/xades-signature",
        content=kit.signed_request(client, person(nip), ("Nip", nip), challenge_value=foreign),
        headers={**XML, "X-Error-Format": "problem-details"},
    )
    assert problem.headers["content-type"] == "application/problem+json" and problem_codes(
        problem
    ) == [21111]


def test_garbage_dtd_encoding_and_content_type(client):  # type: ignore[no-untyped-def]
    nip = new_nip()
    cases = [
        (b"", XML, 21001),
        (b"{not xml", XML, 21001),
        (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0">&b;</AuthTokenRequest>',
            XML,
            21001,
        ),
        (
            b'<?xml version="1.0" encoding="utf-8"?><AuthTokenRequest>\xc3\x28</AuthTokenRequest>',
            XML,
            21217,
        ),
        (b"<Faktura xmlns='http://crd.gov.pl/wzor/2025/06/25/13775/'/>", XML, 9101),
        (
            kit.signed_request(client, person(nip), ("Nip", nip)),
            {"Content-Type": "application/json"},
            21001,
        ),
    ]
    for raw, headers, code in cases:
        response = client.post("/auth/xades-signature", content=raw, headers=headers)
        assert response.status_code == 400, (raw[:40], response.text)
        assert legacy_codes(response) == [code], raw[:60]
    billion = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><l>&d;</l>'
    )
    assert legacy_codes(client.post("/auth/xades-signature", content=billion, headers=XML)) == [
        21001
    ]


def test_schema_signature_and_certificate_errors(client):  # type: ignore[no-untyped-def]
    nip = new_nip()
    challenge = client.post("/auth/challenge").json()["challenge"]

    unsigned = auth_token_request(challenge, "Nip", nip)
    assert legacy_codes(client.post("/auth/xades-signature", content=unsigned, headers=XML)) == [
        9102
    ]

    bad_ip = sign_auth_token_request(
        auth_token_request(challenge, "Nip", nip, allowed_ips={"ip4Masks": ["10.0.0.0/40"]}),
        person(nip),
    )
    response = client.post("/auth/xades-signature", content=bad_ip, headers=XML)
    assert legacy_codes(response) == [21401] and "Ip4Mask" in details(response)[0]

    signed = sign_auth_token_request(unsigned, person(nip))
    doubled = signed.replace(
        b"</AuthTokenRequest>",
        signed[signed.index(b"<ds:Signature") : signed.index(b"</AuthTokenRequest>")]
        + b"</AuthTokenRequest>",
    )
    assert legacy_codes(client.post("/auth/xades-signature", content=doubled, headers=XML)) == [
        9103
    ]
    tampered = signed.replace(nip.encode(), new_nip().encode())
    assert legacy_codes(client.post("/auth/xades-signature", content=tampered, headers=XML)) == [
        9105
    ]

    # The challenge is checked only after the signature: it is still unused.
    malformed = kit.start_xades(
        client, person(serial="TINPL-111111"), ("Nip", nip), challenge_value=challenge
    )
    assert legacy_codes(malformed) == [21115]
    no_identifier = kit.start_xades(client, anonymous(), ("Nip", nip), challenge_value=challenge)
    assert legacy_codes(no_identifier) == [21406]
    assert (
        kit.start_xades(client, person(nip), ("Nip", nip), challenge_value=challenge).status_code
        == 202
    )


def test_context_checksum_is_21117_on_prod(app):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    bad_checksum = "5265877636"
    with TestClient(app, base_url="http://testserver/prod/v2") as prod:
        response = kit.start_xades(prod, person(bad_checksum), ("Nip", bad_checksum))
        assert legacy_codes(response) == [21117]
    with TestClient(app, base_url="http://testserver/test/v2") as test:
        assert kit.start_xades(test, person(bad_checksum), ("Nip", bad_checksum)).status_code == 202


# -- status, redeem, refresh -------------------------------------------------------------------


def test_status_access_rules_and_410(client, mock, spec):  # type: ignore[no-untyped-def]
    nip = new_nip()
    first = kit.start_xades(client, person(nip), ("Nip", nip)).json()
    second = kit.start_xades(client, person(nip), ("Nip", nip)).json()
    op = bearer(first["authenticationToken"]["token"])
    unknown = "20260302-AU-0000000000-0000000000-00"
    response = client.get(f"/auth/{unknown}", headers=op)
    assert legacy_codes(response) == [21304]
    assert details(response) == [
        f"Operacja uwierzytelniania o numerze referencyjnym {unknown} nie została znaleziona."
    ]
    foreign = client.get(f"/auth/{second['referenceNumber']}", headers=op)
    assert (
        foreign.status_code == 403
        and foreign.json()["reasonCode"] == "insufficient-resource-access"
    )
    assert client.get(f"/auth/{first['referenceNumber']}").status_code == 401

    # The status lives 7 days; the default operation token only 45 minutes.
    with tuned_client(mock, operation_token_minutes=8 * 24 * 60) as (c, long_lived):
        started = kit.start_xades(c, person(nip), ("Nip", nip))
        long_lived.clock.advance(7 * 86400)
        gone = c.get(
            f"/auth/{started.json()['referenceNumber']}",
            headers=bearer(started.json()["authenticationToken"]["token"]),
        )
        assert gone.status_code == 410
        assert gone.headers["content-type"] == "application/problem+json"
        assert gone.json()["detail"] == "Operacja wygasła i nie jest już dostępna."


def test_redeem_once_refresh_and_revocation(client, mock, spec):  # type: ignore[no-untyped-def]
    nip = new_nip()
    session = login(client, person(nip), ("Nip", nip))
    again = client.post("/auth/token/redeem", headers=bearer(session.operation_token))
    assert legacy_codes(again) == [21301]
    assert details(again) == [
        f"Tokeny dla operacji uwierzytelniania {session.reference_number} zostały już pobrane."
    ]

    mock.clock.advance(60)
    refreshed = client.post("/auth/token/refresh", headers=bearer(session.refresh_token))
    assert refreshed.status_code == 200
    assert schema_errors(spec, "POST", "/auth/token/refresh", "200", refreshed.json()) == []
    assert set(refreshed.json()) == {"accessToken"}
    new_access = refreshed.json()["accessToken"]["token"]
    assert claims(new_access)["iat"] == claims(session.access_token)["iat"] + 60
    status = client.get(
        f"/auth/{session.reference_number}", headers=bearer(session.operation_token)
    ).json()
    assert status["lastTokenRefreshDate"] == "2026-03-02T09:01:00.0000000+00:00"

    # Wrong kinds of token: 403; access token on refresh, refresh on the API.
    assert (
        client.post("/auth/token/refresh", headers=bearer(session.access_token)).status_code == 403
    )
    assert client.get("/auth/sessions", headers=bearer(session.refresh_token)).status_code == 403

    assert (
        client.delete("/auth/sessions/current", headers=bearer(session.refresh_token)).status_code
        == 204
    )
    revoked = client.post("/auth/token/refresh", headers=bearer(session.refresh_token))
    assert legacy_codes(revoked) == [21301]
    assert details(revoked) == [
        "Status uwierzytelnienia (425) nie pozwala na odświeżenie tokenu dostępowego."
    ]
    # Access tokens keep working until exp; the status turns to 425.
    assert client.get("/auth/sessions", headers=bearer(new_access)).status_code == 200
    status = client.get(
        f"/auth/{session.reference_number}", headers=bearer(session.operation_token)
    ).json()
    assert status["status"] == {
        "code": 425,
        "description": "Uwierzytelnienie unieważnione",
        "details": [
            "Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika"
        ],
    }
    mock.clock.advance(15 * 60)
    expired = client.get("/auth/sessions", headers=bearer(new_access))
    assert (
        expired.status_code == 401 and expired.headers["content-type"] == "application/problem+json"
    )


def test_refresh_recomputes_permissions(client, mock):  # type: ignore[no-untyped-def]
    nip = new_nip()
    stranger = person(serial="inny-bez-identyfikatora")
    body = fingerprint_grant(nip, stranger, "InvoiceRead")
    assert client.post("/testdata/permissions", json=body).status_code == 200
    session = login(client, stranger, ("Nip", nip), subject_type="certificateFingerprint")
    assert json.loads(claims(session.access_token)["per"]) == ["InvoiceRead"]
    body = fingerprint_grant(nip, stranger, "InvoiceRead", "InvoiceWrite")
    assert client.post("/testdata/permissions", json=body).status_code == 200
    refreshed = client.post("/auth/token/refresh", headers=bearer(session.refresh_token)).json()
    assert json.loads(claims(refreshed["accessToken"]["token"])["per"]) == [
        "InvoiceRead",
        "InvoiceWrite",
    ]


def test_forged_expired_and_foreign_environment_jwts_are_401(client, mock, app):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    demo_token = mint_access_token(mock, env=Env.DEMO)
    for env in ("test", "prod"):
        with TestClient(app, base_url=f"http://testserver/{env}/v2") as other:
            response = other.get("/auth/sessions", headers=bearer(demo_token))
            assert response.status_code == 401, env
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"] == "Wymagane jest uwierzytelnienie."
    with TestClient(app, base_url="http://testserver/demo/v2") as demo:
        assert demo.get("/auth/sessions", headers=bearer(demo_token)).status_code == 200

    good = mint_access_token(mock)
    header, payload, signature = good.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            json.dumps({**claims(good), "per": '["Owner","VatUeManage"]'}).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    for token in (
        f"{header}.{forged_payload}.{signature}",
        "not-a-jwt",
        jwt.encode(claims(good), "a-guessed-secret-of-enough-length!", algorithm="HS256"),
    ):
        response = client.get("/auth/sessions", headers=bearer(token))
        assert response.status_code == 401 and response.json()["status"] == 401
    assert client.post("/auth/token/refresh").status_code == 401


def test_reset_kills_every_jwt(client, mock):  # type: ignore[no-untyped-def]
    nip = new_nip()
    session = login(client, person(nip), ("Nip", nip))
    mock.reset(Env.TEST)
    for method, path, token in (
        ("GET", "/auth/sessions", session.access_token),
        ("POST", "/auth/token/refresh", session.refresh_token),
        ("GET", f"/auth/{session.reference_number}", session.operation_token),
    ):
        assert client.request(method, path, headers=bearer(token)).status_code == 401, path


# -- sessions ------------------------------------------------------------------------------------


def test_sessions_list_paging_and_revoke(client, mock, spec):  # type: ignore[no-untyped-def]
    nip = new_nip()
    sessions = []
    for _ in range(11):
        sessions.append(login(client, person(nip), ("Nip", nip)))
        mock.clock.advance(1)
    me = bearer(sessions[-1].access_token)
    first = client.get("/auth/sessions", headers=me)
    assert first.status_code == 200
    assert schema_errors(spec, "GET", "/auth/sessions", "200", first.json()) == []
    page = first.json()
    assert len(page["items"]) == 10 and page["continuationToken"]
    assert [i["referenceNumber"] for i in page["items"]] == [
        s.reference_number for s in reversed(sessions)
    ][:10]
    assert [i["isCurrent"] for i in page["items"]] == [True] + [False] * 9
    second = client.get(
        "/auth/sessions", headers={**me, "x-continuation-token": page["continuationToken"]}
    ).json()
    assert [i["referenceNumber"] for i in second["items"]] == [sessions[0].reference_number]
    assert "continuationToken" not in second
    everything = client.get("/auth/sessions?pageSize=20", headers=me).json()
    assert len(everything["items"]) == 11

    assert legacy_codes(
        client.get("/auth/sessions", headers={**me, "x-continuation-token": "%%%"})
    ) == [21418]
    assert legacy_codes(client.get("/auth/sessions?pageSize=5", headers=me)) == [21405]

    # Another subject's sessions are neither listed nor revocable.
    other_nip = new_nip()
    other = login(client, person(other_nip), ("Nip", other_nip))
    assert [
        i["referenceNumber"]
        for i in client.get("/auth/sessions", headers=bearer(other.access_token)).json()["items"]
    ] == [other.reference_number]
    assert legacy_codes(
        client.delete(
            f"/auth/sessions/{sessions[0].reference_number}", headers=bearer(other.access_token)
        )
    ) == [21405]
    unknown = client.delete("/auth/sessions/20260302-AU-0000000000-0000000000-00", headers=me)
    assert legacy_codes(unknown) == [21405]

    assert (
        client.delete(f"/auth/sessions/{sessions[0].reference_number}", headers=me).status_code
        == 204
    )
    assert legacy_codes(
        client.post("/auth/token/refresh", headers=bearer(sessions[0].refresh_token))
    ) == [21301]
    assert (
        client.post("/auth/token/refresh", headers=bearer(sessions[1].refresh_token)).status_code
        == 200
    )
    remaining = client.get("/auth/sessions?pageSize=20", headers=me).json()["items"]
    assert sessions[0].reference_number not in {i["referenceNumber"] for i in remaining}
    refreshed = next(i for i in remaining if i["referenceNumber"] == sessions[1].reference_number)
    assert refreshed["lastTokenRefreshDate"]

    # A refresh token can revoke its own session too.
    assert (
        client.delete(
            f"/auth/sessions/{sessions[2].reference_number}",
            headers=bearer(sessions[2].refresh_token),
        ).status_code
        == 204
    )


def test_ip_policy_goes_into_the_ipp_claim(client):  # type: ignore[no-untyped-def]
    nip = new_nip()
    session = login(client, person(nip), ("Nip", nip), allowed_ips={"ip4Addresses": ["10.1.2.3"]})
    assert json.loads(claims(session.access_token)["ipp"]) == {
        "allowedIps": {"ip4Addresses": ["10.1.2.3"]}
    }
    blocked = client.get("/auth/sessions", headers=bearer(session.access_token))
    assert blocked.status_code == 403 and blocked.json()["reasonCode"] == "ip-not-allowed"


# -- KSeF certificates (InternalCertificate) ------------------------------------------------------


def enroll(
    client, access: str, certificate_type: str = "Authentication"
) -> tuple[SigningCredentials, str]:  # type: ignore[no-untyped-def]
    """A KSeF certificate (RSA) through the official enrollment flow, with its serial."""
    from tests.api.test_certificates import issued_credentials

    serial, credentials = issued_credentials(
        client, bearer(access), "rsa2048", type_=certificate_type
    )
    return credentials, serial


def test_ksef_certificate_authenticates_as_internal_certificate(client):  # type: ignore[no-untyped-def]
    nip = new_nip()
    owner = login(client, person(nip), ("Nip", nip))
    ksef_cert, serial = enroll(client, owner.access_token)
    session = login(client, ksef_cert, ("Nip", nip), params={"verifyCertificateChain": "true"})
    status = client.get(
        f"/auth/{session.reference_number}", headers=bearer(session.operation_token)
    ).json()
    assert status["authenticationMethod"] == "InternalCertificate"
    assert status["authenticationMethodInfo"]["code"] == "xades.internal-certificate"
    assert claims(session.access_token)["aum"] == "InternalCertificate"
    assert "Owner" in json.loads(claims(session.access_token)["per"])

    offline, _ = enroll(client, owner.access_token, "Offline")
    assert kit.auth_status(client, kit.start_xades(client, offline, ("Nip", nip)))["status"][
        "details"
    ] == ["Niepoprawny certyfikat"]

    revoked = client.post(
        f"/certificates/{serial}/revoke",
        json={"revocationReason": "KeyCompromise"},
        headers=bearer(owner.access_token),
    )
    assert revoked.status_code == 204, revoked.text
    status = kit.auth_status(client, kit.start_xades(client, ksef_cert, ("Nip", nip)))["status"]
    assert status["code"] == 460 and status["details"] == ["Certyfikat odwołany"]


def test_ksef_certificate_is_trusted_on_demo(app, mock):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    nip = new_nip()
    # DEMO trusts no self-signed certificate: get the first access token by other means.
    access = mint_access_token(mock, nip=nip, env=Env.DEMO, auth_method="QualifiedSeal")
    with TestClient(app, base_url="http://testserver/demo/v2") as demo:
        ksef_cert, _ = enroll(demo, access)
        session = login(demo, ksef_cert, ("Nip", nip))
        assert claims(session.access_token)["aum"] == "InternalCertificate"
        assert (
            kit.auth_status(demo, kit.start_xades(demo, seal(nip), ("Nip", nip)))["status"]["code"]
            == 460
        )
    with TestClient(app, base_url="http://testserver/prod/v2") as prod:
        # Another environment's CA is not trusted there.
        started = kit.start_xades(prod, ksef_cert, ("Nip", nip))
        assert kit.auth_status(prod, started)["status"]["details"] == [
            "Błąd weryfikacji łańcucha certyfikatów"
        ]


# -- KSeF tokens ----------------------------------------------------------------------------------


def test_ksef_token_full_flow(client, mock, spec):  # type: ignore[no-untyped-def]
    nip = new_nip()
    owner = login(client, seal(nip), ("Nip", nip))
    token = kit.create_ksef_token(client, owner, INVOICES)
    started = kit.start_token(
        client, token["token"], nip, authorizationPolicy={"allowedIps": {"ip4Masks": ["0.0.0.0/0"]}}
    )
    assert started.status_code == 202, started.text
    assert schema_errors(spec, "POST", "/auth/ksef-token", "202", started.json()) == []
    status = kit.auth_status(client, started)
    assert status["status"]["code"] == 200
    assert status["authenticationMethod"] == "Token"
    assert status["authenticationMethodInfo"] == {
        "category": "Token",
        "code": "token.ksef",
        "displayName": "Token KSeF",
    }
    tokens = client.post(
        "/auth/token/redeem", headers=bearer(started.json()["authenticationToken"]["token"])
    ).json()
    access = claims(tokens["accessToken"]["token"])
    assert access["aum"] == "Token" and access["ktr"] == token["referenceNumber"]
    assert json.loads(access["per"]) == ["InvoiceRead", "InvoiceWrite"]
    assert json.loads(access["sud"])["SubjectIdentifier"] == {"Type": "Nip", "Value": nip}
    assert json.loads(access["ipp"]) == {"allowedIps": {"ip4Masks": ["0.0.0.0/0"]}}
    listed = client.get(
        f"/tokens/{token['referenceNumber']}", headers=bearer(owner.access_token)
    ).json()
    assert listed["lastUseDate"] == "2026-03-02T09:00:00.0000000+00:00"
    # Without publicKeyId the current key is used.
    assert (
        kit.auth_status(client, kit.start_token(client, token["token"], nip, key_id=False))[
            "status"
        ]["code"]
        == 200
    )


def test_ksef_token_450_variants(client, mock):  # type: ignore[no-untyped-def]
    nip, other = new_nip(), new_nip()
    owner = login(client, seal(nip), ("Nip", nip))
    token = kit.create_ksef_token(client, owner, INVOICES)["token"]

    def outcome(response: httpx.Response) -> list[str]:
        assert response.status_code == 202, response.text
        status = kit.auth_status(client, response)["status"]
        assert status["code"] == 450
        assert (
            status["description"]
            == "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu"
        )
        return status["details"]  # type: ignore[no-any-return]

    assert outcome(kit.start_token(client, token, nip, timestamp_delta=1)) == [
        "Nieprawidłowy czas tokena"
    ]
    reference, _, secret = token.split("|")
    unknown = f"{reference}|nip-{nip}|{'0' * 64}"
    assert outcome(kit.start_token(client, unknown, nip)) == ["Nieprawidłowy token"]
    assert outcome(kit.start_token(client, "a" * 64, nip)) == [
        "Nieprawidłowe kodowanie tokena"
    ]  # KSeF 1.0 style
    assert outcome(kit.start_token(client, token, other)) == [
        f"Token nie może być użyty w kontekście {other}"
    ]

    challenge = client.post("/auth/challenge").json()
    certificate = kit.public_key(client)
    public, key_id = certificate.public_key(), certificate.public_key_id
    for plaintext, expected in (
        (b"no separator at all", "Nieprawidłowe kodowanie tokena"),
        (b"\xff\xfe|" + str(challenge["timestampMs"]).encode(), "Nieprawidłowe kodowanie tokena"),
    ):
        fresh = client.post("/auth/challenge").json()
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        body = {
            "challenge": fresh["challenge"],
            "contextIdentifier": {"type": "Nip", "value": nip},
            "encryptedToken": base64.b64encode(public.encrypt(plaintext, oaep)).decode(),
            "publicKeyId": key_id,
        }
        assert outcome(client.post("/auth/ksef-token", json=body)) == [expected]
    # MGF1-SHA1 (the Java default) does not decrypt with KSeF's OAEP parameters.
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA256(), label=None)
    wrong_padding = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": nip},
        "encryptedToken": base64.b64encode(
            public.encrypt(f"{token}|{challenge['timestampMs']}".encode(), sha1)
        ).decode(),
    }
    assert outcome(client.post("/auth/ksef-token", json=wrong_padding)) == [
        "Nieprawidłowe szyfrowanie tokena"
    ]

    # Revoked token: new authentications fail, and redeem/refresh of earlier ones too.
    ready = kit.start_token(client, token, nip)
    assert kit.auth_status(client, ready)["status"]["code"] == 200
    redeemed = kit.start_token(client, token, nip)
    assert kit.auth_status(client, redeemed)["status"]["code"] == 200
    pair = client.post(
        "/auth/token/redeem", headers=bearer(redeemed.json()["authenticationToken"]["token"])
    ).json()
    revoke = client.delete(f"/tokens/{reference}", headers=bearer(owner.access_token))
    assert revoke.status_code == 204, revoke.text
    assert outcome(kit.start_token(client, token, nip)) == ["Token unieważniony"]
    late = client.post(
        "/auth/token/redeem", headers=bearer(ready.json()["authenticationToken"]["token"])
    )
    assert legacy_codes(late) == [21301] and details(late) == ["Token KSeF został unieważniony."]
    stale_refresh = client.post(
        "/auth/token/refresh", headers=bearer(pair["refreshToken"]["token"])
    )
    assert legacy_codes(stale_refresh) == [21301] and details(stale_refresh) == [
        "Token KSeF został unieważniony."
    ]


def test_ksef_token_pending_and_lost_permissions(mock, spec):  # type: ignore[no-untyped-def]
    with tuned_client(mock, token_activation_seconds=30) as (client, state):
        nip = new_nip()
        stranger = person(serial="pracownik-bez-identyfikatora")
        grant = fingerprint_grant(nip, stranger, "InvoiceRead", "CredentialsManage")
        assert client.post("/testdata/permissions", json=grant).status_code == 200
        session = login(client, stranger, ("Nip", nip), subject_type="certificateFingerprint")
        token = kit.create_ksef_token(client, session, permissions=("InvoiceRead",))["token"]
        pending = kit.auth_status(client, kit.start_token(client, token, nip))["status"]
        assert pending["code"] == 450 and pending["details"] == ["Token nieaktywny"]
        state.clock.advance(30)
        assert kit.auth_status(client, kit.start_token(client, token, nip))["status"]["code"] == 200
        revoke = {k: grant[k] for k in ("contextIdentifier", "authorizedIdentifier")}
        assert client.post("/testdata/permissions/revoke", json=revoke).status_code == 200
        lost = kit.auth_status(client, kit.start_token(client, token, nip))["status"]
        assert lost == {
            "code": 415,
            "description": "Uwierzytelnianie zakończone niepowodzeniem",
            "details": ["Brak przypisanych uprawnień"],
        }


def test_ksef_token_synchronous_errors(client, mock):  # type: ignore[no-untyped-def]
    nip = new_nip()
    challenge = client.post("/auth/challenge").json()
    certificate = kit.public_key(client)
    symmetric_id = kit.public_key(client, "SymmetricKeyEncryption").public_key_id
    base = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": nip},
        "encryptedToken": wire.encrypt_token(certificate, "x", challenge["timestampMs"]),
    }
    for bad in (symmetric_id, base64.b64encode(b"\0" * 32).decode()):
        response = client.post("/auth/ksef-token", json={**base, "publicKeyId": bad})
        assert legacy_codes(response) == [21470]
        assert details(response) == [f"Klucz o identyfikatorze {bad} nie jest wspierany."]
    too_many = {"allowedIps": {"ip4Addresses": [f"10.0.0.{i}" for i in range(11)]}}
    assert legacy_codes(
        client.post("/auth/ksef-token", json={**base, "authorizationPolicy": too_many})
    ) == [21405]
    assert legacy_codes(client.post("/auth/ksef-token", json={**base, "challenge": "x" * 36})) == [
        21111
    ]
    assert (
        client.post(
            "/auth/ksef-token", json={**base, "publicKeyId": certificate.public_key_id}
        ).status_code
        == 202
    )
    assert legacy_codes(
        client.post("/auth/ksef-token", json={**base, "publicKeyId": certificate.public_key_id})
    ) == [21111]
    mock.clock.advance(11 * 60)
    late = client.post("/auth/challenge").json()
    mock.clock.advance(10 * 60)
    assert legacy_codes(
        client.post("/auth/ksef-token", json={**base, "challenge": late["challenge"]})
    ) == [21111]
    assert legacy_codes(client.post("/auth/ksef-token", json={"challenge": late["challenge"]})) == [
        21405
    ]


def test_reset_makes_every_ksef_token_fail(client, mock):  # type: ignore[no-untyped-def]
    nip = new_nip()
    owner = login(client, seal(nip), ("Nip", nip))
    token = kit.create_ksef_token(client, owner, INVOICES)["token"]
    assert kit.auth_status(client, kit.start_token(client, token, nip))["status"]["code"] == 200
    mock.reset(Env.TEST)
    status = kit.auth_status(client, kit.start_token(client, token, nip))["status"]
    assert status["code"] == 450 and status["details"] == ["Nieprawidłowy token"]


# -- a real socket -----------------------------------------------------------------------------


@pytest.mark.server
def test_xades_personal_and_seal_over_a_real_socket(server):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url + "/v2", timeout=10) as client:
        nip = new_nip()
        for creds in (person(nip), seal(nip)):
            session = login(client, creds, ("Nip", nip))
            assert "Owner" in json.loads(claims(session.access_token)["per"])
            assert (
                client.post(
                    "/auth/token/redeem", headers=bearer(session.operation_token)
                ).status_code
                == 400
            )
            refreshed = client.post("/auth/token/refresh", headers=bearer(session.refresh_token))
            assert refreshed.status_code == 200
        listed = client.get("/auth/sessions", headers=bearer(session.access_token)).json()["items"]
        assert len(listed) == 2 and listed[0]["isCurrent"]
        assert (
            client.delete(
                "/auth/sessions/current", headers=bearer(session.access_token)
            ).status_code
            == 204
        )
        assert (
            client.delete(
                f"/auth/sessions/{listed[1]['referenceNumber']}",
                headers=bearer(session.access_token),
            ).status_code
            == 204
        )
        gone = client.post("/auth/token/refresh", headers=bearer(session.refresh_token))
        assert gone.status_code == 400 and legacy_codes(gone) == [21301]
        challenge = client.post("/auth/challenge").json()
        assert challenge["clientIp"] == "127.0.0.1"
        server.state.clock.advance(11 * 60)
        stale = kit.start_xades(
            client, person(nip), ("Nip", nip), challenge_value=challenge["challenge"]
        )
        assert legacy_codes(stale) == [21111]
        bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'
        assert legacy_codes(client.post("/auth/xades-signature", content=bomb, headers=XML)) == [
            21001
        ]
        forged = client.get("/auth/sessions", headers=bearer(session.access_token + "x"))
        assert (
            forged.status_code == 401
            and forged.headers["content-type"] == "application/problem+json"
        )


@pytest.mark.server
def test_ksef_token_over_a_real_socket(server):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url + "/v2", timeout=10) as client:
        nip = new_nip()
        owner = login(client, seal(nip), ("Nip", nip))
        token = kit.create_ksef_token(client, owner, INVOICES)["token"]
        started = kit.start_token(client, token, nip)
        assert kit.auth_status(client, started)["status"]["code"] == 200
        tokens = client.post(
            "/auth/token/redeem", headers=bearer(started.json()["authenticationToken"]["token"])
        )
        assert claims(tokens.json()["accessToken"]["token"])["aum"] == "Token"
        wrong_time = kit.start_token(client, token, nip, timestamp_delta=-1)
        assert kit.auth_status(client, wrong_time)["status"]["details"] == [
            "Nieprawidłowy czas tokena"
        ]


def test_new_nip_gives_distinct_valid_nips() -> None:
    # The tests rely on not sharing contexts with each other.
    nips = {new_nip() for _ in range(50)}
    assert len(nips) == 50 and all(nip_checksum_ok(n) for n in nips)
