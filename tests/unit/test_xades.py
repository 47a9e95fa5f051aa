"""The XAdES AuthTokenRequest reader (server) and signer (client), without HTTP.

``dotnet_signed`` reproduces, for interoperability only, the document the
official C# client's ``SignatureService`` (.NET ``SignedXml``) produces: the
signature in the *default* xmldsig namespace, C14N 1.0 SignedInfo, exclusive
C14N references, ``SigningCertificate`` with a SHA-256 digest. signxml cannot
emit a default-namespace signature, so this test fixture assembles it with lxml
canonicalisation and ``cryptography`` signing; the product code never does.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from ksefclient.xades import (
    SigningCredentials,
    auth_token_request,
    personal_certificate,
    seal_certificate,
    sign_auth_token_request,
)
from mockksef import official
from mockksef.errors import KsefError
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.services.auth import xades
from tests import kit

CHALLENGE = "20250625-CR-20F5EE4000-DA48AE4124-46"
NIP = "5265877635"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


@pytest.fixture(scope="module")
def schemas():  # type: ignore[no-untyped-def]
    return xades.schemas(official.locate())


@pytest.fixture(scope="module")
def person() -> SigningCredentials:
    # RSA, as the C# client's certificates (the shape tests compare with it).
    return personal_certificate(nip=NIP, key_type="rsa", not_before=NOW - timedelta(hours=1))


@pytest.fixture(scope="module")
def ec_seal() -> SigningCredentials:
    return seal_certificate(nip=NIP, key_type="ec", not_before=NOW - timedelta(hours=1))


def codes_of(excinfo: pytest.ExceptionInfo[KsefError]) -> int:
    return excinfo.value.code


def c14n(node: etree._Element, exclusive: bool = False) -> bytes:
    """Correct C14N 1.0 of a subtree (a standalone copy: libxml2 2.14 errs in place)."""
    copy = etree.fromstring(etree.tostring(node, with_tail=False))
    return etree.tostring(copy, method="c14n", exclusive=exclusive)


def dotnet_signed(xml: bytes, creds: SigningCredentials, signing_time: datetime = NOW) -> bytes:
    """What .NET's SignedXml gives for the C# client (see the module docstring)."""
    doc = etree.fromstring(xml)
    document_digest = hashlib.sha256(etree.tostring(doc, method="c14n", exclusive=True)).digest()
    cert = creds.certificate
    is_rsa = isinstance(creds.private_key, rsa.RSAPrivateKey)
    method = "http://www.w3.org/2001/04/xmldsig-more#" + (
        "rsa-sha256" if is_rsa else "ecdsa-sha256"
    )
    cert_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    cert_digest = base64.b64encode(cert.fingerprint(hashes.SHA256())).decode()
    # .NET renders the serial as a signed BigInteger of the little-endian bytes; KSeF ignores it.
    signature_text = (
        f'<Signature Id="Signature" xmlns="{DS}"><SignedInfo>'
        '<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" />'
        f'<SignatureMethod Algorithm="{method}" />'
        '<Reference URI=""><Transforms>'
        '<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" />'
        f'<Transform Algorithm="{EXC}" /></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256" />'
        f"<DigestValue>{base64.b64encode(document_digest).decode()}</DigestValue></Reference>"
        '<Reference URI="#SignedProperties" Type="http://uri.etsi.org/01903#SignedProperties">'
        f'<Transforms><Transform Algorithm="{EXC}" /></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256" />'
        "<DigestValue></DigestValue></Reference></SignedInfo>"
        f"<SignatureValue></SignatureValue><KeyInfo><X509Data><X509Certificate>{cert_b64}"
        "</X509Certificate></X509Data></KeyInfo><Object>"
        f'<xades:QualifyingProperties Target="#Signature" xmlns:xades="{XADES}" xmlns="{DS}">'
        '<xades:SignedProperties Id="SignedProperties"><xades:SignedSignatureProperties>'
        f"<xades:SigningTime>{signing_time.isoformat()}</xades:SigningTime>"
        "<xades:SigningCertificate><xades:Cert><xades:CertDigest>"
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256" />'
        f"<DigestValue>{cert_digest}</DigestValue></xades:CertDigest><xades:IssuerSerial>"
        f"<X509IssuerName>{cert.issuer.rfc4514_string()}</X509IssuerName>"
        "<X509SerialNumber>-123456789</X509SerialNumber></xades:IssuerSerial></xades:Cert>"
        "</xades:SigningCertificate></xades:SignedSignatureProperties></xades:SignedProperties>"
        "</xades:QualifyingProperties></Object></Signature>"
    )
    signature = etree.fromstring(signature_text)
    doc.append(signature)
    signature = doc[-1]
    props = signature.find(f".//{{{XADES}}}SignedProperties")
    props_digest = hashlib.sha256(c14n(props, exclusive=True)).digest()
    signature.findall(f".//{{{DS}}}DigestValue")[1].text = base64.b64encode(props_digest).decode()
    signed_info = c14n(signature.find(f"{{{DS}}}SignedInfo"))
    key = creds.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(signed_info, padding.PKCS1v15(), hashes.SHA256())
    else:
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(key.sign(signed_info, ec.ECDSA(hashes.SHA256())))
        value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    return b'<?xml version="1.0" encoding="utf-8"?>' + etree.tostring(doc)


def request(context=("Nip", NIP), **kw) -> bytes:  # type: ignore[no-untyped-def]
    return auth_token_request(CHALLENGE, *context, **kw)


# -- accepted documents ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_client_signature_verifies_in_both_namespaces(schemas, person, version):  # type: ignore[no-untyped-def]
    ips = {
        "ip4Addresses": ["10.0.0.1"],
        "ip4Ranges": ["10.0.0.1-10.0.0.9"],
        "ip4Masks": ["10.0.0.0/8"],
    }
    signed = sign_auth_token_request(
        request(allowed_ips=ips, version=version), person, signing_time=NOW
    )
    result = xades.read_signed_request(signed, schemas)
    assert result.namespace.endswith(version)
    assert result.challenge == CHALLENGE
    assert result.context == ContextIdentifier("Nip", NIP)
    assert result.subject_identifier_type == "certificateSubject"
    assert result.authorization_policy == {"allowedIps": ips}
    assert result.certificate == person.certificate


def test_client_signature_has_the_csharp_shape(person):  # type: ignore[no-untyped-def]
    signature = etree.fromstring(sign_auth_token_request(request(), person, signing_time=NOW))[-1]
    assert signature.tag == f"{{{DS}}}Signature" and signature.get("Id") == "Signature"
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    assert (
        signed_info.find(f"{{{DS}}}CanonicalizationMethod").get("Algorithm")
        == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    )
    assert signed_info.find(f"{{{DS}}}SignatureMethod").get("Algorithm").endswith("#rsa-sha256")
    document, properties = signed_info.findall(f"{{{DS}}}Reference")
    assert document.get("URI") == "" and [
        t.get("Algorithm") for t in document.iter(f"{{{DS}}}Transform")
    ] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        EXC,
    ]
    assert properties.get("URI") == "#SignedProperties"
    assert properties.get("Type") == "http://uri.etsi.org/01903#SignedProperties"
    assert [t.get("Algorithm") for t in properties.iter(f"{{{DS}}}Transform")] == [EXC]
    assert {d.get("Algorithm") for d in signed_info.iter(f"{{{DS}}}DigestMethod")} == {
        "http://www.w3.org/2001/04/xmlenc#sha256"
    }
    qualifying = signature.find(f"{{{DS}}}Object/{{{XADES}}}QualifyingProperties")
    assert qualifying.get("Target") == "#Signature"
    ssp = qualifying.find(f"{{{XADES}}}SignedProperties/{{{XADES}}}SignedSignatureProperties")
    assert ssp.find(f"{{{XADES}}}SigningTime").text == "2026-03-02T09:00:00+00:00"
    cert = ssp.find(f"{{{XADES}}}SigningCertificate/{{{XADES}}}Cert")
    assert (
        cert.find(f"{{{XADES}}}CertDigest/{{{DS}}}DigestValue").text
        == base64.b64encode(person.certificate.fingerprint(hashes.SHA256())).decode()
    )
    assert cert.find(f"{{{XADES}}}IssuerSerial/{{{DS}}}X509SerialNumber").text == str(
        person.certificate.serial_number
    )
    assert signature.find(f"{{{DS}}}KeyInfo/{{{DS}}}KeyValue") is None
    assert len(signature.findall(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")) == 1


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_dotnet_shaped_signature_verifies(schemas, key_type):  # type: ignore[no-untyped-def]
    creds = personal_certificate(nip=NIP, key_type=key_type, not_before=NOW)
    xml = request(allowed_ips={})
    signed = dotnet_signed(xml, creds)
    assert (
        b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#" Id="Signature">' in signed
        or b'<Signature Id="Signature"' in signed
    )
    result = xades.read_signed_request(signed, schemas)
    assert result.context.value == NIP and result.authorization_policy == {"allowedIps": {}}
    # The same document tampered after signing fails.
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(
            signed.replace(CHALLENGE.encode(), CHALLENGE[:-2].encode() + b"00"), schemas
        )
    assert codes_of(excinfo) == 9105


def test_ec_seal_and_exclusive_signed_info(schemas, ec_seal):  # type: ignore[no-untyped-def]
    signed = sign_auth_token_request(request(), ec_seal, signed_info_c14n="exc-c14n")
    assert b"ecdsa-sha256" in signed
    assert xades.read_signed_request(signed, schemas).certificate == ec_seal.certificate


def test_peppol_and_nip_vat_ue_contexts_pass_the_official_patterns(schemas, person):  # type: ignore[no-untyped-def]
    # The official patterns carry .NET ^...$ anchors that libxml2 would take literally.
    for context in (
        ("PeppolId", "PAB123456"),
        ("NipVatUe", f"{NIP}-DE123456789"),
        ("InternalId", f"{NIP}-00001"),
    ):
        signed = sign_auth_token_request(request(context), person)
        assert xades.read_signed_request(signed, schemas).context == ContextIdentifier(*context)


def test_schema_20_ip_patterns_translated(schemas):  # type: ignore[no-untyped-def]
    ns = xades.AUTH_NAMESPACE_V20
    schema = schemas[ns]

    def doc(ip: str) -> etree._Element:
        return etree.fromstring(
            f'<AuthTokenRequest xmlns="{ns}"><Challenge>{CHALLENGE}</Challenge><ContextIdentifier><Nip>{NIP}</Nip>'
            "</ContextIdentifier><SubjectIdentifierType>certificateFingerprint</SubjectIdentifierType>"
            f"<AuthorizationPolicy><AllowedIps><Ip4Address>{ip}</Ip4Address></AllowedIps></AuthorizationPolicy>"
            "</AuthTokenRequest>"
        )

    assert schema.validate(doc("192.168.0.1"))
    for bad in ("256.1.1.1", "1.2.3", "1.2.3.4.", "a.b.c.d", "1234"):
        assert not schema.validate(doc(bad)), bad


def test_enveloping_signature_is_accepted(schemas, person):  # type: ignore[no-untyped-def]
    from signxml import XMLSigner
    from signxml.algorithms import SignatureConstructionMethod

    # A plain enveloping XMLDSig has no SignedProperties: KSeF demands XAdES.
    signed = XMLSigner(method=SignatureConstructionMethod.enveloping).sign(
        etree.fromstring(request()), key=person.private_key, cert=[person.certificate]
    )
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(etree.tostring(signed), schemas)
    assert codes_of(excinfo) == 9105


# -- refused documents, in the order of the checks ------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", 21001),
        (b"   \n", 21001),
        (b"not xml at all", 21001),
        (b"<AuthTokenRequest><unclosed></AuthTokenRequest>", 21001),
        ('<?xml version="1.0" encoding="utf-8"?><a>\xff</a>'.encode("latin-1"), 21217),
        (b'<?xml version="1.0" encoding="x-unknown-charset"?><a/>', 21217),
        (b"<Invoice xmlns='http://crd.gov.pl/wzor/2025/06/25/13775/'/>", 9101),
        (b"<AuthTokenRequest xmlns='urn:other'/>", 9101),
    ],
)
def test_unreadable_and_foreign_documents(schemas, raw, code):  # type: ignore[no-untyped-def]
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(raw, schemas)
    assert codes_of(excinfo) == code


def test_dtd_and_entity_declarations_are_never_expanded(schemas, person):  # type: ignore[no-untyped-def]
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0"><Challenge>&lol3;</Challenge></AuthTokenRequest>'
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0"><Challenge>&x;</Challenge></AuthTokenRequest>'
    )
    signed = sign_auth_token_request(request(), person)
    with_dtd = signed.replace(b"?>", b'?><!DOCTYPE AuthTokenRequest [<!ENTITY e "x">]>', 1)
    for raw in (bomb, external, with_dtd):
        with pytest.raises(KsefError) as excinfo:
            xades.read_signed_request(raw, schemas)
        assert codes_of(excinfo) == 21001


def test_xsd_errors_carry_the_validator_message(schemas, person):  # type: ignore[no-untyped-def]
    signed = sign_auth_token_request(auth_token_request("not-a-challenge", "Nip", NIP), person)
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(signed, schemas)
    assert codes_of(excinfo) == 21401
    assert "Challenge" in excinfo.value.errors[0].details[0]


def test_missing_extra_and_broken_signatures(schemas, person):  # type: ignore[no-untyped-def]
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(request(), schemas)
    assert codes_of(excinfo) == 9102

    signed = sign_auth_token_request(request(), person)
    root = etree.fromstring(signed)
    signature = root[-1]
    root.append(etree.fromstring(etree.tostring(signature)))
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(etree.tostring(root), schemas)
    assert codes_of(excinfo) == 9103

    tampered = signed.replace(b"certificateSubject", b"certificateFingerprint")
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(tampered, schemas)
    assert codes_of(excinfo) == 9105


def test_unreadable_certificate_is_21115(schemas, person):  # type: ignore[no-untyped-def]
    root = etree.fromstring(sign_auth_token_request(request(), person))
    root.find(f".//{{{DS}}}X509Certificate").text = "QUJD"
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(etree.tostring(root), schemas)
    assert codes_of(excinfo) == 21115


def test_detached_reference_and_forbidden_transform_are_9105(schemas, person):  # type: ignore[no-untyped-def]
    signed = sign_auth_token_request(request(), person)
    for old, new in (
        (b'URI=""', b'URI="http://example.com/doc.xml"'),
        (b"xmldsig#enveloped-signature", b"xmldsig#not-a-transform"),
    ):
        with pytest.raises(KsefError) as excinfo:
            xades.read_signed_request(signed.replace(old, new, 1), schemas)
        assert codes_of(excinfo) == 9105


def test_short_rsa_key_is_9105(schemas):  # type: ignore[no-untyped-def]
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    subject = {NameOID.SERIAL_NUMBER: f"TINPL-{NIP}", NameOID.COMMON_NAME: "x"}
    credentials = kit.self_signed(subject, NOW, key, days=1)
    with pytest.raises(KsefError) as excinfo:
        xades.read_signed_request(dotnet_signed(request(), credentials), schemas)
    assert codes_of(excinfo) == 9105


# -- certificate identity --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (f"TINPL-{NIP}", SubjectIdentifier("Nip", NIP)),
        (f"NIP:{NIP}", SubjectIdentifier("Nip", NIP)),
        ("PNOPL-30112206276", SubjectIdentifier("Pesel", "30112206276")),
        ("PESEL 30112206276", SubjectIdentifier("Pesel", "30112206276")),
    ],
)
def test_personal_identity(serial, expected):  # type: ignore[no-untyped-def]
    creds = personal_certificate(
        serial_number=serial, given_names=("Anna", "Maria"), not_before=NOW
    )
    identity = xades.certificate_identity(creds.certificate)
    assert identity.subject == expected and not identity.seal and not identity.malformed
    assert identity.details["GivenNames"] == ["Anna", "Maria"]
    assert identity.details["SerialNumber"] == serial
    assert identity.details["CertificateFingerprint"] == creds.fingerprint
    assert (
        identity.fingerprint
        == hashlib.sha256(creds.certificate.public_bytes(serialization.Encoding.DER))
        .hexdigest()
        .upper()
    )


def test_seal_identity_and_malformed_identifiers():  # type: ignore[no-untyped-def]
    seal = xades.certificate_identity(seal_certificate(nip=NIP, not_before=NOW).certificate)
    assert seal.seal and seal.subject == SubjectIdentifier("Nip", NIP)
    assert seal.details["OrganizationIdentifier"] == f"VATPL-{NIP}"
    for creds in (
        personal_certificate(serial_number="TINPL-111111", not_before=NOW),
        personal_certificate(serial_number="-30112206276", not_before=NOW),
        seal_certificate(organization_identifier="VATDE-123456789", not_before=NOW),
    ):
        identity = xades.certificate_identity(creds.certificate)
        assert identity.malformed and identity.subject is None


def test_client_builders_validate_arguments():  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        personal_certificate(nip=NIP, pesel="30112206276")
    with pytest.raises(ValueError):
        seal_certificate()
    with pytest.raises(ValueError):
        auth_token_request(CHALLENGE, "Regon", "123")
    creds = personal_certificate(pesel="30112206276", not_before=NOW)
    cert_pem, key_pem = creds.to_pem()
    assert SigningCredentials.from_pem(cert_pem, key_pem).fingerprint == creds.fingerprint


def test_schema_files_are_read_from_the_official_dir():  # type: ignore[no-untyped-def]
    directory = official.locate()
    for rel in xades.SCHEMA_FILES.values():
        assert (Path(directory) / rel).is_file()
