"""CertificatesBackend without HTTP: the mock CA, CSR checks, enrollments on the clock, revoke, query."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from mockksef import crypto
from mockksef.clock import Clock, format_datetime
from mockksef.errors import Forbidden, Gone, InvalidInputData, KsefError
from mockksef.http.security import access_claims, principal_from_claims
from mockksef.models import ContextIdentifier, Principal, SubjectIdentifier
from mockksef.services.certificates.backend import DN_FIELDS
from mockksef.services.certificates.models import REJECT_KEY_TAKEN, REJECT_LIMIT
from mockksef.services.subjects import Person
from mockksef.state import MockState

NIP = "5265877635"
OTHER_NIP = "7762811692"
PESEL = "15062788702"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

PERSON_DETAILS = {
    "GivenNames": ["Jan", "Maria"],
    "Surname": "Kowalski",
    "SerialNumber": f"PNOPL-{PESEL}",
    "CommonName": "Jan Kowalski",
    "CountryName": "PL",
}

# -- helpers shared with tests/api/test_certificates.py ------------------------------------


def make_principal(
    subject: SubjectIdentifier | None = None,
    *,
    auth_method: str = "QualifiedSeal",
    details: dict[str, Any] | None = None,
    context: ContextIdentifier | None = None,
) -> Principal:
    subject = subject or SubjectIdentifier("Nip", NIP)
    claims = access_claims(
        reference_number="20260302-AU-0000000000-0000000000-00",
        context=context
        or ContextIdentifier("Nip", subject.value if subject.type == "Nip" else NIP),
        subject=subject,
        auth_method=auth_method,
        permissions=["Owner"],
        subject_details=details,
        ksef_token_reference="20260302-EC-0000000000-0000000000-00"
        if auth_method == "Token"
        else None,
    )
    claims["exp"] = int((T0 + timedelta(minutes=15)).timestamp())
    return principal_from_claims(claims)


def new_key(kind: str = "ec") -> Any:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind.removeprefix("rsa")))


def dn(data: dict[str, str], extra: list[x509.NameAttribute] | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(DN_FIELDS[k], v) for k, v in data.items()]
    return x509.Name(attributes + list(extra or []))


def make_csr(
    data: dict[str, str],
    key: Any = None,
    *,
    algorithm: hashes.HashAlgorithm | None = None,
    pss: bool = False,
    extra: list[x509.NameAttribute] | None = None,
) -> str:
    """Base64 DER PKCS#10 with the given DN fields (enrollment-data names)."""
    key = key or new_key("ec")
    builder = x509.CertificateSigningRequestBuilder().subject_name(dn(data, extra))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        csr = builder.sign(key, None)
    elif pss:
        csr = builder.sign(
            key,
            algorithm or hashes.SHA256(),
            rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        )
    else:
        csr = builder.sign(key, algorithm or hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii")


def enroll_body(
    csr: str, name: str = "Certyfikat testowy", type_: str = "Authentication", **extra: Any
) -> dict[str, Any]:
    return {"certificateName": name, "certificateType": type_, "csr": csr, **extra}


def load(b64: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(b64))


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def seal() -> Principal:
    return make_principal()


def issue(env, principal: Principal, key: Any = None, **body: Any) -> tuple[str, x509.Certificate]:  # type: ignore[no-untyped-def]
    data = env.certificates.enrollment_data(principal)
    now = env.clock.now()
    ref = env.certificates.enroll(principal, enroll_body(make_csr(data, key), **body), now)[
        "referenceNumber"
    ]
    status = env.certificates.enrollment_status(principal, ref, env.clock.now())
    assert status["status"]["code"] == 200, status
    serial = status["certificateSerialNumber"]
    cert = load(
        env.certificates.retrieve(principal, [serial], env.clock.now())["certificates"][0][
            "certificate"
        ]
    )
    return serial, cert


# -- the mock CA ------------------------------------------------------------------------------


def test_ca_is_self_signed_per_environment_and_stable(mock: MockState):
    test_ca = mock.env("TEST").certificates.ca_certificate
    assert test_ca.subject.rfc4514_string() == "CN=KSeF mock CA TEST"
    assert test_ca.issuer == test_ca.subject
    assert test_ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    test_ca.verify_directly_issued_by(test_ca)
    assert mock.env("TEST").certificates.ca_certificate is test_ca
    demo_ca = mock.env("DEMO").certificates.ca_certificate
    assert demo_ca.subject.rfc4514_string() == "CN=KSeF mock CA DEMO"
    assert demo_ca.not_valid_before_utc <= T0 < demo_ca.not_valid_after_utc


def test_issued_certificate_is_found_and_verifies_only_with_its_own_ca(
    env, mock: MockState, seal: Principal
):
    serial, cert = issue(env, seal)
    assert env.certificates.issued_by_ca(cert)
    record = env.certificates.find_issued(cert)
    assert record is not None and record.serial_number == serial
    assert record.status == "Active" and record.certificate_type == "Authentication"
    assert record.owner == SubjectIdentifier("Nip", NIP)
    assert record.valid_from == T0 and record.valid_to == T0.replace(year=2028)
    # Another environment's CA did not sign it and does not know it.
    demo = mock.env("DEMO").certificates
    assert not demo.issued_by_ca(cert) and demo.find_issued(cert) is None


def test_self_signed_or_forged_certificate_is_not_issued(env, seal: Principal):
    serial, cert = issue(env, seal)
    key = new_key("ec")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KSeF mock CA TEST")])
    # Claims the CA as issuer, signed with another key.
    forged = crypto.issue_certificate(
        cert.subject, key.public_key(), name, key, T0, T0 + timedelta(days=1), cert.serial_number
    )
    assert not env.certificates.issued_by_ca(forged)
    assert env.certificates.find_issued(forged) is None


def test_issued_certificate_content(env, seal: Principal):
    data = env.certificates.enrollment_data(seal)
    key = new_key("rsa2048")
    csr = make_csr(data, key)
    ref = env.certificates.enroll(seal, enroll_body(csr, type_="Offline"), T0)["referenceNumber"]
    serial = env.certificates.enrollment_status(seal, ref, T0)["certificateSerialNumber"]
    assert len(serial) == 16 and serial == serial.upper()
    cert = load(env.certificates.retrieve(seal, [serial], T0)["certificates"][0]["certificate"])
    assert format(cert.serial_number, "016X") == serial
    assert cert.subject == x509.load_der_x509_csr(base64.b64decode(csr)).subject
    assert cert.issuer == env.certificates.ca_certificate.subject
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment and not usage.digital_signature  # Offline: nonRepudiation
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


# -- enrollment data ----------------------------------------------------------------------------


def test_enrollment_data_from_the_authenticating_certificate(env):
    person = make_principal(
        SubjectIdentifier("Pesel", PESEL), auth_method="QualifiedSignature", details=PERSON_DETAILS
    )
    assert env.certificates.enrollment_data(person) == {
        "commonName": "Jan Kowalski",
        "surname": "Kowalski",
        "givenName": "Jan Maria",
        "countryName": "PL",
        "serialNumber": f"PNOPL-{PESEL}",
    }
    seal_details = {
        "CommonName": "Firma",
        "CountryName": "PL",
        "OrganizationName": "Firma sp. z o.o.",
        "OrganizationIdentifier": f"VATPL-{NIP}",
    }
    seal = make_principal(details=seal_details)
    assert env.certificates.enrollment_data(seal) == {
        "commonName": "Firma",
        "organizationName": "Firma sp. z o.o.",
        "organizationIdentifier": f"VATPL-{NIP}",
        "countryName": "PL",
    }


def test_enrollment_data_derived_from_the_identifier_without_certificate_details(env):
    assert (
        env.certificates.enrollment_data(make_principal())["organizationIdentifier"]
        == f"VATPL-{NIP}"
    )
    personal = make_principal(auth_method="QualifiedSignature")
    assert env.certificates.enrollment_data(personal)["serialNumber"] == f"TINPL-{NIP}"
    pesel = make_principal(SubjectIdentifier("Pesel", PESEL), auth_method="TrustedProfile")
    assert env.certificates.enrollment_data(pesel) == {
        "commonName": PESEL,
        "countryName": "PL",
        "serialNumber": f"PNOPL-{PESEL}",
    }


def test_token_authentication_cannot_read_data_or_enroll(env, seal: Principal):
    by_token = make_principal(auth_method="Token")
    with pytest.raises(KsefError) as err:
        env.certificates.enrollment_data(by_token)
    assert err.value.code == 25001
    csr = make_csr(env.certificates.enrollment_data(seal))
    with pytest.raises(KsefError) as err:
        env.certificates.enroll(by_token, enroll_body(csr), T0)
    assert err.value.code == 25002


# -- CSR checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("ec", {}),
        ("ec", {"algorithm": hashes.SHA384()}),
        ("rsa2048", {}),
        ("rsa2048", {"pss": True}),
        ("rsa2048", {"algorithm": hashes.SHA512()}),
    ],
)
def test_accepted_keys_and_signature_algorithms(
    env, seal: Principal, kind: str, kwargs: dict[str, Any]
):
    csr = make_csr(env.certificates.enrollment_data(seal), new_key(kind), **kwargs)
    ref = env.certificates.enroll(seal, enroll_body(csr), T0)["referenceNumber"]
    assert env.certificates.enrollment_status(seal, ref, T0)["status"]["code"] == 200


@pytest.mark.parametrize("kind", ["rsa1024", "rsa3072", "ec384", "ed25519"])
def test_wrong_key_type_or_size_is_25010(env, seal: Principal, kind: str):
    csr = make_csr(env.certificates.enrollment_data(seal), new_key(kind))
    with pytest.raises(KsefError) as err:
        env.certificates.enroll(seal, enroll_body(csr), T0)
    assert err.value.code == 25010


def test_wrong_signature_hash_is_25011(env, seal: Principal):
    csr = make_csr(env.certificates.enrollment_data(seal), new_key("ec"), algorithm=hashes.SHA224())
    with pytest.raises(KsefError) as err:
        env.certificates.enroll(seal, enroll_body(csr), T0)
    assert err.value.code == 25011


def test_unreadable_or_tampered_csr_is_25004(env, seal: Principal):
    data = env.certificates.enrollment_data(seal)
    der = bytearray(base64.b64decode(make_csr(data)))
    # The last bytes are the ECDSA signature: flip one so that it no longer verifies.
    der[-3] ^= 0x01
    for csr in (
        base64.b64encode(b"not a csr").decode(),
        "###",
        base64.b64encode(bytes(der)).decode(),
    ):
        with pytest.raises(KsefError) as err:
            env.certificates.enroll(seal, enroll_body(csr), T0)
        assert err.value.code == 25004, csr


@pytest.mark.parametrize(
    "change",
    [
        lambda d: {**d, "commonName": "Ktoś inny"},
        lambda d: {k: v for k, v in d.items() if k != "organizationIdentifier"},
        lambda d: {**d, "surname": "Nowak"},
    ],
)
def test_dn_not_matching_the_enrollment_data_is_25003(env, seal: Principal, change):  # type: ignore[no-untyped-def]
    csr = make_csr(change(env.certificates.enrollment_data(seal)))
    with pytest.raises(KsefError) as err:
        env.certificates.enroll(seal, enroll_body(csr), T0)
    assert err.value.code == 25003


def test_unknown_dn_attribute_is_25003_but_unique_identifier_may_be_left_out(env):
    details = {**PERSON_DETAILS, "UniqueIdentifier": "d9d22724-4696-460c-9e5e-b9e3aafb0af3"}
    person = make_principal(
        SubjectIdentifier("Pesel", PESEL), auth_method="QualifiedSignature", details=details
    )
    data = env.certificates.enrollment_data(person)
    assert data["uniqueIdentifier"] == details["UniqueIdentifier"]
    extra = [x509.NameAttribute(NameOID.LOCALITY_NAME, "Warszawa")]
    with pytest.raises(KsefError) as err:
        env.certificates.enroll(person, enroll_body(make_csr(data, extra=extra)), T0)
    assert err.value.code == 25003
    without = {k: v for k, v in data.items() if k != "uniqueIdentifier"}
    env.certificates.enroll(person, enroll_body(make_csr(without)), T0)


def test_several_given_names_in_the_csr_match_the_joined_value(env):
    person = make_principal(
        SubjectIdentifier("Pesel", PESEL), auth_method="QualifiedSignature", details=PERSON_DETAILS
    )
    data = env.certificates.enrollment_data(person)
    base = {k: v for k, v in data.items() if k != "givenName"}
    extra = [
        x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"),
        x509.NameAttribute(NameOID.GIVEN_NAME, "Maria"),
    ]
    env.certificates.enroll(person, enroll_body(make_csr(base, extra=extra)), T0)


# -- limits and lazy decisions ------------------------------------------------------------------------


def test_limits_count_enrollments_and_active_certificates(env, seal: Principal):
    before = env.certificates.limits(seal, T0)
    assert before == {
        "canRequest": True,
        "enrollment": {"remaining": 300, "limit": 300},
        "certificate": {"remaining": 100, "limit": 100},
    }
    serial, _ = issue(env, seal)
    after = env.certificates.limits(seal, T0)
    assert after["enrollment"]["remaining"] == 299 and after["certificate"]["remaining"] == 99
    env.certificates.revoke(seal, serial, None, T0)
    assert env.certificates.limits(seal, T0)["certificate"]["remaining"] == 100


def test_enrollment_limit_is_25006(env, seal: Principal):
    env.limits.set_certificate_limits(seal.subject, {"enrollment": {"maxEnrollments": 1}})
    issue(env, seal)
    assert env.certificates.limits(seal, T0)["canRequest"] is False
    with pytest.raises(KsefError) as err:
        env.certificates.enroll(
            seal, enroll_body(make_csr(env.certificates.enrollment_data(seal))), T0
        )
    assert err.value.code == 25006


def test_certificate_limit_is_25007_at_request_time(env, seal: Principal):
    env.limits.set_certificate_limits(seal.subject, {"certificate": {"maxCertificates": 1}})
    issue(env, seal)
    with pytest.raises(KsefError) as err:
        env.certificates.enroll(
            seal, enroll_body(make_csr(env.certificates.enrollment_data(seal))), T0
        )
    assert err.value.code == 25007


@pytest.fixture
def slow_mock(config, spec) -> MockState:  # type: ignore[no-untyped-def]
    return MockState(
        replace(config, certificate_processing_seconds=60), spec=spec, clock=Clock.virtual(T0)
    )


def test_enrollment_stays_at_100_until_processed(slow_mock: MockState, seal: Principal):
    env = slow_mock.env("TEST")
    ref = env.certificates.enroll(
        seal, enroll_body(make_csr(env.certificates.enrollment_data(seal))), T0
    )["referenceNumber"]
    first = env.certificates.enrollment_status(seal, ref, T0)
    assert first == {
        "requestDate": format_datetime(T0),
        "status": {"code": 100, "description": "Wniosek przyjęty do realizacji"},
    }
    assert env.certificates.query(seal, None, 0, 10, T0)["certificates"] == []
    slow_mock.clock.advance(60)
    done = env.certificates.enrollment_status(seal, ref, slow_mock.clock.now())
    assert done["status"] == {
        "code": 200,
        "description": "Wniosek obsłużony (certyfikat wygenerowany)",
    }
    item = env.certificates.query(seal, None, 0, 10, slow_mock.clock.now())["certificates"][0]
    assert item["validFrom"] == format_datetime(T0 + timedelta(seconds=60))
    assert item["requestDate"] == format_datetime(T0)


def test_pending_enrollments_over_the_certificate_limit_are_rejected(
    slow_mock: MockState, seal: Principal
):
    env = slow_mock.env("TEST")
    env.limits.set_certificate_limits(seal.subject, {"certificate": {"maxCertificates": 1}})
    data = env.certificates.enrollment_data(seal)
    refs = [
        env.certificates.enroll(seal, enroll_body(make_csr(data)), T0)["referenceNumber"]
        for _ in range(2)
    ]
    slow_mock.clock.advance(61)
    statuses = [
        env.certificates.enrollment_status(seal, r, slow_mock.clock.now())["status"] for r in refs
    ]
    assert statuses[0]["code"] == 200
    assert statuses[1] == {
        "code": 400,
        "description": "Wniosek odrzucony",
        "details": [REJECT_LIMIT],
    }


def test_key_certified_for_another_subject_is_rejected(env, seal: Principal):
    key = new_key("ec")
    issue(env, seal, key)
    other = make_principal(SubjectIdentifier("Nip", OTHER_NIP))
    ref = env.certificates.enroll(
        other, enroll_body(make_csr(env.certificates.enrollment_data(other), key)), T0
    )["referenceNumber"]
    status = env.certificates.enrollment_status(other, ref, T0)
    assert status["status"] == {
        "code": 400,
        "description": "Wniosek odrzucony",
        "details": [REJECT_KEY_TAKEN],
    }
    assert "certificateSerialNumber" not in status


def test_enrollment_status_unknown_foreign_and_expired(env, mock: MockState, seal: Principal):
    ref = env.certificates.enroll(
        seal, enroll_body(make_csr(env.certificates.enrollment_data(seal))), T0
    )["referenceNumber"]
    for principal, reference in (
        (seal, "20260302-EH-0000000000-0000000000-00"),
        (make_principal(SubjectIdentifier("Nip", OTHER_NIP)), ref),
    ):
        with pytest.raises(KsefError) as err:
            env.certificates.enrollment_status(principal, reference, T0)
        assert err.value.code == 25005
    mock.clock.advance(30 * 86400 - 1)
    env.certificates.enrollment_status(seal, ref, mock.clock.now())
    mock.clock.advance(1)
    with pytest.raises(Gone):
        env.certificates.enrollment_status(seal, ref, mock.clock.now())


def test_valid_from_in_the_future_is_kept_and_in_the_past_moved_to_issue_time(env, seal: Principal):
    data = env.certificates.enrollment_data(seal)
    later = T0 + timedelta(days=3)
    for requested, expected in ((later, later), (T0 - timedelta(days=3), T0)):
        body = enroll_body(make_csr(data), validFrom=requested.isoformat())
        ref = env.certificates.enroll(seal, body, T0)["referenceNumber"]
        serial = env.certificates.enrollment_status(seal, ref, T0)["certificateSerialNumber"]
        record = env.certificates.get(serial)
        assert record.valid_from == expected and record.valid_to == expected.replace(
            year=expected.year + 2
        )


# -- revoke, query, test-data update ---------------------------------------------------------------------


def test_revoke_own_certificate_once(env, seal: Principal):
    serial, cert = issue(env, seal)
    env.certificates.revoke(seal, serial, "KeyCompromise", T0)
    record = env.certificates.find_issued(cert)
    assert record.status == "Revoked" and record.revocation_reason == "KeyCompromise"
    with pytest.raises(KsefError) as err:
        env.certificates.revoke(seal, serial, None, T0)
    assert err.value.code == 25009


def test_revoke_foreign_unknown_and_by_token(env, seal: Principal):
    serial, _ = issue(env, seal)
    other = make_principal(SubjectIdentifier("Nip", OTHER_NIP))
    for principal, number in ((other, serial), (seal, "0123456789ABCDEF")):
        with pytest.raises(KsefError) as err:
            env.certificates.revoke(principal, number, None, T0)
        assert err.value.code == 25008
    with pytest.raises(Forbidden) as forbidden:
        env.certificates.revoke(make_principal(auth_method="Token"), serial, None, T0)
    assert forbidden.value.reason_code == "auth-method-not-allowed"


def test_nip_pesel_link_shares_certificates(env):
    person = make_principal(
        SubjectIdentifier("Pesel", PESEL), auth_method="QualifiedSignature", details=PERSON_DETAILS
    )
    serial, _ = issue(env, person)
    as_nip = make_principal(SubjectIdentifier("Nip", NIP), auth_method="QualifiedSignature")
    assert env.certificates.query(as_nip, None, 0, 10, T0)["certificates"] == []
    env.subjects.persons[NIP] = Person(NIP, PESEL, "Osoba testowa", False, False, T0)
    assert [
        c["certificateSerialNumber"]
        for c in env.certificates.query(as_nip, None, 0, 10, T0)["certificates"]
    ] == [serial]
    env.certificates.revoke(as_nip, serial, None, T0)


def test_query_filters_sorting_paging_and_expiry(env, mock: MockState, seal: Principal):
    serials = []
    for i in range(12):
        serials.append(
            issue(
                env,
                seal,
                name=f"Certyfikat {i:02d}",
                type_="Offline" if i % 3 == 0 else "Authentication",
            )[0]
        )
        mock.clock.advance(60)
    now = mock.clock.now()
    page0 = env.certificates.query(seal, {}, 0, 10, now)
    page1 = env.certificates.query(seal, {}, 1, 10, now)
    assert page0["hasMore"] is True and page1["hasMore"] is False
    listed = [c["certificateSerialNumber"] for c in page0["certificates"] + page1["certificates"]]
    assert listed == serials[::-1]  # requestDate desc
    names = [
        c["name"]
        for c in env.certificates.query(seal, {"name": "FIKAT 0"}, 0, 50, now)["certificates"]
    ]
    assert names == [f"Certyfikat {i:02d}" for i in range(9, -1, -1)]
    assert len(env.certificates.query(seal, {"type": "Offline"}, 0, 50, now)["certificates"]) == 4
    assert (
        env.certificates.query(seal, {"certificateSerialNumber": serials[5]}, 0, 50, now)[
            "certificates"
        ][0]["certificateSerialNumber"]
        == serials[5]
    )
    env.certificates.revoke(seal, serials[0], None, now)
    assert [
        c["certificateSerialNumber"]
        for c in env.certificates.query(seal, {"status": "Revoked"}, 0, 50, now)["certificates"]
    ] == [serials[0]]
    cutoff = (T0.replace(year=2028) + timedelta(minutes=5)).isoformat()
    assert (
        len(env.certificates.query(seal, {"expiresAfter": cutoff}, 0, 50, now)["certificates"]) == 6
    )
    mock.clock.advance(2 * 366 * 86400)
    later = mock.clock.now()
    statuses = {
        c["status"] for c in env.certificates.query(seal, None, 0, 50, later)["certificates"]
    }
    assert statuses == {"Expired", "Revoked"}


def test_update_validity_shortens_only(env, mock: MockState, seal: Principal):
    serial, cert = issue(env, seal)
    with pytest.raises(InvalidInputData):
        env.certificates.update_validity(seal, serial, (T0 + timedelta(days=800)).isoformat(), T0)
    env.certificates.update_validity(seal, serial, (T0 + timedelta(hours=1)).isoformat(), T0)
    record = env.certificates.find_issued(cert)
    assert record.status == "Active"
    mock.clock.advance(3600)
    assert record.status == "Expired" and not record.is_valid_at(mock.clock.now())
    with pytest.raises(KsefError) as err:
        env.certificates.update_validity(
            make_principal(SubjectIdentifier("Nip", OTHER_NIP)), serial, T0.isoformat(), T0
        )
    assert err.value.code == 25008


def test_mark_used_and_blocked(env, seal: Principal):
    serial, cert = issue(env, seal)
    env.certificates.mark_used(serial, T0 + timedelta(minutes=1))
    item = env.certificates.query(seal, None, 0, 10, T0)["certificates"][0]
    assert item["lastUseDate"] == format_datetime(T0 + timedelta(minutes=1))
    env.certificates.set_blocked(serial)
    assert env.certificates.find_issued(cert).status == "Blocked"
    with pytest.raises(KsefError) as err:
        env.certificates.revoke(seal, serial, None, T0)
    assert err.value.code == 25009


def test_sud_claim_may_also_be_a_json_object(env):
    principal = make_principal(
        SubjectIdentifier("Pesel", PESEL), auth_method="QualifiedSignature", details=PERSON_DETAILS
    )
    claims = dict(principal.claims, sud=json.loads(principal.claims["sud"]))
    as_object = replace(principal, claims=claims)
    assert env.certificates.enrollment_data(as_object)["commonName"] == "Jan Kowalski"
