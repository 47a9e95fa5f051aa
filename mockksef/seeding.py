"""Seeding: put subjects, persons, permissions, tokens, certificates and invoices into an environment.

Pure Python on an ``EnvironmentState``; no HTTP. Used by the scenario engine for
a scenario's ``setup:`` (through ``SETUP_KINDS``, see
``scenarios/README.md``), by tests and by benchmarks. Every fact goes
through the environment's own backends, so what is seeded behaves exactly like
what the API would have created:

* entities (VAT groups, local-government units, enforcement authorities) and
  persons (NIP–PESEL link, bailiff, deceased) -> ``env.testdata`` / ``env.subjects``;
* permissions -> ``env.permissions.grant_system`` (a ZAW-FA filing, effective at once);
* KSeF tokens -> ``env.tokens.register``; the token string may be fixed in
  advance (``{referenceNumber}|nip-{nip}|{64 hex}``) so that a connector can be
  configured with it before the mock starts;
* certificates -> the environment's mock KSeF CA (``env.certificates``), with the
  PEM certificate and private key handed back; or a self-signed one;
* invoices -> ``env.invoices.bulk_store`` with FA(3) documents from
  ``mockksef.invoicegen`` (any volume; 1M rows load in seconds, see
  ``bench/seed_scale.py``).

Handlers of ``SETUP_KINDS`` take ``(env, item, rng)``: ``item`` is the YAML
mapping as written, ``rng`` the scenario's seeded random source; they return a
JSON-able summary and raise ``ValueError`` for data they refuse. The same
operations have keyword-argument twins (``add_subject``, ``add_token``…) for
Python callers.

Everything drawn here comes from ``rng`` (or the environment's own source when
none is given): same seed, same data. Certificates' EC keys are derived from it
too (same key pair on every run); the certificates themselves are not
byte-identical across runs, because ECDSA signatures (and the environment's
mock CA key) are random by nature.

The ``setup:`` keys, per kind (every item may also say ``environment: demo`` or
a list, to apply only in those of the scenario's environments):

* ``subjects``: ``nip``, ``name``, ``type`` (``company`` | ``vat_group`` |
  ``jst`` | ``enforcement_authority``), ``description``, ``subunits`` (NIPs),
  ``attachments`` (consent to invoices with attachments);
* ``persons``: ``nip``, ``pesel`` (drawn when absent), ``name``,
  ``description``, ``bailiff``, ``deceased``;
* ``vat_groups``: ``nip``, ``members`` (NIPs), ``name``;
* ``permissions``: ``context`` (NIP), ``grantee`` (``{nip|pesel|fingerprint: …}``),
  ``permissions`` (TestDataPermissionType values), ``description``;
* ``certificates``: ``owner`` (``{nip: …}`` = company seal, ``{pesel: …}`` =
  person), ``id``, ``context`` (reported back), ``name``, ``type``,
  ``valid_from``, ``valid_to``, ``revoked``, ``self_signed``, ``csr`` (a PEM
  request: the CA signs the caller's key, no private key is made), ``cert_file`` /
  ``key_file`` (PEM files written relative to the working directory); the
  report carries ``certificate`` and ``privateKey`` PEMs, ``serialNumber``,
  ``fingerprint``;
* ``tokens``: ``context`` (NIP), ``permissions``, ``id``, ``owner`` (the
  author, default the context NIP), ``value`` (a fixed token string; see
  ``make_token``), ``description``, ``status`` (``active`` | ``pending`` |
  ``revoked`` | ``failed``), ``created``, ``valid_from``;
* ``invoices``: ``count``, ``seller``/``sellers``, ``buyer``/``buyers`` (a NIP,
  a list of NIPs or a pool size), ``context``, ``from``, ``to`` (a bare date is
  included whole), ``seed``, ``locale``, ``form`` (``FA(3)``), ``generator``
  (``sales_share``, ``consumer_share``, ``backdated_share``,
  ``storage_seconds``). See ``add_invoices``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mockksef import crypto, progress
from mockksef.clock import format_datetime, parse_datetime
from mockksef.errors import KsefError
from mockksef.ids import RandomSource, with_checksum
from mockksef.invoicegen import InvoiceGenerator, Party
from mockksef.models import (
    NIP_RE,
    PESEL_RE,
    ContextIdentifier,
    SubjectIdentifier,
    nip_checksum_ok,
    pesel_checksum_ok,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

__all__ = [
    "SETUP_KINDS",
    "SETUP_ORDER",
    "InvoiceBatch",
    "SeededCertificate",
    "SeededToken",
    "add_certificate",
    "add_invoices",
    "add_person",
    "add_subject",
    "add_token",
    "add_vat_group",
    "apply_setup",
    "grant",
    "make_token",
    "random_pesel",
]

# /testdata/permissions permission types (TestDataPermissionType in the official spec).
GRANTABLE = (
    "InvoiceRead",
    "InvoiceWrite",
    "Introspection",
    "CredentialsRead",
    "CredentialsManage",
    "EnforcementOperations",
    "SubunitManage",
    "CollectiveIdentifierManage",
)
_SUBJECT_TYPES = {
    "enforcement_authority": "EnforcementAuthority",
    "jst": "JST",
    "vat_group": "VatGroup",
}
_IDENTIFIER_TYPES = {"nip": "Nip", "pesel": "Pesel", "fingerprint": "Fingerprint"}
# Years a mock-CA certificate is valid (as the enrollment path issues them).
_CA_YEARS = 2
_SECP256R1_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# -- small helpers ------------------------------------------------------------------------------


def _rng(env: EnvironmentState, rng: RandomSource | None, stream: str) -> RandomSource:
    """A fresh stream for one seeded item, drawn from ``rng`` (or the environment's source).

    The draw advances the parent, so two items of the same kind get different
    streams, and the same sequence of items gets the same streams on every run.
    """
    parent = rng if rng is not None else env.rng
    return parent.child(f"seeding/{stream}/{parent.hex(12)}")


def _nip(value: Any, what: str = "nip") -> str:
    text = str(value)
    if not NIP_RE.match(text) or not nip_checksum_ok(text):
        raise ValueError(f"{what}: {text!r} is not a valid NIP (10 digits with a checksum)")
    return text


def _when(value: Any, what: str, *, end_of_day: bool = False) -> datetime:
    """A YAML/ISO value as an aware datetime (no zone = UTC; a bare date = its start or end)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        moment = datetime.combine(value, time(0), UTC)
        return moment + timedelta(days=1) if end_of_day else moment
    text = str(value).strip()
    try:
        if len(text) == 10:
            return _when(date.fromisoformat(text), what, end_of_day=end_of_day)
        return parse_datetime(text.replace(" ", "T", 1))
    except ValueError as exc:
        raise ValueError(f"{what}: {text!r} is not an ISO 8601 date or date-time") from exc


def _identifier(value: Any, what: str) -> SubjectIdentifier:
    """``{nip: ...}`` / ``{pesel: ...}`` / ``{fingerprint: ...}`` (or a bare NIP string)."""
    if isinstance(value, SubjectIdentifier):
        return value
    if isinstance(value, str):
        return SubjectIdentifier("Nip", _nip(value, what))
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValueError(f"{what}: give exactly one of nip, pesel, fingerprint")
    ((key, raw),) = value.items()
    kind = _IDENTIFIER_TYPES.get(str(key).lower())
    if kind is None:
        raise ValueError(f"{what}: unknown identifier type {key!r}")
    text = str(raw)
    if kind == "Nip":
        _nip(text, what)
    elif kind == "Pesel" and not (PESEL_RE.match(text) and pesel_checksum_ok(text)):
        raise ValueError(f"{what}: {text!r} is not a valid PESEL")
    elif kind == "Fingerprint":
        text = text.upper()
    return SubjectIdentifier(kind, text)


def _ksef_call(action: Callable[[], Any]) -> Any:
    """Run a backend call; a KSeF refusal becomes the ValueError seeding reports."""
    try:
        return action()
    except KsefError as error:
        raise ValueError(str(error)) from error


def random_pesel(rng: RandomSource, born: date | None = None) -> str:
    """A valid PESEL (checksum, month coded for the century) born on ``born`` or a drawn day."""
    if born is None:
        born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 50))
    month = born.month + {18: 80, 19: 0, 20: 20, 21: 40, 22: 60}[born.year // 100]
    digits = f"{born.year % 100:02d}{month:02d}{born.day:02d}{rng.randint(0, 9999):04d}"
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    check = (10 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10) % 10
    return digits + str(check)


def make_token(nip: str, rng: RandomSource | int | str = 0, *, day: str = "20260301") -> str:
    """A well-formed KSeF token string for ``nip`` (fixed values for scenario files).

    The reference number (``{day}-EC-…``) carries its CRC-8, the secret is 64
    lowercase hex digits; both are drawn from ``rng``.
    """
    source = rng if isinstance(rng, RandomSource) else RandomSource(rng, f"token/{nip}")
    reference = with_checksum(f"{day}-EC-{source.hex(10)}-{source.hex(10)}")
    return f"{reference}|nip-{_nip(nip)}|{source.hex(64, upper=False)}"


# -- subjects, persons, VAT groups, permissions ------------------------------------------------------


def add_subject(
    env: EnvironmentState,
    nip: str,
    *,
    type: str = "company",
    name: str | None = None,
    description: str | None = None,
    subunits: Iterable[str] = (),
    attachments: bool | None = None,
) -> dict[str, Any]:
    """A subject: a plain company (its name is used on generated invoices) or an entity.

    ``type`` is ``company``, ``vat_group``, ``jst`` or ``enforcement_authority``;
    the last three are registered as ``POST /testdata/subject`` does (subunits
    for ``vat_group``/``jst``). ``attachments`` grants (true) or withholds the
    consent to send invoices with attachments.
    """
    nip = _nip(nip)
    units = [_nip(s, "subunits") for s in subunits]
    if name:
        env.subjects.set_name(nip, name)
    out: dict[str, Any] = {"nip": nip, "type": type}
    if type != "company":
        subject_type = _SUBJECT_TYPES.get(type)
        if subject_type is None:
            raise ValueError(f"type: unknown subject type {type!r}")
        text = description or name or f"Podmiot {nip}"
        body = {
            "subjectNip": nip,
            "subjectType": subject_type,
            "description": text,
            "subunits": [
                {"subjectNip": s, "description": f"Jednostka podrzędna {s}"} for s in units
            ],
        }
        entity = _ksef_call(lambda: env.testdata.create_subject(body, env.clock.now()))
        out["role"] = entity.role
        if units:
            out["subunits"] = units
    elif units:
        raise ValueError("subunits: only a vat_group or a jst has subunits")
    if attachments is True:
        env.testdata.allow_attachments(nip)
    elif attachments is False:
        env.testdata.withhold_attachments(nip)
    if attachments is not None:
        out["attachments"] = attachments
    return out


def add_vat_group(
    env: EnvironmentState, nip: str, members: Sequence[str], *, name: str | None = None
) -> dict[str, Any]:
    """A VAT group (``VatGroupUnit``) and its members (``VatGroupSubUnit``)."""
    if not members:
        raise ValueError("members: a VAT group needs at least one member")
    return add_subject(env, nip, type="vat_group", name=name, subunits=members)


def add_person(
    env: EnvironmentState,
    nip: str,
    pesel: str | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    bailiff: bool = False,
    deceased: bool = False,
    rng: RandomSource | None = None,
) -> dict[str, Any]:
    """A natural person with a NIP–PESEL link (a valid PESEL is drawn when none is given)."""
    nip = _nip(nip)
    if pesel is None:
        pesel = random_pesel(_rng(env, rng, f"person/{nip}"))
    elif not (PESEL_RE.match(pesel) and pesel_checksum_ok(pesel)):
        raise ValueError(f"pesel: {pesel!r} is not a valid PESEL")
    body = {
        "nip": nip,
        "pesel": pesel,
        "description": description or name or f"Osoba fizyczna {nip}",
        "isBailiff": bool(bailiff),
        "isDeceased": bool(deceased),
    }
    _ksef_call(lambda: env.testdata.create_person(body, env.clock.now()))
    if name:
        env.subjects.set_name(nip, name)
    return {"nip": nip, "pesel": pesel, "bailiff": bool(bailiff), "deceased": bool(deceased)}


def grant(
    env: EnvironmentState,
    context: str,
    grantee: SubjectIdentifier | Mapping[str, str] | str,
    permissions: Sequence[str],
    *,
    description: str | None = None,
) -> dict[str, Any]:
    """Permissions in a NIP context, granted as a ZAW-FA filing (author ``System``, at once)."""
    context = _nip(context, "context")
    subject = _identifier(grantee, "grantee")
    unknown = [p for p in permissions if p not in GRANTABLE]
    if unknown or not permissions:
        raise ValueError(
            f"permissions: {', '.join(unknown) or '(none)'} not grantable; use {', '.join(GRANTABLE)}"
        )
    text = description or "Uprawnienie nadane w scenariuszu"
    env.permissions.grant_system(
        ContextIdentifier("Nip", context),
        subject,
        [(p, text) for p in dict.fromkeys(permissions)],
        env.clock.now(),
    )
    return {"context": context, "grantee": subject.as_json(), "permissions": list(permissions)}


# -- KSeF tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeededToken:
    reference_number: str
    token: str
    status: str

    def as_json(self) -> dict[str, str]:
        return {
            "referenceNumber": self.reference_number,
            "token": self.token,
            "status": self.status,
        }


def add_token(
    env: EnvironmentState,
    context: str,
    permissions: Sequence[str],
    *,
    value: str | None = None,
    owner: SubjectIdentifier | Mapping[str, str] | str | None = None,
    description: str | None = None,
    status: str = "active",
    created: Any = None,
    valid_from: Any = None,
) -> SeededToken:
    """A KSeF token in a NIP context, optionally with a fixed ``value``.

    ``owner`` (default: the context NIP itself, i.e. the owner) is the token's
    author: KSeF lets a token act only with the permissions its author still
    holds, so an owner other than the context needs a grant (see ``grant``).
    ``status``: ``active`` (default), ``pending`` (never activates unless
    ``valid_from`` says when), ``revoked`` or ``failed``. ``created`` backdates
    it; ``valid_from`` keeps it ``Pending`` ("Token nieaktywny") until then.
    """
    context = _nip(context, "context")
    author = _identifier(owner, "owner") if owner is not None else SubjectIdentifier("Nip", context)
    now = env.clock.now()
    created_at = _when(created, "created") if created is not None else now
    active_from = _when(valid_from, "valid_from") if valid_from is not None else created_at
    status = status.lower()
    if status == "pending" and valid_from is None:
        active_from = datetime.max.replace(tzinfo=UTC)
    elif status not in ("active", "pending", "revoked", "failed"):
        raise ValueError(f"status: unknown token status {status!r}")
    result = env.tokens.register(
        ContextIdentifier("Nip", context),
        author,
        list(permissions),
        now,
        token=value,
        description=description or "Token KSeF ze scenariusza",
        created=created_at,
        active_from=active_from,
        revoked_at=created_at if status == "revoked" else None,
    )
    if status == "failed":
        env.tokens.fail(result["referenceNumber"], ["Nie udało się aktywować tokena."])
    current = env.tokens.get_token(result["referenceNumber"])
    assert current is not None
    return SeededToken(result["referenceNumber"], result["token"], current.status)


# -- certificates ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeededCertificate:
    certificate: x509.Certificate
    # None when the caller sent a CSR: the key never left the caller.
    private_key: ec.EllipticCurvePrivateKey | None
    serial_number: str | None  # None for a self-signed certificate (not in the registry)
    owner: SubjectIdentifier
    valid_from: datetime
    valid_to: datetime

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def private_key_pem(self) -> bytes | None:
        if self.private_key is None:
            return None
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> str:
        return crypto.fingerprint(self.certificate)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "owner": self.owner.as_json(),
            "fingerprint": self.fingerprint,
            "validFrom": format_datetime(self.valid_from),
            "validTo": format_datetime(self.valid_to),
            "certificate": self.certificate_pem.decode("ascii"),
        }
        if self.private_key_pem is not None:
            out["privateKey"] = self.private_key_pem.decode("ascii")
        if self.serial_number:
            out["serialNumber"] = self.serial_number
        return out


def _subject_name(owner: SubjectIdentifier, common_name: str) -> x509.Name:
    """The DN a KSeF certificate of this owner carries (seal for a NIP, person for a PESEL)."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if owner.type == "Nip":
        attributes += [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{owner.value}"),
        ]
    elif owner.type == "Pesel":
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOPL-{owner.value}"))
    attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"))
    return x509.Name(attributes)


def add_certificate(
    env: EnvironmentState,
    owner: SubjectIdentifier | Mapping[str, str] | str,
    *,
    name: str | None = None,
    type: str = "Authentication",
    valid_from: Any = None,
    valid_to: Any = None,
    revoked: bool = False,
    self_signed: bool = False,
    rng: RandomSource | None = None,
    csr: x509.CertificateSigningRequest | bytes | str | None = None,
) -> SeededCertificate:
    """A certificate and its EC P-256 key for ``owner`` (a NIP: company seal; a PESEL: person).

    By default the environment's mock KSeF CA issues it (``InternalCertificate``
    logins), valid two years from ``valid_from`` (default: now). With only
    ``valid_to`` the certificate is dated so that it ends then (an expired one
    when that is past); with both, the registry ends it at ``valid_to`` as
    ``PUT /testdata/certificates`` would, while the DER keeps its two years.
    ``revoked`` revokes it at once. ``self_signed`` makes a certificate outside
    the CA instead (accepted by TEST as a qualified one, refused elsewhere).
    The key is derived from the seeded source: the same seed gives the same key
    (the signature over the certificate is not reproducible, see the module doc).
    With ``csr`` (PEM or DER, or the object) the CA signs the caller's key and
    subject instead, and no private key is made (``mockksef cert --env demo``).
    """
    subject = _identifier(owner, "owner")
    if subject.type == "Fingerprint":
        raise ValueError("owner: a certificate cannot be made to match a given fingerprint")
    now = env.clock.now()
    start = _when(valid_from, "valid_from") if valid_from is not None else None
    end = _when(valid_to, "valid_to") if valid_to is not None else None
    if start is not None and end is not None and end <= start:
        raise ValueError("valid_to must be later than valid_from")
    if csr is not None:
        if self_signed:
            raise ValueError("csr: the mock CA signs a CSR; self_signed makes no use of one")
        return _certificate_for_request(
            env, subject, _request(csr), name, type, start, end, revoked
        )
    source = _rng(env, rng, f"certificate/{subject.value}")
    key = ec.derive_private_key(
        int.from_bytes(source.bytes(32), "big") % (_SECP256R1_ORDER - 1) + 1, ec.SECP256R1()
    )
    dn = _subject_name(subject, name or subject.value)
    if self_signed:
        start = start or now - timedelta(days=1)
        end = end or start + timedelta(days=365 * _CA_YEARS)
        serial = int(source.hex(16), 16) or 1
        cert = crypto.issue_certificate(dn, key.public_key(), dn, key, start, end, serial, ca=None)
        return SeededCertificate(cert, key, None, subject, start, end)
    request = x509.CertificateSigningRequestBuilder().subject_name(dn).sign(key, hashes.SHA256())
    seeded = _certificate_for_request(env, subject, request, name, type, start, end, revoked)
    return replace(seeded, private_key=key)


def _request(csr: x509.CertificateSigningRequest | bytes | str) -> x509.CertificateSigningRequest:
    if isinstance(csr, x509.CertificateSigningRequest):
        request = csr
    else:
        data = csr.encode("ascii") if isinstance(csr, str) else csr
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                request = x509.load_pem_x509_csr(data)
            else:
                request = x509.load_der_x509_csr(data)
        except ValueError as exc:
            raise ValueError(f"csr: not a PEM or DER certificate request ({exc})") from None
    if not request.is_signature_valid:
        raise ValueError("csr: its signature does not verify with its own public key")
    return request


def _certificate_for_request(
    env: EnvironmentState,
    subject: SubjectIdentifier,
    request: x509.CertificateSigningRequest,
    name: str | None,
    type: str,
    start: datetime | None,
    end: datetime | None,
    revoked: bool,
) -> SeededCertificate:
    """The environment's mock CA signs ``request`` for ``subject`` (no private key here)."""
    now = env.clock.now()
    if start is None:
        start = _years_before(end, _CA_YEARS) if end is not None else now
    record = env.certificates.import_certificate(
        subject,
        request,
        name=name or f"Certyfikat {subject.value}",
        certificate_type=type,
        valid_from=start,
        valid_to=end,
        revoked_at=now if revoked else None,
    )
    return SeededCertificate(
        record.certificate, None, record.serial_number, subject, record.valid_from, record.valid_to
    )


def _years_before(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year - years)
    except ValueError:  # 29 February
        return when.replace(year=when.year - years, day=28)


# -- invoices ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceBatch:
    count: int
    sellers: tuple[str, ...]
    buyers: tuple[str, ...]
    start: datetime
    end: datetime
    first: str | None
    last: str | None
    generator: InvoiceGenerator

    def as_json(self) -> dict[str, Any]:
        def some(nips: tuple[str, ...]) -> list[str] | int:
            return list(nips) if len(nips) <= 10 else len(nips)

        out: dict[str, Any] = {
            "count": self.count,
            "sellers": some(self.sellers),
            "buyers": some(self.buyers),
            "from": format_datetime(self.start),
            "to": format_datetime(self.end),
        }
        if self.first:
            out["firstKsefNumber"] = self.first
            out["lastKsefNumber"] = self.last
        return out


def _pool(
    generator: InvoiceGenerator,
    env: EnvironmentState,
    spec: int | str | Sequence[str] | None,
    default: int,
    what: str,
) -> list[Party]:
    if spec is None:
        spec = default
    if isinstance(spec, bool):
        raise ValueError(f"{what}: give a NIP, a list of NIPs or a pool size")
    if isinstance(spec, int):
        if spec < 1:
            raise ValueError(f"{what}: a pool needs at least one party")
        parties = [generator.party() for _ in range(spec)]
    else:
        nips = [spec] if isinstance(spec, str) else list(spec)
        parties = [generator.party(_nip(n, what), env.subjects.name_of(str(n))) for n in nips]
    for party in parties:
        env.subjects.set_name(party.nip, party.name, replace=False)
    return parties


def add_invoices(
    env: EnvironmentState,
    count: int,
    *,
    seller: str | None = None,
    buyer: str | None = None,
    sellers: int | Sequence[str] | None = None,
    buyers: int | Sequence[str] | None = None,
    context: str | None = None,
    start: Any = None,
    end: Any = None,
    seed: int | str | None = None,
    locale: str = "pl_PL",
    sales_share: float = 0.5,
    consumer_share: float = 0.0,
    backdated_share: float = 0.2,
    storage_seconds: tuple[float, float] = (1.0, 4.0),
    rng: RandomSource | None = None,
) -> InvoiceBatch:
    """``count`` accepted FA(3) invoices, filed with ``bulk_store`` (KSeF numbers, HWM rules).

    Parties: ``seller``/``buyer`` fix one NIP each; ``sellers``/``buyers`` give
    a list of NIPs or the size of a generated pool (defaults: 20 sellers, 200
    buyers). ``context`` puts one NIP on every invoice: seller of
    ``sales_share`` of them, buyer of the rest (what a connector of that NIP
    imports). Invoices are spread in time order over [``start``, ``end``)
    (default: the 30 days up to now); parts of the range after now become
    visible as the clock reaches them, so a dataset can grow while a client
    polls. Deterministic for ``seed`` (default: drawn from ``rng``).
    """
    given: object = count  # from YAML: may be anything
    if isinstance(given, bool) or not isinstance(given, int) or given < 0:
        raise ValueError("count: a non-negative integer")
    now = env.clock.now()
    end_at = _when(end, "to", end_of_day=True) if end is not None else now
    start_at = _when(start, "from") if start is not None else end_at - timedelta(days=30)
    if end_at < start_at:
        raise ValueError("to: the range ends before it starts")
    if not 0.0 <= sales_share <= 1.0 or not 0.0 <= consumer_share <= 1.0:
        raise ValueError("generator: shares are fractions between 0 and 1")
    if seed is not None:
        source = RandomSource(seed, "seeding/invoices")
    else:
        source = _rng(env, rng, "invoices")
    generator = InvoiceGenerator(source, locale=locale)

    def first_number(nip: str) -> int:
        return env.invoices.issued_by(nip) + 1

    def taken(number: str) -> bool:
        return env.invoices.get(number) is not None

    if seller is not None and sellers is not None or buyer is not None and buyers is not None:
        raise ValueError("give either seller or sellers, and either buyer or buyers")
    if context is not None:
        if seller is not None or buyer is not None:
            raise ValueError("context: give either context or seller/buyer")
        me = _pool(generator, env, [_nip(context, "context")], 1, "context")
        others_sellers = _pool(generator, env, sellers, 20, "sellers")
        others_buyers = _pool(generator, env, buyers, 200, "buyers")
        sales = round(count * sales_share)
        plans = [(sales, me, others_buyers), (count - sales, others_sellers, me)]
    else:
        seller_pool = _pool(generator, env, seller if seller is not None else sellers, 20, "seller")
        buyer_pool = _pool(generator, env, buyer if buyer is not None else buyers, 200, "buyer")
        plans = [(count, seller_pool, buyer_pool)]
    if any(not b and n for n, _, b in plans):
        raise ValueError("buyers: no buyers")
    low, high = (float(v) for v in storage_seconds)
    rows: list[Any] = []
    mine: list[Any] = []
    for n, seller_pool, buyer_pool in plans:
        generated = generator.stored_invoices(
            n,
            sellers=seller_pool,
            buyers=buyer_pool,
            start=start_at,
            end=end_at,
            first_number=first_number,
            taken=taken,
            consumer_share=consumer_share,
            backdated_share=backdated_share,
            storage_seconds=(low, max(low, high)),
        )
        rows.extend(progress.counted(generated, n))
        # The next plan must not reuse this one's numbers or KSeF numbers before they are stored.
        if len(plans) > 1:
            env.invoices.bulk_store(rows)
            mine += rows
            rows = []
    if rows:
        env.invoices.bulk_store(rows)
        mine += rows
    stored_sellers = tuple(dict.fromkeys(p.nip for _, s, _ in plans for p in s))
    stored_buyers = tuple(dict.fromkeys(p.nip for _, _, b in plans for p in b))
    first = last = None
    if mine:
        first = min(mine, key=lambda r: r.invoicing_date).ksef_number
        last = max(mine, key=lambda r: r.invoicing_date).ksef_number
    return InvoiceBatch(
        count, stored_sellers, stored_buyers, start_at, end_at, first, last, generator
    )


# -- the scenario setup handlers ------------------------------------------------------------------------------


def _setup_subject(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
    return add_subject(
        env,
        item["nip"],
        type=item.get("type", "company"),
        name=item.get("name"),
        description=item.get("description"),
        subunits=item.get("subunits") or (),
        attachments=item.get("attachments"),
    )


def _setup_person(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
    return add_person(
        env,
        item["nip"],
        item.get("pesel"),
        name=item.get("name"),
        description=item.get("description"),
        bailiff=bool(item.get("bailiff", False)),
        deceased=bool(item.get("deceased", False)),
        rng=rng,
    )


def _setup_vat_group(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
    return add_vat_group(env, item["nip"], item["members"], name=item.get("name"))


def _setup_permission(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
    return grant(
        env,
        item["context"],
        item["grantee"],
        item["permissions"],
        description=item.get("description"),
    )


def _setup_certificate(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
    seeded = add_certificate(
        env,
        item["owner"],
        name=item.get("name"),
        type=item.get("type", "Authentication"),
        valid_from=item.get("valid_from"),
        valid_to=item.get("valid_to"),
        revoked=bool(item.get("revoked", False)),
        self_signed=bool(item.get("self_signed", False)),
        rng=rng,
        csr=item.get("csr"),
    )
    out: dict[str, Any] = {}
    if item.get("id"):
        out["id"] = item["id"]
    if item.get("context"):
        out["context"] = _nip(item["context"], "context")
    out.update(seeded.as_json())
    for key, data in (("cert_file", seeded.certificate_pem), ("key_file", seeded.private_key_pem)):
        if item.get(key) and data is not None:
            path = Path(str(item[key]))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            out[key] = str(path)
    return out


def _setup_token(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
    seeded = add_token(
        env,
        item["context"],
        item["permissions"],
        value=item.get("value"),
        owner=item.get("owner"),
        description=item.get("description"),
        status=item.get("status", "active"),
        created=item.get("created"),
        valid_from=item.get("valid_from"),
    )
    out: dict[str, Any] = {"id": item["id"]} if item.get("id") else {}
    out["context"] = item["context"]
    out.update(seeded.as_json())
    return out


def _setup_invoices(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
    form = str(item.get("form", "FA(3)")).replace(" ", "")
    if form != "FA(3)":
        raise ValueError(f"form: only FA(3) invoices are generated, not {form}")
    options = dict(item.get("generator") or {})
    storage = options.pop("storage_seconds", (1.0, 4.0))
    if isinstance(storage, int | float):
        storage = (float(storage), float(storage))
    known = {"sales_share", "consumer_share", "backdated_share"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"generator: unknown option(s) {', '.join(sorted(unknown))}")
    batch = add_invoices(
        env,
        item["count"],
        seller=item.get("seller"),
        buyer=item.get("buyer"),
        sellers=item.get("sellers"),
        buyers=item.get("buyers"),
        context=item.get("context"),
        start=item.get("from"),
        end=item.get("to"),
        seed=item.get("seed"),
        locale=item.get("locale", "pl_PL"),
        storage_seconds=tuple(storage),
        rng=rng,
        **{k: float(v) for k, v in options.items()},
    )
    return batch.as_json()


def _only_in(
    handler: Callable[[EnvironmentState, Mapping[str, Any], RandomSource], Any],
) -> Callable[[EnvironmentState, Mapping[str, Any], RandomSource], Any]:
    """Skip an item whose ``environment`` does not name this environment."""

    def run(env: EnvironmentState, item: Mapping[str, Any], rng: RandomSource) -> Any:
        wanted = item.get("environment")
        if wanted is not None:
            names = [wanted] if isinstance(wanted, str) else list(wanted)
            if env.env.value not in [str(n).lower() for n in names]:
                return {"skipped": f"not for {env.env.value}"}
        return handler(env, item, rng)

    run.__doc__ = handler.__doc__
    return run


# In the engine's order (SETUP_ORDER): the entries a later kind refers to come first.
SETUP_KINDS: dict[str, Callable[[EnvironmentState, Mapping[str, Any], RandomSource], Any]] = {
    "subjects": _only_in(_setup_subject),
    "persons": _only_in(_setup_person),
    "vat_groups": _only_in(_setup_vat_group),
    "permissions": _only_in(_setup_permission),
    "certificates": _only_in(_setup_certificate),
    "tokens": _only_in(_setup_token),
    "invoices": _only_in(_setup_invoices),
}
SETUP_ORDER = tuple(SETUP_KINDS)


def apply_setup(
    env: EnvironmentState, setup: Mapping[str, Sequence[Mapping[str, Any]]], rng: RandomSource
) -> dict[str, list[Any]]:
    """Apply a whole ``setup:`` mapping in the engine's order; returns the handlers' results.

    Gives the same data as the engine for the same ``rng`` (one source shared by
    all items, in order). Errors name the item (``/setup/tokens/0: ...``).
    """
    unknown = set(setup) - set(SETUP_KINDS)
    if unknown:
        raise ValueError(f"/setup: unknown kind(s) {', '.join(sorted(unknown))}")
    report: dict[str, list[Any]] = {}
    for kind in SETUP_ORDER:
        for index, item in enumerate(setup.get(kind) or ()):
            try:
                result = SETUP_KINDS[kind](env, item, rng)
            except ValueError as exc:
                raise ValueError(f"/setup/{kind}/{index}: {exc}") from exc
            report.setdefault(kind, []).append(result)
    return report
