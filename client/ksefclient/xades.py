"""XAdES signing of the KSeF ``AuthTokenRequest`` and self-signed test certificates.

Everything a client needs for ``POST /auth/xades-signature``:

* :func:`auth_token_request` builds the unsigned document (schema 2.0 or 2.1);
* :func:`sign_auth_token_request` signs it the way the official C# client does:
  an enveloped XAdES-BES signature, ``Id="Signature"``, RSA-SHA256 (or
  ECDSA-SHA256 for EC keys), SignedInfo canonicalised with C14N 1.0, two
  references (the document with the enveloped-signature and exclusive-C14N
  transforms; ``#SignedProperties`` with exclusive C14N), SHA-256 digests, the
  signer certificate in ``KeyInfo`` and ``SigningTime`` plus
  ``SigningCertificate`` (SHA-256 digest, issuer and serial) in the signed
  properties. The signature is computed by signxml's ``XAdESSigner``; only the
  shape of the qualifying properties is chosen here.
* :func:`personal_certificate` and :func:`seal_certificate` make self-signed
  certificates like the official ones for TEST: a person's
  (``serialNumber`` ``TINPL-{nip}`` or ``PNOPL-{pesel}``) or an organisation's
  seal (``organizationIdentifier`` ``VATPL-{nip}``). KSeF TEST accepts them; DEMO
  and production accept only qualified certificates or KSeF-issued ones.

Example::

    creds = personal_certificate(nip="5265877635")
    xml = auth_token_request(challenge, "Nip", "5265877635")
    signed = sign_auth_token_request(xml, creds)
    httpx.post(base + "/auth/xades-signature", content=signed,
               headers={"Content-Type": "application/xml"})
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.util import namespaces as _sx_namespaces
from signxml.xades.xades import XAdESSigner  # the defining module: signxml.xades has no __all__

__all__ = [
    "AUTH_NAMESPACE_V20",
    "AUTH_NAMESPACE_V21",
    "PrivateKey",
    "SigningCredentials",
    "auth_token_request",
    "certificate_fingerprint",
    "new_key",
    "personal_certificate",
    "seal_certificate",
    "sign_auth_token_request",
]

AUTH_NAMESPACE_V20 = "http://ksef.mf.gov.pl/auth/token/2.0"
AUTH_NAMESPACE_V21 = "http://ksef.mf.gov.pl/auth/token/2.1"
_NAMESPACES = {"2.0": AUTH_NAMESPACE_V20, "2.1": AUTH_NAMESPACE_V21}
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XSD = "http://www.w3.org/2001/XMLSchema"
_DS = _sx_namespaces.ds
_XADES = _sx_namespaces.xades
_SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
_CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
_SUBJECT_TYPES = ("certificateSubject", "certificateFingerprint")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """Upper-case hex SHA-256 of the DER certificate, as KSeF names certificates."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


@dataclass(frozen=True)
class SigningCredentials:
    """A certificate and its private key."""

    certificate: x509.Certificate
    private_key: PrivateKey

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)

    @classmethod
    def from_pem(
        cls, certificate: bytes, private_key: bytes, password: bytes | None = None
    ) -> SigningCredentials:
        key = serialization.load_pem_private_key(private_key, password)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("KSeF accepts RSA (>= 2048 bits) or EC (>= 256 bits) keys only")
        return cls(x509.load_pem_x509_certificate(certificate), key)

    @classmethod
    def from_pkcs12(cls, data: bytes, password: bytes | None = None) -> SigningCredentials:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password)
        if cert is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(
                "the PKCS#12 file must hold a certificate and its RSA or EC private key"
            )
        return cls(cert, key)

    def to_pem(self) -> tuple[bytes, bytes]:
        """``(certificate, unencrypted PKCS#8 key)`` in PEM."""
        return (
            self.certificate.public_bytes(serialization.Encoding.PEM),
            self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


# -- test certificates -------------------------------------------------------------------


def new_key(key_type: str = "ec") -> PrivateKey:
    """A new private key for a test certificate: ``ec`` (P-256, the default) or ``rsa`` (2048)."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError("key_type must be 'rsa' or 'ec'")


def _self_signed(
    attributes: list[x509.NameAttribute[str]],
    key: PrivateKey,
    not_before: datetime | None,
    valid_days: int,
) -> x509.Certificate:
    # Like the C# builders: valid from an hour ago, so that clock skew does not
    # make a fresh certificate "not yet valid".
    start = not_before or datetime.now(UTC) - timedelta(minutes=61)
    name = x509.Name(attributes)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .sign(key, hashes.SHA256())
    )


def personal_certificate(
    *,
    nip: str | None = None,
    pesel: str | None = None,
    serial_number: str | None = None,
    given_names: Sequence[str] = ("Jan",),
    surname: str = "Testowy",
    common_name: str | None = None,
    country: str = "PL",
    key_type: str = "ec",
    not_before: datetime | None = None,
    valid_days: int = 730,
    key: PrivateKey | None = None,
) -> SigningCredentials:
    """A self-signed personal certificate (QualifiedSignature on TEST).

    Give exactly one of ``nip`` (``serialNumber`` = ``TINPL-{nip}``), ``pesel``
    (``PNOPL-{pesel}``) or a raw ``serial_number``. The key is ECDSA P-256, which
    KSeF accepts and which takes microseconds to make (``key_type="rsa"``: RSA 2048,
    tens of milliseconds); ``key`` reuses one (a test suite may keep one per NIP).
    """
    chosen = [v for v in (nip, pesel, serial_number) if v is not None]
    if len(chosen) != 1:
        raise ValueError("give exactly one of nip, pesel or serial_number")
    serial = (
        serial_number
        if serial_number is not None
        else f"TINPL-{nip}"
        if nip is not None
        else f"PNOPL-{pesel}"
    )
    attributes = [
        x509.NameAttribute(NameOID.GIVEN_NAME, name) for name in given_names if name.strip()
    ]
    attributes += [
        x509.NameAttribute(NameOID.SURNAME, surname),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name or " ".join([*given_names, surname])),
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
    ]
    key = key if key is not None else new_key(key_type)
    return SigningCredentials(_self_signed(attributes, key, not_before, valid_days), key)


def seal_certificate(
    *,
    nip: str | None = None,
    organization_identifier: str | None = None,
    organization_name: str = "Firma Testowa Sp. z o.o.",
    common_name: str | None = None,
    country: str = "PL",
    key_type: str = "ec",
    not_before: datetime | None = None,
    valid_days: int = 730,
    key: PrivateKey | None = None,
) -> SigningCredentials:
    """A self-signed company seal (QualifiedSeal on TEST): ``organizationIdentifier`` ``VATPL-{nip}``.

    ECDSA P-256 by default, ``key_type="rsa"`` for RSA 2048; ``key`` reuses one.
    """
    if (nip is None) == (organization_identifier is None):
        raise ValueError("give exactly one of nip or organization_identifier")
    identifier = organization_identifier if organization_identifier is not None else f"VATPL-{nip}"
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization_name),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, identifier),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name or organization_name),
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
    ]
    key = key if key is not None else new_key(key_type)
    return SigningCredentials(_self_signed(attributes, key, not_before, valid_days), key)


# -- the document --------------------------------------------------------------------------


def auth_token_request(
    challenge: str,
    context_type: str,
    context_value: str,
    *,
    subject_identifier_type: str = "certificateSubject",
    allowed_ips: Mapping[str, Sequence[str]] | None = None,
    version: str = "2.0",
) -> bytes:
    """The unsigned ``AuthTokenRequest`` (UTF-8 bytes with an XML declaration).

    ``allowed_ips`` takes the JSON names of the API: ``{"ip4Addresses": [...],
    "ip4Ranges": [...], "ip4Masks": [...]}``; an empty mapping gives an empty
    ``AllowedIps`` element (no restriction), None leaves the policy out.
    """
    if context_type not in _CONTEXT_TYPES:
        raise ValueError(f"context_type must be one of {_CONTEXT_TYPES}")
    if subject_identifier_type not in _SUBJECT_TYPES:
        raise ValueError(f"subject_identifier_type must be one of {_SUBJECT_TYPES}")
    if version not in _NAMESPACES:
        raise ValueError("version must be '2.0' or '2.1'")
    ns = _NAMESPACES[version]
    root = etree.Element(f"{{{ns}}}AuthTokenRequest", nsmap={"xsi": _XSI, "xsd": _XSD, None: ns})
    etree.SubElement(root, f"{{{ns}}}Challenge").text = challenge
    context = etree.SubElement(root, f"{{{ns}}}ContextIdentifier")
    etree.SubElement(context, f"{{{ns}}}{context_type}").text = context_value
    etree.SubElement(root, f"{{{ns}}}SubjectIdentifierType").text = subject_identifier_type
    if allowed_ips is not None:
        policy = etree.SubElement(root, f"{{{ns}}}AuthorizationPolicy")
        ips = etree.SubElement(policy, f"{{{ns}}}AllowedIps")
        for key, tag in (
            ("ip4Addresses", "Ip4Address"),
            ("ip4Ranges", "Ip4Range"),
            ("ip4Masks", "Ip4Mask"),
        ):
            for value in allowed_ips.get(key) or ():
                etree.SubElement(ips, f"{{{ns}}}{tag}").text = value
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return document


# -- the signature ----------------------------------------------------------------------------


class _KsefXadesSigner(XAdESSigner):
    """signxml's XAdES signer shaped like the official C# ``SignatureService``.

    Differences from signxml's default XAdES output: fixed ids ``Signature`` /
    ``SignedProperties``; ``SigningCertificate`` (SHA-256, with IssuerSerial)
    instead of ``SigningCertificateV2``; no DataObjectFormat and no reference to
    KeyInfo; exclusive C14N on the references and C14N 1.0 on SignedInfo.
    """

    reference_c14n = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0

    def __init__(
        self,
        signing_time: datetime,
        signature_algorithm: SignatureMethod,
        signed_info_c14n: CanonicalizationMethod,
    ) -> None:
        super().__init__(
            signature_algorithm=signature_algorithm,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=signed_info_c14n,
        )
        self.signing_time = signing_time

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> Any:
        # libxml2 2.14 inclusive C14N puts a spurious xmlns="" on default-namespace
        # descendants of a non-root apex; canonicalise standalone copies instead.
        items = nodes if isinstance(nodes, list) else [nodes]
        copies = [
            etree.fromstring(etree.tostring(n, with_tail=False), _PARSER)
            if isinstance(n, etree._Element) and n.getparent() is not None
            else n
            for n in items
        ]
        return super()._c14n(copies, algorithm, inclusive_ns_prefixes)

    def _unpack(self, data: Any, references: Any) -> Any:
        # The document reference (URI="") is canonicalised with exclusive C14N
        # whatever SignedInfo uses, as .NET's SignedXml does for the C# client.
        sig_root, doc_root, c14n_inputs, refs = super()._unpack(data, references)
        return (
            sig_root,
            doc_root,
            c14n_inputs,
            [replace(r, c14n_method=self.reference_c14n) for r in refs],
        )

    def _build_xades_ds_object(self, sig_root: Any, signing_settings: Any) -> None:
        sig_root.set("Id", "Signature")
        obj = etree.SubElement(sig_root, f"{{{_DS}}}Object")
        qualifying = etree.SubElement(
            obj, f"{{{_XADES}}}QualifyingProperties", nsmap={"xades": _XADES}, Target="#Signature"
        )
        signed = etree.SubElement(
            qualifying, f"{{{_XADES}}}SignedProperties", Id="SignedProperties"
        )
        ssp = etree.SubElement(signed, f"{{{_XADES}}}SignedSignatureProperties")
        etree.SubElement(ssp, f"{{{_XADES}}}SigningTime").text = self.signing_time.astimezone(
            UTC
        ).isoformat(timespec="seconds")
        cert = signing_settings.cert_chain[0]
        cert_node = etree.SubElement(
            etree.SubElement(ssp, f"{{{_XADES}}}SigningCertificate"), f"{{{_XADES}}}Cert"
        )
        digest = etree.SubElement(cert_node, f"{{{_XADES}}}CertDigest")
        etree.SubElement(digest, f"{{{_DS}}}DigestMethod", Algorithm=DigestAlgorithm.SHA256.value)
        etree.SubElement(digest, f"{{{_DS}}}DigestValue").text = base64.b64encode(
            cert.fingerprint(hashes.SHA256())
        ).decode("ascii")
        issuer_serial = etree.SubElement(cert_node, f"{{{_XADES}}}IssuerSerial")
        etree.SubElement(
            issuer_serial, f"{{{_DS}}}X509IssuerName"
        ).text = cert.issuer.rfc4514_string()
        etree.SubElement(issuer_serial, f"{{{_DS}}}X509SerialNumber").text = str(cert.serial_number)

        signed_info = sig_root.find(f"{{{_DS}}}SignedInfo")
        reference = etree.SubElement(
            signed_info,
            f"{{{_DS}}}Reference",
            URI="#SignedProperties",
            Type=_SIGNED_PROPERTIES_TYPE,
        )
        transforms = etree.SubElement(reference, f"{{{_DS}}}Transforms")
        etree.SubElement(transforms, f"{{{_DS}}}Transform", Algorithm=self.reference_c14n.value)
        etree.SubElement(reference, f"{{{_DS}}}DigestMethod", Algorithm=self.digest_alg.value)
        value = self._get_digest(
            self._c14n(signed, algorithm=self.reference_c14n), algorithm=self.digest_alg
        )
        etree.SubElement(reference, f"{{{_DS}}}DigestValue").text = base64.b64encode(value).decode(
            "ascii"
        )


def sign_auth_token_request(
    xml: bytes | str,
    credentials: SigningCredentials,
    *,
    signing_time: datetime | None = None,
    signed_info_c14n: str = "c14n",
) -> bytes:
    """Sign an ``AuthTokenRequest`` with an enveloped XAdES-BES signature.

    ``signing_time`` defaults to one minute ago (as the C# client does, against
    clock skew). ``signed_info_c14n`` is ``"c14n"`` (C14N 1.0, like the C#
    client) or ``"exc-c14n"``.
    """
    methods = {
        "c14n": CanonicalizationMethod.CANONICAL_XML_1_0,
        "exc-c14n": CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    }
    if signed_info_c14n not in methods:
        raise ValueError("signed_info_c14n must be 'c14n' or 'exc-c14n'")
    key = credentials.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = SignatureMethod.RSA_SHA256
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = SignatureMethod.ECDSA_SHA256
    else:  # pragma: no cover - excluded by SigningCredentials
        raise ValueError("RSA or EC keys only")
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = etree.fromstring(
        data,
        etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True
        ),
    )
    when = signing_time or datetime.now(UTC) - timedelta(minutes=1)
    signer = _KsefXadesSigner(when, algorithm, methods[signed_info_c14n])
    signed = signer.sign(root, key=key, cert=[credentials.certificate], always_add_key_value=False)
    document: bytes = etree.tostring(signed, xml_declaration=True, encoding="utf-8")
    return document
