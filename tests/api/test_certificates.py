"""KSeF certificates over HTTP: limits, enrollment data, enrollment, status, retrieve, revoke, query."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509

from mockksef.clock import format_datetime
from mockksef.http.security import access_claims
from mockksef.models import ContextIdentifier, SubjectIdentifier
from tests import kit
from tests.conftest import START, bearer, legacy_codes, mint_access_token, problem_codes
from tests.unit.test_certificates_backend import (
    PERSON_DETAILS,
    PESEL,
    enroll_body,
    make_csr,
    new_key,
)

NIP = "5265877635"
OTHER_NIP = "7762811692"


def person_token(
    mock, details: dict[str, Any] | None = PERSON_DETAILS, auth_method: str = "QualifiedSignature"
) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An access token whose ``sud`` carries the certificate attributes, as auth writes them."""
    env = mock.env("TEST")
    claims = access_claims(
        reference_number=env.rng.reference_number("AU", mock.clock.now()),
        context=ContextIdentifier("Nip", NIP),
        subject=SubjectIdentifier("Pesel", PESEL),
        auth_method=auth_method,
        permissions=["InvoiceRead"],
        subject_details=details,
    )
    token, _ = env.jwt.issue(claims, timedelta(minutes=15))
    return bearer(token)


@pytest.fixture
def seal(mock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(mint_access_token(mock, nip=NIP, auth_method="QualifiedSeal"))


@pytest.fixture
def by_token(mock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(mint_access_token(mock, nip=NIP, auth_method="Token"))


def schema_of(spec, method: str, path: str, status: str = "200") -> dict:  # type: ignore[no-untyped-def, type-arg]
    return spec.operation(method, path).raw["responses"][status]["content"]["application/json"][
        "schema"
    ]


def valid(spec, method: str, path: str, body: Any, status: str = "200") -> None:  # type: ignore[no-untyped-def]
    assert spec.validate_value(schema_of(spec, method, path, status), body).errors == []


def enroll(client, headers, key: Any = None, **body: Any) -> str:  # type: ignore[no-untyped-def]
    data = client.get("/certificates/enrollments/data", headers=headers).json()
    response = client.post(
        "/certificates/enrollments", json=enroll_body(make_csr(data, key), **body), headers=headers
    )
    assert response.status_code == 202, response.text
    return response.json()["referenceNumber"]


def issue(client, headers, **body: Any) -> str:  # type: ignore[no-untyped-def]
    ref = enroll(client, headers, **body)
    status = client.get(f"/certificates/enrollments/{ref}", headers=headers).json()
    assert status["status"]["code"] == 200
    return status["certificateSerialNumber"]


def issued_credentials(client, headers, kind: str = "ec", **body: Any) -> tuple[str, Any]:  # type: ignore[no-untyped-def]
    """A KSeF certificate through enrollment and retrieve, with its key: (serial, credentials)."""
    from ksefclient.xades import SigningCredentials

    key = new_key(kind)
    serial = issue(client, headers, key=key, **body)
    item = client.post(
        "/certificates/retrieve", json={"certificateSerialNumbers": [serial]}, headers=headers
    ).json()
    der = base64.b64decode(item["certificates"][0]["certificate"])
    return serial, SigningCredentials(x509.load_der_x509_certificate(der), key)


# -- limits and enrollment data --------------------------------------------------------------------


def test_certificate_limits(client, spec, seal):
    response = client.get("/certificates/limits", headers=seal)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "canRequest": True,
        "enrollment": {"remaining": 300, "limit": 300},
        "certificate": {"remaining": 100, "limit": 100},
    }
    valid(spec, "GET", "/certificates/limits", body)
    issue(client, seal)
    assert client.get("/certificates/limits", headers=seal).json()["certificate"]["remaining"] == 99


def test_enrollment_data_for_a_personal_certificate(client, spec, mock):
    response = client.get("/certificates/enrollments/data", headers=person_token(mock))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "commonName": "Jan Kowalski",
        "surname": "Kowalski",
        "givenName": "Jan Maria",
        "countryName": "PL",
        "serialNumber": f"PNOPL-{PESEL}",
    }
    valid(spec, "GET", "/certificates/enrollments/data", body)


def test_token_auth_gets_25001_and_25002(client, seal, by_token):
    data = client.get("/certificates/enrollments/data", headers=by_token)
    assert data.status_code == 400 and legacy_codes(data) == [25001]
    csr = make_csr(client.get("/certificates/enrollments/data", headers=seal).json())
    response = client.post("/certificates/enrollments", json=enroll_body(csr), headers=by_token)
    assert response.status_code == 400 and legacy_codes(response) == [25002]


# -- enrollment -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "rsa2048"])
def test_enrollment_flow(client, spec, seal, kind):  # type: ignore[no-untyped-def]
    data = client.get("/certificates/enrollments/data", headers=seal).json()
    response = client.post(
        "/certificates/enrollments", json=enroll_body(make_csr(data, new_key(kind))), headers=seal
    )
    assert response.status_code == 202
    accepted = response.json()
    assert (
        accepted["timestamp"] == format_datetime(START)
        and accepted["referenceNumber"][9:11] == "EH"
    )
    valid(spec, "POST", "/certificates/enrollments", accepted, "202")
    status = client.get(f"/certificates/enrollments/{accepted['referenceNumber']}", headers=seal)
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == {
        "code": 200,
        "description": "Wniosek obsłużony (certyfikat wygenerowany)",
    }
    valid(spec, "GET", "/certificates/enrollments/{referenceNumber}", body)


def test_enrollment_with_pascal_case_body_and_valid_from(client, seal):
    data = client.get("/certificates/enrollments/data", headers=seal).json()
    valid_from = (START + timedelta(days=2)).isoformat()
    body = {
        "CertificateName": "Certyfikat ERP",
        "CertificateType": "offline",
        "Csr": make_csr(data),
        "ValidFrom": valid_from,
    }
    ref = client.post("/certificates/enrollments", json=body, headers=seal).json()[
        "referenceNumber"
    ]
    serial = client.get(f"/certificates/enrollments/{ref}", headers=seal).json()[
        "certificateSerialNumber"
    ]
    item = client.post(
        "/certificates/query", json={"certificateSerialNumber": serial}, headers=seal
    ).json()["certificates"][0]
    assert item["type"] == "Offline" and item["validFrom"] == format_datetime(
        START + timedelta(days=2)
    )


@pytest.mark.parametrize(
    ("csr_of", "code"),
    [
        (lambda d: make_csr(d, new_key("rsa1024")), 25010),
        (lambda d: make_csr(d, new_key("ec384")), 25010),
        (lambda d: base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----").decode(), 25004),
        (lambda d: make_csr({**d, "commonName": "Inna firma"}), 25003),
    ],
)
def test_enrollment_errors(client, seal, csr_of, code):  # type: ignore[no-untyped-def]
    data = client.get("/certificates/enrollments/data", headers=seal).json()
    response = client.post(
        "/certificates/enrollments", json=enroll_body(csr_of(data)), headers=seal
    )
    assert response.status_code == 400 and legacy_codes(response) == [code]


@pytest.mark.parametrize(
    "body",
    [
        {"certificateName": "Ce", "certificateType": "Authentication", "csr": "AAAA"},
        {
            "certificateName": "Certyfikat <script>",
            "certificateType": "Authentication",
            "csr": "AAAA",
        },
        {"certificateName": "Certyfikat", "certificateType": "Signing", "csr": "AAAA"},
        {"certificateName": "Certyfikat", "certificateType": "Authentication"},
    ],
)
def test_enrollment_body_validation_is_21405(client, seal, body):  # type: ignore[no-untyped-def]
    response = client.post("/certificates/enrollments", json=body, headers=seal)
    assert response.status_code == 400 and legacy_codes(response) == [21405]


def test_enrollment_limits_25006_and_25007(client, seal):
    client.post(
        "/testdata/limits/subject/certificate",
        json={"enrollment": {"maxEnrollments": 1}},
        headers=seal,
    )
    issue(client, seal)
    data = client.get("/certificates/enrollments/data", headers=seal).json()
    response = client.post(
        "/certificates/enrollments", json=enroll_body(make_csr(data)), headers=seal
    )
    assert legacy_codes(response) == [25006]
    client.post(
        "/testdata/limits/subject/certificate",
        json={"enrollment": {"maxEnrollments": 10}, "certificate": {"maxCertificates": 1}},
        headers=seal,
    )
    response = client.post(
        "/certificates/enrollments", json=enroll_body(make_csr(data)), headers=seal
    )
    assert legacy_codes(response) == [25007]


def test_enrollment_status_unknown_and_gone(client, mock, seal):
    unknown = client.get(
        "/certificates/enrollments/20260302-EH-0000000000-0000000000-00", headers=seal
    )
    assert unknown.status_code == 400 and legacy_codes(unknown) == [25005]
    ref = enroll(client, seal)
    other = bearer(mint_access_token(mock, nip=OTHER_NIP))
    assert legacy_codes(client.get(f"/certificates/enrollments/{ref}", headers=other)) == [25005]
    mock.clock.advance(30 * 86400)
    seal = bearer(mint_access_token(mock, nip=NIP))  # the old access token has expired too
    gone = client.get(f"/certificates/enrollments/{ref}", headers=seal)
    assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
    bad = client.get("/certificates/enrollments/not-a-reference", headers=seal)
    assert bad.status_code == 400 and legacy_codes(bad) == [21405]


# -- retrieve, revoke, query ----------------------------------------------------------------------------


def test_retrieve_returns_der_signed_by_the_mock_ca(client, spec, mock, seal):
    serial = issue(client, seal, name="Certyfikat pobrany")
    response = client.post(
        "/certificates/retrieve",
        json={"certificateSerialNumbers": [serial, "0123456789ABCDEF"]},
        headers=seal,
    )
    assert response.status_code == 200
    body = response.json()
    valid(spec, "POST", "/certificates/retrieve", body)
    assert len(body["certificates"]) == 1
    item = body["certificates"][0]
    assert (item["certificateSerialNumber"], item["certificateName"], item["certificateType"]) == (
        serial,
        "Certyfikat pobrany",
        "Authentication",
    )
    cert = x509.load_der_x509_certificate(base64.b64decode(item["certificate"]))
    assert mock.env("TEST").certificates.issued_by_ca(cert)
    other = bearer(mint_access_token(mock, nip=OTHER_NIP))
    assert client.post(
        "/certificates/retrieve", json={"certificateSerialNumbers": [serial]}, headers=other
    ).json() == {"certificates": []}
    too_many = client.post(
        "/certificates/retrieve", json={"certificateSerialNumbers": [serial] * 11}, headers=seal
    )
    assert legacy_codes(too_many) == [21405]


def test_revoke(client, mock, seal, by_token):
    serial = issue(client, seal)
    forbidden = client.post(f"/certificates/{serial}/revoke", json={}, headers=by_token)
    assert (
        forbidden.status_code == 403 and forbidden.json()["reasonCode"] == "auth-method-not-allowed"
    )
    other = bearer(mint_access_token(mock, nip=OTHER_NIP))
    assert legacy_codes(client.post(f"/certificates/{serial}/revoke", headers=other)) == [25008]
    done = client.post(
        f"/certificates/{serial}/revoke", json={"revocationReason": "keyCompromise"}, headers=seal
    )
    assert done.status_code == 204 and done.content == b""
    assert mock.env("TEST").certificates.get(serial).revocation_reason == "KeyCompromise"
    again = client.post(
        f"/certificates/{serial}/revoke", headers=seal, json={"revocationReason": "Superseded"}
    )
    assert again.status_code == 400 and legacy_codes(again) == [25009]
    problem = client.post(
        f"/certificates/{serial}/revoke", headers={**seal, "X-Error-Format": "problem-details"}
    )
    assert problem_codes(problem) == [25009]
    assert legacy_codes(client.post("/certificates/0123456789abcdef/revoke", headers=seal)) == [
        21405
    ]


def test_query_paging_filters_and_schema(client, spec, mock, seal):
    serials = []
    for i in range(11):
        serials.append(issue(client, seal, name=f"Certyfikat {i}"))
        mock.clock.advance(1)
    first = client.post("/certificates/query", headers=seal)
    assert first.status_code == 200
    body = first.json()
    valid(spec, "POST", "/certificates/query", body)
    assert (
        body["hasMore"] is True
        and [c["certificateSerialNumber"] for c in body["certificates"]] == serials[::-1][:10]
    )
    second = client.post(
        "/certificates/query", params={"pageOffset": 1, "pageSize": 10}, json={}, headers=seal
    ).json()
    assert second == {"certificates": [second["certificates"][0]], "hasMore": False}
    assert second["certificates"][0]["certificateSerialNumber"] == serials[0]
    item = second["certificates"][0]
    assert item["subjectIdentifier"] == {"type": "Nip", "value": NIP} and item["status"] == "Active"
    assert "lastUseDate" not in item
    assert legacy_codes(
        client.post("/certificates/query", params={"pageSize": 51}, headers=seal)
    ) == [21405]
    client.post(f"/certificates/{serials[3]}/revoke", headers=seal)
    revoked = client.post("/certificates/query", json={"status": "revoked"}, headers=seal).json()[
        "certificates"
    ]
    assert [c["certificateSerialNumber"] for c in revoked] == [serials[3]]


def test_testdata_update_certificate_expires_it(client, spec, mock, seal):
    serial = issue(client, seal)
    later = client.put(
        f"/testdata/certificates/{serial}", json={"validTo": "2030-01-01T00:00:00Z"}, headers=seal
    )
    assert later.status_code == 400 and legacy_codes(later) == [21405]
    response = client.put(
        f"/testdata/certificates/{serial}",
        json={"validTo": (START + timedelta(minutes=5)).isoformat()},
        headers=seal,
    )
    assert response.status_code == 200 and response.content == b""
    mock.clock.advance(300)
    item = client.post(
        "/certificates/query", json={"certificateSerialNumber": serial}, headers=seal
    ).json()["certificates"][0]
    assert item["status"] == "Expired" and item["validTo"] == format_datetime(
        START + timedelta(minutes=5)
    )
    valid(spec, "POST", "/certificates/query", {"certificates": [item], "hasMore": False})
    unknown = client.put(
        "/testdata/certificates/0123456789ABCDEF", json={"validTo": START.isoformat()}, headers=seal
    )
    assert unknown.status_code == 400 and legacy_codes(unknown) == [25008]
    other = bearer(mint_access_token(mock, nip=OTHER_NIP))
    foreign = client.put(
        f"/testdata/certificates/{serial}", json={"validTo": START.isoformat()}, headers=other
    )
    assert legacy_codes(foreign) == [25008]
    demo = client.put(
        f"http://testserver/demo/v2/testdata/certificates/{serial}",
        json={"validTo": START.isoformat()},
        headers=seal,
    )
    assert demo.status_code == 404


def test_certificates_need_an_access_token(client, mock):
    assert client.get("/certificates/limits").status_code == 401
    forged = mint_access_token(mock, nip=NIP) + "x"
    assert client.get("/certificates/limits", headers=bearer(forged)).status_code == 401


# -- the issued certificate in XAdES authentication (with the auth area) -------------------------------


def _xades_status(client, credentials) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    started = kit.start_xades(client, credentials, ("Nip", NIP))
    assert started.status_code == 202, started.text
    status = kit.auth_status(client, started)
    status["operation"] = bearer(started.json()["authenticationToken"]["token"])
    return status


@pytest.mark.parametrize("kind", ["ec", "rsa2048"])
def test_issued_certificate_authenticates_until_revoked(client, mock, seal, kind):  # type: ignore[no-untyped-def]
    serial, credentials = issued_credentials(client, seal, kind)
    status = _xades_status(client, credentials)
    assert (
        status["status"]["code"] == 200 and status["authenticationMethod"] == "InternalCertificate"
    )
    used = client.post(
        "/certificates/query", json={"certificateSerialNumber": serial}, headers=seal
    ).json()
    assert used["certificates"][0]["lastUseDate"] == format_datetime(START)
    # The access token from the KSeF certificate may ask for a new certificate with the same data.
    tokens = client.post("/auth/token/redeem", headers=status["operation"]).json()
    renewed = bearer(tokens["accessToken"]["token"])
    assert (
        client.get("/certificates/enrollments/data", headers=renewed).json()
        == client.get("/certificates/enrollments/data", headers=seal).json()
    )
    assert client.post(f"/certificates/{serial}/revoke", headers=seal).status_code == 204
    revoked = _xades_status(client, credentials)["status"]
    assert revoked["code"] == 460 and revoked["details"] == ["Certyfikat odwołany"]


def test_shortened_certificate_no_longer_authenticates(client, mock, seal):
    serial, credentials = issued_credentials(client, seal)
    client.put(
        f"/testdata/certificates/{serial}", json={"validTo": START.isoformat()}, headers=seal
    )
    status = _xades_status(client, credentials)["status"]
    assert status["code"] == 460 and status["details"] == ["Nieważny certyfikat"]
    _, offline_credentials = issued_credentials(client, seal, type_="Offline")
    assert _xades_status(client, offline_credentials)["status"]["details"] == [
        "Niepoprawny certyfikat"
    ]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/certificates/query", {"statusy": "Active"}, 200),
        ("/testdata/limits/subject/certificate", {"maxCertificates": 3}, 200),
    ],
)
def test_unknown_properties_are_ignored_like_the_real_server(client, seal, path, body, status):  # type: ignore[no-untyped-def]
    # ASP.NET's JSON binder skips unknown members; a misspelt filter filters nothing.
    response = client.post(path, json=body, headers=seal)
    assert response.status_code == status, response.text
