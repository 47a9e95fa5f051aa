"""The signed ``AuthTokenRequest`` of ``POST /auth/xades-signature``.

``read_signed_request`` runs the synchronous checks of reference A §2.5 in
their order and raises the official exception for the first that fails:

========================================================  =====
body empty, not XML, DTD/entity declarations               21001
not UTF-8 / undecodable in its declared encoding           21217
root is not an ``AuthTokenRequest`` (2.0 or 2.1)           9101
official XSD fails once the ``ds:Signature`` is removed    21401
no ``ds:Signature``                                        9102
more than one ``ds:Signature``                             9103
signer certificate unreadable                              21115
signature/digest invalid, forbidden algorithm or           9105
transform, detached, or not covering the document
========================================================  =====

The challenge (21111) and the certificate identity (21115, 21117, 21406) are
checked by the backend, which owns challenges and environment rules.

XML is parsed with entities never resolved, no network, no DTD loading and no
huge-tree mode; a document that declares a DTD is refused unread. The XSDs are
read from the official directory at run time (never copied) and compiled once
per process. Two .NET-only regex constructs in the official patterns are
translated to XML Schema regex with the same meaning: ``^``/``$`` anchors
(implicit in XSD) and the ``\\b`` word boundaries of the 2.0 IP patterns.

Signatures are verified by signxml's ``XAdESVerifier`` with the certificate
embedded in ``KeyInfo`` pinned as the trusted key (``x509_cert=``), so that
self-signed certificates verify; whether the certificate is *trusted* is decided
asynchronously (status 460), as in KSeF.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.util import _remove_sig
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from mockksef import crypto
from mockksef.errors import KsefError
from mockksef.models import PEPPOL_ID_RE, ContextIdentifier, SubjectIdentifier
from mockksef.xml import xsd

AUTH_NAMESPACE_V20 = "http://ksef.mf.gov.pl/auth/token/2.0"
AUTH_NAMESPACE_V21 = "http://ksef.mf.gov.pl/auth/token/2.1"
SCHEMA_FILES: dict[str, str] = {
    AUTH_NAMESPACE_V20: "auth/schemy/schemat_auth_v2-0.xsd",
    AUTH_NAMESPACE_V21: "auth/schemy/schemat_auth_v2-1.xsd",
}
DS = "http://www.w3.org/2000/09/xmldsig#"
_SIGNATURE = f"{{{DS}}}Signature"

# What KSeF accepts (docs auth/podpis-xades.md). SHA-224 and DSA are not listed.
_SIGNATURE_METHODS = frozenset(
    m for m in SignatureMethod if not m.name.startswith(("HMAC", "DSA")) and "224" not in m.name
)
_DIGEST_METHODS = frozenset(d for d in DigestAlgorithm if "224" not in d.name)
_XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
_XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_BASE64 = "http://www.w3.org/2000/09/xmldsig#base64"
_C14N = frozenset(m.value for m in CanonicalizationMethod)
_TRANSFORMS = _C14N | {_XPATH, _XPATH_FILTER2, _ENVELOPED, _BASE64}

_CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
_IP_LISTS = (("Ip4Address", "ip4Addresses"), ("Ip4Range", "ip4Ranges"), ("Ip4Mask", "ip4Masks"))

_DECLARED_ENCODING = re.compile(
    rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']"""
)
_PESEL_SERIAL = re.compile(r"(PNOPL|PESEL).*?(?P<identifier>\d{11})")
_NIP_SERIAL = re.compile(r"(TINPL|NIP).*?(?P<identifier>\d{10})")
_NIP_ORGANIZATION = re.compile(r"(VATPL).*?(?P<identifier>\d{10})")
# The .NET IPv4 fragment of the 2.0 schema and its XML Schema equivalent.
_NET_IPV4 = r"((25[0-5]|(2[0-4]|1\d|[1-9]|)\d)\.?\b){4}"
_XSD_IPV4 = r"((25[0-5]|(2[0-4]|1\d|[1-9]|)\d)\.){3}(25[0-5]|(2[0-4]|1\d|[1-9]|)\d)"


@dataclass(frozen=True)
class AuthTokenRequest:
    """The fields of a verified ``AuthTokenRequest`` and its signer."""

    namespace: str
    challenge: str
    context: ContextIdentifier
    subject_identifier_type: str
    # The JSON shape of AuthorizationPolicy ({"allowedIps": {...}}), None when absent.
    authorization_policy: dict[str, Any] | None
    certificate: x509.Certificate


# -- schemas -----------------------------------------------------------------------------


def _xsd_pattern(value: str) -> str:
    """Translate the .NET-only constructs of the official patterns (see module doc)."""
    value = value.replace(_NET_IPV4, _XSD_IPV4).replace("\\/", "/")
    if value.startswith("^"):
        value = value[1:]
    if value.endswith("$") and not value.endswith("\\$"):
        value = value[:-1]
    return value


@lru_cache(maxsize=8)
def _schema(path: str) -> etree.XMLSchema:
    def build() -> etree.XMLSchema:
        tree = etree.parse(path, xsd.safe_parser())
        for facet in tree.iter("{http://www.w3.org/2001/XMLSchema}pattern"):
            facet.set("value", _xsd_pattern(facet.get("value", "")))
        return etree.XMLSchema(tree)

    # Validations run in worker threads too: xsd.check keeps their error logs apart.
    return xsd.shared(build)


def schemas(official_dir: Path) -> dict[str, etree.XMLSchema]:
    """The compiled official AuthTokenRequest schemas by namespace (once per process)."""
    return {ns: _schema(str(Path(official_dir) / rel)) for ns, rel in SCHEMA_FILES.items()}


# -- parsing -----------------------------------------------------------------------------


def _parse(raw: bytes) -> etree._Element:
    if not raw.strip():
        raise KsefError(21001, "Treść żądania jest pusta.")
    utf16_or_32 = raw.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
    )
    if not utf16_or_32:
        match = _DECLARED_ENCODING.match(raw.removeprefix(codecs.BOM_UTF8))
        encoding = match.group(1).decode("ascii") if match else "utf-8"
        try:
            raw.decode(
                "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
            )
        except LookupError as exc:
            raise KsefError(21217, f"Nieobsługiwane kodowanie znaków '{encoding}'.") from exc
        except UnicodeDecodeError as exc:
            raise KsefError(21217, f"Treść nie jest poprawnie zakodowana ({encoding}).") from exc
    try:
        root = etree.fromstring(raw, xsd.safe_parser(remove_comments=False))
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "encoding" in message.lower():
            raise KsefError(21217, message[:300]) from exc
        raise KsefError(21001, message[:300]) from exc
    except ValueError as exc:
        raise KsefError(21001, str(exc)[:300]) from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Never expanded: a document with a DTD is not read at all.
        raise KsefError(21001, "Dokument zawiera deklarację DTD, która nie jest dozwolona.")
    if any(True for _ in root.iter(etree.Entity)):
        raise KsefError(21001, "Dokument zawiera odwołania do encji, które nie są dozwolone.")
    return root


def _namespace(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


def _locate_request(root: etree._Element) -> etree._Element:
    """The AuthTokenRequest: the root (enveloped) or inside ds:Object (enveloping)."""
    if etree.QName(root).localname == "AuthTokenRequest" and _namespace(root) in SCHEMA_FILES:
        return root
    if root.tag == _SIGNATURE:
        for ns in SCHEMA_FILES:
            found = root.find(f"{{{DS}}}Object/{{{ns}}}AuthTokenRequest")
            if found is not None:
                return found
    raise KsefError(9101, "Dokument nie jest dokumentem AuthTokenRequest.")


def _without_signatures(request: etree._Element) -> etree._Element:
    copy = etree.fromstring(etree.tostring(request))
    for child in list(copy):
        if child.tag == _SIGNATURE:
            _remove_sig(child)
    return copy


def _validate(request: etree._Element, schema: etree.XMLSchema) -> None:
    unsigned = _without_signatures(request)
    valid, found = xsd.check(unsigned, schema, 5)
    if not valid:
        details = [error.message for error in found] or ["Dokument nie jest zgodny ze schemą."]
        raise KsefError(21401, *details)


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _fields(request: etree._Element) -> tuple[str, ContextIdentifier, str, dict[str, Any] | None]:
    ns = _namespace(request)
    challenge = _text(request.find(f"{{{ns}}}Challenge"))
    context_node = request.find(f"{{{ns}}}ContextIdentifier")
    children = (
        [c for c in context_node if isinstance(c.tag, str)] if context_node is not None else []
    )
    if len(children) != 1 or etree.QName(children[0]).localname not in _CONTEXT_TYPES:
        raise KsefError(9101, "Nieprawidłowy identyfikator kontekstu.")
    context = ContextIdentifier(etree.QName(children[0]).localname, _text(children[0]))
    subject_type = _text(request.find(f"{{{ns}}}SubjectIdentifierType"))
    policy: dict[str, Any] | None = None
    allowed = request.find(f"{{{ns}}}AuthorizationPolicy/{{{ns}}}AllowedIps")
    if allowed is not None:
        ips: dict[str, list[str]] = {}
        for tag, key in _IP_LISTS:
            values = [_text(e) for e in allowed.findall(f"{{{ns}}}{tag}")]
            if values:
                ips[key] = values
        policy = {"allowedIps": ips}
    return challenge, context, subject_type, policy


# -- signature -----------------------------------------------------------------------------


def _is_signature_exclusion(transform: etree._Element) -> bool:
    """An XPath / XPath-Filter2 transform that only cuts the signature out."""
    algorithm = transform.get("Algorithm")
    for node in transform:
        if not isinstance(node.tag, str) or etree.QName(node).localname != "XPath":
            continue
        expression = re.sub(r"\s+", "", node.text or "")
        prefixes = [p for p, uri in (node.nsmap or {}).items() if uri == DS and p]
        for prefix in prefixes:
            if algorithm == _XPATH and expression == f"not(ancestor-or-self::{prefix}:Signature)":
                return True
            if (
                algorithm == _XPATH_FILTER2
                and node.get("Filter") == "subtract"
                and expression in (f"/descendant::{prefix}:Signature", f"//{prefix}:Signature")
            ):
                return True
    return False


def standalone(node: Any) -> Any:
    """A copy of an element as the root of its own document, with its namespace context.

    libxml2 2.14 renders a spurious ``xmlns=""`` on default-namespace descendants
    when the inclusive-C14N apex is not the document root, which breaks every
    signature whose ``Signature`` uses the default xmldsig namespace (the .NET
    ``SignedXml`` output of the official C# client). Canonicalising a standalone
    copy gives the correct octets for the same node-set.
    """
    if isinstance(node, etree._Element) and node.getparent() is not None:
        return etree.fromstring(
            etree.tostring(node, with_tail=False),
            xsd.safe_parser(),
        )
    return node


class _Verifier(XAdESVerifier):
    """signxml's XAdES verifier plus the signature-excluding XPath transforms KSeF allows."""

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> bytes:
        items = nodes if isinstance(nodes, list) else [nodes]
        return super()._c14n([standalone(n) for n in items], algorithm, inclusive_ns_prefixes)  # type: ignore[no-any-return]

    def _apply_transforms(self, payload: Any, *, transforms_node: Any, signature: Any) -> Any:
        if transforms_node is not None:
            for transform in transforms_node.findall(f"{{{DS}}}Transform"):
                if transform.get("Algorithm") in (_XPATH, _XPATH_FILTER2):
                    if not _is_signature_exclusion(transform):
                        raise SignXMLException("Nieobsługiwane przekształcenie XPath.")
                    _remove_sig(signature, idempotent=True)
        return super()._apply_transforms(
            payload, transforms_node=transforms_node, signature=signature
        )


def _signer_certificate(signature: etree._Element) -> x509.Certificate:
    nodes = signature.findall(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    if not nodes:
        raise KsefError(9105, "Podpis nie zawiera certyfikatu podpisującego (KeyInfo/X509Data).")
    certificates: list[x509.Certificate] = []
    for node in nodes:
        try:
            certificates.append(
                crypto.load_certificate(binascii.a2b_base64("".join((node.text or "").split())))
            )
        except (ValueError, binascii.Error) as exc:
            raise KsefError(21115, "Nie można odczytać certyfikatu podpisującego.") from exc
    if len(certificates) == 1:
        return certificates[0]
    # A chain: the signer is the one SigningCertificate names, else the first one.
    digests = [
        _text(d)
        for d in signature.iter("{http://www.w3.org/2000/09/xmldsig#}DigestValue")
        if d.getparent() is not None and etree.QName(d.getparent()).localname == "CertDigest"
    ]
    for cert in certificates:
        if crypto.cert_sha256_b64(cert) in digests:
            return cert
    return certificates[0]


def _check_algorithms(signature: etree._Element, certificate: x509.Certificate) -> None:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise KsefError(9105, "Klucz RSA musi mieć co najmniej 2048 bitów.")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.key_size < 256:
            raise KsefError(9105, "Klucz EC musi mieć co najmniej 256 bitów.")
    else:
        raise KsefError(9105, "Nieobsługiwany typ klucza podpisu.")
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    if signed_info is None:
        raise KsefError(9105, "Brak elementu SignedInfo.")
    c14n = signed_info.find(f"{{{DS}}}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in _C14N:
        raise KsefError(9105, "Nieobsługiwany algorytm kanonikalizacji.")
    for transform in signed_info.iter(f"{{{DS}}}Transform"):
        if transform.get("Algorithm") not in _TRANSFORMS:
            raise KsefError(9105, f"Niedozwolone przekształcenie {transform.get('Algorithm')}.")
    for reference in signed_info.findall(f"{{{DS}}}Reference"):
        uri = reference.get("URI")
        if uri is None or (uri != "" and not uri.startswith("#")):
            raise KsefError(9105, "Podpis zewnętrzny (detached) nie jest akceptowany.")


def _verify(
    root: etree._Element, signature: etree._Element, certificate: x509.Certificate
) -> list[Any]:
    config = XAdESSignatureConfiguration(
        location="./",
        expect_references=True,
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGEST_METHODS,
        # Validity is an asynchronous check (460 "Nieważny certyfikat"), not a 9105.
        verification_time=certificate.not_valid_before_utc,
    )
    try:
        results = _Verifier().verify(root, x509_cert=certificate, expect_config=config)
    except (
        SignXMLException,
        InvalidSignature,
        UnsupportedAlgorithm,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        etree.LxmlError,
        binascii.Error,
    ) as exc:
        raise KsefError(9105, str(exc)[:300] or "Weryfikacja podpisu nie powiodła się.") from exc
    return results


def _signed_request(results: list[Any]) -> etree._Element:
    """The AuthTokenRequest as covered by the signature ("see what is signed")."""
    for result in results:
        element = result.signed_xml
        if element is None:
            continue
        if (
            etree.QName(element).localname == "AuthTokenRequest"
            and _namespace(element) in SCHEMA_FILES
        ):
            return element
        for ns in SCHEMA_FILES:
            inner = element.find(f"{{{ns}}}AuthTokenRequest")
            if inner is not None:
                return inner
    raise KsefError(9105, "Podpis nie obejmuje dokumentu AuthTokenRequest.")


def read_signed_request(
    raw: bytes, schema_by_namespace: dict[str, etree.XMLSchema]
) -> AuthTokenRequest:
    """Parse, validate and verify a signed AuthTokenRequest (see the module doc for the codes)."""
    root = _parse(raw)
    request = _locate_request(root)
    namespace = _namespace(request)
    _validate(request, schema_by_namespace[namespace])
    signatures = list(root.iter(_SIGNATURE))
    if not signatures:
        raise KsefError(9102)
    if len(signatures) > 1:
        raise KsefError(9103)
    signature = signatures[0]
    certificate = _signer_certificate(signature)
    _check_algorithms(signature, certificate)
    results = _verify(root, signature, certificate)
    signed = _fields(_signed_request(results))
    if signed != _fields(request):
        raise KsefError(9105, "Podpisana treść różni się od treści dokumentu.")
    challenge, context, subject_type, policy = signed
    return AuthTokenRequest(namespace, challenge, context, subject_type, policy, certificate)


# -- certificate identity --------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateIdentity:
    """Who a certificate names (reference A §2.5, docs auth/podpis-xades.md)."""

    # From serialNumber (personal) or organizationIdentifier (seal); None if neither matches.
    subject: SubjectIdentifier | None
    # The certificate carries an identifier attribute that matches no pattern (-> 21115).
    malformed: bool
    seal: bool
    fingerprint: str
    # Extra `sud` claim members (GivenNames, Surname, SerialNumber, CommonName, ...).
    details: dict[str, Any]


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    out = []
    for attribute in name.get_attributes_for_oid(oid):
        value = attribute.value
        out.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return out


def certificate_identity(certificate: x509.Certificate) -> CertificateIdentity:
    """Subject identity of a signer certificate; raises 21115 when the subject is unreadable."""
    try:
        name = certificate.subject
        given = _values(name, NameOID.GIVEN_NAME)
        surname = _values(name, NameOID.SURNAME)
        serials = _values(name, NameOID.SERIAL_NUMBER)
        org_ids = _values(name, NameOID.ORGANIZATION_IDENTIFIER)
        details: dict[str, Any] = {}
        if given:
            details["GivenNames"] = given
        for key, oid in (
            ("Surname", NameOID.SURNAME),
            ("SerialNumber", NameOID.SERIAL_NUMBER),
            ("CommonName", NameOID.COMMON_NAME),
            ("CountryName", NameOID.COUNTRY_NAME),
            ("OrganizationName", NameOID.ORGANIZATION_NAME),
            ("OrganizationIdentifier", NameOID.ORGANIZATION_IDENTIFIER),
        ):
            values = _values(name, oid)
            if values:
                details[key] = values[0]
    except (ValueError, UnicodeError) as exc:
        raise KsefError(21115, "Nie można odczytać danych podmiotu certyfikatu.") from exc
    fingerprint = crypto.fingerprint(certificate)
    details["CertificateFingerprint"] = fingerprint
    seal = bool(org_ids) and not given and not surname
    subject: SubjectIdentifier | None = None
    if seal:
        match = _NIP_ORGANIZATION.search(org_ids[0])
        if match:
            subject = SubjectIdentifier("Nip", match.group("identifier"))
        elif PEPPOL_ID_RE.match(org_ids[0]):
            # A Peppol service provider's seal names its Peppol ID (csharp PeppolPefE2ETests
            # AutoRegisterProviderAsync: organizationIdentifier = CN = the Peppol ID).
            subject = SubjectIdentifier("PeppolId", org_ids[0])
        present = True
    else:
        present = bool(serials)
        for serial in serials:
            pesel = _PESEL_SERIAL.search(serial)
            nip = _NIP_SERIAL.search(serial)
            if pesel:
                subject = SubjectIdentifier("Pesel", pesel.group("identifier"))
                break
            if nip:
                subject = SubjectIdentifier("Nip", nip.group("identifier"))
                break
    return CertificateIdentity(subject, present and subject is None, seal, fingerprint, details)
