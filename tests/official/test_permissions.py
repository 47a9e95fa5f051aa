"""Permissions, test data, certificates and Peppol providers: what the official suites see on TEST.

Sources: CIRFMF/ksef-client-csharp 2.6.1 (ce49441, 2026-06-15) E2E/TestData/TestDataE2ETests.cs,
E2E/Invoice/InvoiceWithAttachmentE2ETests.cs, E2E/Permissions/EuEntityPermission/
EuEntityPermissionAdminAuthenticationE2ETests.cs, E2E/Certificates/CertificatesE2ETests.cs,
E2E/Peppol/PeppolPefE2ETests.cs; CIRFMF/ksef-client-java 3.0.24 (fff86ab, 2026-04-22)
EnforcementOperationNegativeIntegrationTest, AuthorizationIntegrationTest,
PeppolInvoiceIntegrationTest.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ksefclient.xades import (
    SigningCredentials,
    certificate_fingerprint,
    personal_certificate,
    seal_certificate,
)
from tests import kit
from tests.official.conftest import claims, legacy_details, login


def grant_person(client: Any, owner: kit.Session, nip: str, permission: str) -> Any:
    return client.post(
        "/permissions/persons/grants",
        json=kit.person_grant(
            ("Nip", nip), [permission], "e2e grant for a person", ("Anna", "Testowa")
        ),
        headers=owner.headers,
    )


def test_enforcement_operations_grant_outside_enforcement_context_is_430(client, owner):  # type: ignore[no-untyped-def]
    """java EnforcementOperationNegativeIntegrationTest.grantEnforcementOperationAsCourtBailiffE2E
    (lines 33-51): granting EnforcementOperations in a plain NIP context ends with operation
    status 430 and the person query finds nothing."""
    person = kit.random_nip(50)
    grant = grant_person(client, owner, person, "EnforcementOperations")
    assert grant.status_code == 202
    reference = grant.json()["referenceNumber"]
    status = client.get(f"/permissions/operations/{reference}", headers=owner.headers)
    assert status.json()["status"]["code"] == 430
    found = client.post(
        "/permissions/query/persons/grants",
        params={"pageOffset": 0, "pageSize": 10},
        json={
            "authorizedIdentifier": {"type": "Nip", "value": person},
            "queryType": "PermissionsGrantedInCurrentContext",
        },
        headers=owner.headers,
    )
    assert found.status_code == 200 and found.json()["permissions"] == []


def test_successful_operation_status_has_no_details(client, owner):  # type: ignore[no-untyped-def]
    """csharp CertificatesE2ETests lines 252-254: a finished permission operation is 200 with a
    description and ``Status.Details`` null."""
    grant = grant_person(client, owner, kit.random_nip(51), "InvoiceRead")
    reference = grant.json()["referenceNumber"]
    status = client.get(f"/permissions/operations/{reference}", headers=owner.headers).json()
    assert status["status"]["code"] == 200 and status["status"]["description"]
    assert status["status"].get("details") is None


def test_invoice_with_attachment_needs_the_attachment_consent(client):  # type: ignore[no-untyped-def]
    """csharp InvoiceWithAttachmentE2ETests.SendInvoiceWithAttachment_WithoutGrantedPermission_
    ShouldRejectAllInvoices (lines 159-238): without /testdata/attachment every invoice with an
    attachment in a batch session is 410 "Nieprawidłowy zakres uprawnień", first detail
    "Sprzedawca {nip} nie posiada zgody do wysyłania faktur z załącznikami"."""
    seller = kit.random_nip(52)
    who = login(client, seller)
    allowed = client.get("/permissions/attachments/status", headers=who.headers).json()
    assert allowed["isAttachmentAllowed"] is False
    xml = kit.fa3(seller, "ATT1", name="invoice-template-fa-3-with-attachment.xml")
    reference = kit.send_batch(client, who.headers, {"a.xml": xml})
    items = client.get(f"/sessions/{reference}/invoices", headers=who.headers).json()["invoices"]
    assert items
    for item in items:
        assert item["status"]["code"] == 410
        assert item["status"]["description"] == "Nieprawidłowy zakres uprawnień"
        assert item["status"]["details"][0] == (
            f"Sprzedawca {seller} nie posiada zgody do wysyłania faktur z załącznikami"
        )


def test_attachment_consent_grant_and_revoke_date(client, mock):  # type: ignore[no-untyped-def]
    """csharp TestDataE2ETests.GrantAttachmentPermission_VerifyEnabled_ThenRevokeAndVerifyDisabled
    (lines 384-447): after /testdata/attachment isAttachmentAllowed is true; after
    /testdata/attachment/revoke with expectedEndDate tomorrow, revokedDate is that date."""
    seller = kit.random_nip(53)
    assert client.post("/testdata/attachment", json={"nip": seller}).status_code == 200
    who = login(client, seller)
    status = client.get("/permissions/attachments/status", headers=who.headers).json()
    assert status["isAttachmentAllowed"] is True
    tomorrow = (mock.clock.now() + timedelta(days=1)).date().isoformat()
    revoked = client.post(
        "/testdata/attachment/revoke", json={"nip": seller, "expectedEndDate": tomorrow}
    )
    assert revoked.status_code == 200
    status = client.get("/permissions/attachments/status", headers=who.headers).json()
    assert status["revokedDate"][:10] == tomorrow


def test_testdata_jst_subject_role_then_removed(client):  # type: ignore[no-untyped-def]
    """csharp TestDataE2ETests.CreateSubjectWithSubunit_VerifyRoles_ThenRemoveAndVerifyRolesRemoved
    [InlineData(JST, LocalGovernmentUnit)] (lines 26-100): after /testdata/subject the
    subject's entity roles hold LocalGovernmentUnit with a startDate; after
    /testdata/subject/remove that role is gone."""
    subject, unit = kit.random_nip(54), kit.random_nip(55)
    created = client.post(
        "/testdata/subject",
        json={
            "subjectNip": subject,
            "subjectType": "JST",
            "subunits": [{"subjectNip": unit, "description": "Jednostka podrzędna - JST"}],
            "description": "JST testowy",
        },
    )
    assert created.status_code == 200, created.text
    who = login(client, subject)

    def roles() -> list[dict[str, Any]]:
        page = client.get("/permissions/query/entities/roles", headers=who.headers)
        return page.json()["roles"]  # type: ignore[no-any-return]

    assert any(r["role"] == "LocalGovernmentUnit" and r["startDate"] for r in roles())
    assert client.post("/testdata/subject/remove", json={"subjectNip": subject}).status_code == 200
    assert not any(r["role"] == "LocalGovernmentUnit" for r in roles())


def test_testdata_permissions_show_in_personal_query(client):  # type: ignore[no-untyped-def]
    """csharp TestDataE2ETests.GrantTestDataPermissionsVerifyGrantedThenRevokeAndVerifyRemoved
    (lines 255-372): /testdata/permissions InvoiceRead+InvoiceWrite for a person in a context;
    the person logs into that context and POST /permissions/query/personal/grants lists both;
    after /testdata/permissions/revoke neither."""
    context, person = kit.random_nip(56), kit.random_nip(57)
    body = {
        "contextIdentifier": {"type": "Nip", "value": context},
        "authorizedIdentifier": {"type": "Nip", "value": person},
        "permissions": [
            {"permissionType": kind, "description": f"Uprawnienie {kind} podmiotu testowego"}
            for kind in ("InvoiceRead", "InvoiceWrite")
        ],
    }
    assert client.post("/testdata/permissions", json=body).status_code == 200
    who = login(client, context, subject=person)

    def scopes() -> set[str]:
        page = client.post("/permissions/query/personal/grants", json={}, headers=who.headers)
        return {p["permissionScope"] for p in page.json()["permissions"]}

    assert {"InvoiceRead", "InvoiceWrite"} <= scopes()
    revoke = {k: body[k] for k in ("contextIdentifier", "authorizedIdentifier")}
    assert client.post("/testdata/permissions/revoke", json=revoke).status_code == 200
    assert not {"InvoiceRead", "InvoiceWrite"} & scopes()


def test_eu_entity_admin_token_permissions(client, mock):  # type: ignore[no-untyped-def]
    """csharp EuEntityPermissionAdminAuthenticationE2ETests.GrantEuEntityAdminPermission_
    AuthenticateAndVerifyPermissions_Success (lines 95-213): an administrator granted through
    /permissions/eu-entities/administration/grants logs in to the NipVatUe context with
    certificateFingerprint; the access token's ``per`` is exactly
    {VatUeManage, InvoiceWrite, InvoiceRead, Introspection}."""
    owner_nip = kit.random_nip(58)
    owner = login(client, owner_nip)
    admin = personal_certificate(
        nip=kit.random_nip(59), not_before=mock.clock.now() - timedelta(days=1)
    )
    context = f"{owner_nip}-DE123456789"
    grant = client.post(
        "/permissions/eu-entities/administration/grants",
        json={
            "subjectIdentifier": {
                "type": "Fingerprint",
                "value": certificate_fingerprint(admin.certificate),
            },
            "contextIdentifier": {"type": "NipVatUe", "value": context},
            "description": "Administrator podmiotu UE",
            "euEntityName": "Podmiot Testowy 2",
            "subjectDetails": {
                "subjectDetailsType": "EntityByFingerprint",
                "entityByFp": {"fullName": "EU Admin Full Name", "address": "EU Admin Address"},
            },
            "euEntityDetails": {
                "fullName": "Podmiot Testowy 2",
                "address": "ul. Testowa 2, 00-000 Miasto",
            },
        },
        headers=owner.headers,
    )
    assert grant.status_code == 202, grant.text
    session = kit.xades_login(
        client,
        owner_nip,
        admin,
        context_type="NipVatUe",
        context_value=context,
        subject_type="certificateFingerprint",
    )
    permissions = set(json.loads(claims(session.access_token)["per"]))
    assert permissions == {"VatUeManage", "InvoiceWrite", "InvoiceRead", "Introspection"}


def enrollment_csr(client: Any, who: kit.Session) -> tuple[str, rsa.RSAPrivateKey]:
    """A PKCS#10 CSR naming exactly the subject of GET /certificates/enrollments/data."""
    data = client.get("/certificates/enrollments/data", headers=who.headers).json()
    oids = [
        ("givenName", NameOID.GIVEN_NAME),
        ("surname", NameOID.SURNAME),
        ("serialNumber", NameOID.SERIAL_NUMBER),
        ("uniqueIdentifier", NameOID.X500_UNIQUE_IDENTIFIER),
        ("organizationName", NameOID.ORGANIZATION_NAME),
        ("organizationIdentifier", NameOID.ORGANIZATION_IDENTIFIER),
        ("commonName", NameOID.COMMON_NAME),
        ("countryName", NameOID.COUNTRY_NAME),
    ]
    names = [x509.NameAttribute(oid, data[key]) for key, oid in oids if data.get(key)]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode(), key


def test_certificate_limit_reached_is_25007(client):  # type: ignore[no-untyped-def]
    """csharp CertificatesE2ETests (lines 418-448): with no certificate slot left
    (limits.certificate.remaining 0) an enrollment fails with exactly
    "25007: Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów." (no details)."""
    seal = login(client, kit.random_nip(60), seal=True)
    kit.set_certificate_limits(client, seal.headers, certificates=0, enrollments=10)
    limits = client.get("/certificates/limits", headers=seal.headers).json()
    assert limits["certificate"]["remaining"] == 0
    csr, _ = enrollment_csr(client, seal)
    response = client.post(
        "/certificates/enrollments",
        json={
            "certificateName": "Test certificate",
            "certificateType": "Authentication",
            "csr": csr,
        },
        headers=seal.headers,
    )
    assert response.status_code == 400
    (detail,) = legacy_details(response)
    assert (detail["exceptionCode"], detail["exceptionDescription"]) == (
        25007,
        "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.",
    )
    assert not detail.get("details")


def test_ksef_authentication_certificate_enroll_retrieve_and_login(client):  # type: ignore[no-untyped-def]
    """java AuthorizationIntegrationTest.authorizeByKSeFCertificateWithRSaEncoding (lines 176-227)
    and csharp CertificatesE2ETests (lines 169-226): enrollment reaches 200 with a serial
    number; /certificates/retrieve returns exactly that certificate (type Authentication,
    name, serial); /certificates/query lists it by serial and name; an AuthTokenRequest
    signed with it (certificateSubject) authenticates in the context."""
    owner_nip = kit.random_nip(61)
    seal = login(client, owner_nip, seal=True)
    csr, key = enrollment_csr(client, seal)
    started = client.post(
        "/certificates/enrollments",
        json={"certificateName": "certificate", "certificateType": "Authentication", "csr": csr},
        headers=seal.headers,
    )
    assert started.status_code == 202, started.text
    reference = started.json()["referenceNumber"]
    status = client.get(f"/certificates/enrollments/{reference}", headers=seal.headers).json()
    assert status["status"]["code"] == 200 and status["certificateSerialNumber"]
    serial = status["certificateSerialNumber"]
    retrieved = client.post(
        "/certificates/retrieve", json={"certificateSerialNumbers": [serial]}, headers=seal.headers
    ).json()
    (item,) = retrieved["certificates"]
    assert (item["certificateSerialNumber"], item["certificateName"]) == (serial, "certificate")
    assert item["certificateType"] == "Authentication"
    listed = client.post("/certificates/query", json={}, headers=seal.headers).json()
    assert any(
        c["certificateSerialNumber"] == serial and c["name"] == "certificate"
        for c in listed["certificates"]
    )
    certificate = x509.load_der_x509_certificate(base64.b64decode(item["certificate"]))
    session = kit.xades_login(client, owner_nip, SigningCredentials(certificate, key))
    assert session.status["authenticationMethodInfo"]["code"] == "xades.internal-certificate"


def test_peppol_provider_auto_registered_on_first_login(client, mock):  # type: ignore[no-untyped-def]
    """java PeppolInvoiceIntegrationTest (lines 57-62: a provider "is auto-registered during
    first use") and csharp PeppolPefE2ETests.AutoRegisterProviderAsync (lines 250-296, checked
    at lines 95-104): after a seal with O, organizationIdentifier = CN = the Peppol ID logs in
    to its PeppolId context, GET /peppol/query lists a provider with that id and the O name;
    the token carries PefInvoiceWrite."""
    peppol_id = "PPL123456"
    provider = seal_certificate(
        organization_identifier=peppol_id,
        organization_name="E2E Peppol Test Provider",
        common_name=peppol_id,
        not_before=mock.clock.now() - timedelta(days=1),
    )
    before = client.get("/peppol/query", params={"pageSize": 100}).json()["peppolProviders"]
    assert peppol_id not in [p["id"] for p in before]
    session = kit.xades_login(
        client, peppol_id, provider, context_type="PeppolId", context_value=peppol_id
    )
    assert "PefInvoiceWrite" in json.loads(claims(session.access_token)["per"])
    providers = client.get("/peppol/query", params={"pageSize": 100}).json()["peppolProviders"]
    assert [(p["id"], p["name"]) for p in providers if p["id"] == peppol_id] == [
        (peppol_id, "E2E Peppol Test Provider")
    ]
