"""The one test kit: the KSeF protocol step by step, over any httpx-like client.

The bundled client (``ksefclient``) hides the steps a test of the mock must
see: each status code, the operation token, an answer KSeF gives only to a
request no client would send (a missing key id, a stale challenge, a foreign
seller). Tests of the mock drive the protocol through this kit; tests of the
client use ``ksefclient`` itself. The kit builds on the client's public pieces:
``ksefclient.xades`` signs and makes test certificates,
:class:`ksefclient.SymmetricKey` encrypts, and ``ksefcontract.wire`` (shared
with the contract harness) fills the official sample invoices and builds the
request bodies.

It works over Starlette's ``TestClient`` and over an ``httpx.Client`` on a
socket alike. The authentication flows check their own requests against the
official spec (``ksefcontract.client_hook``).
"""

from __future__ import annotations

import functools
import io
import os
import random
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ksefclient import FA2 as _FA2
from ksefclient import FA3 as _FA3
from ksefclient import FA_RR as _FA_RR
from ksefclient import PEF3, PublicKeyCertificate, SymmetricKey
from ksefclient.xades import (
    SigningCredentials,
    auth_token_request,
    personal_certificate,
    seal_certificate,
    sign_auth_token_request,
)
from ksefcontract import wire
from ksefcontract.client_hook import validating
from mockksef import crypto, official
from mockksef.clock import parse_datetime
from mockksef.models import nip_checksum_ok

FA3 = _FA3.to_json()
FA2 = _FA2.to_json()
FA_RR = _FA_RR.to_json()
PEF = PEF3.to_json()
START_DAY = date(2026, 3, 2)
XML = {"Content-Type": "application/xml"}
sha = wire.sha256_b64


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def random_nip(seed: int) -> str:
    """A checksum-valid NIP, the same for the same seed (TEST data are shared: vary it)."""
    rng = random.Random(seed)
    while True:
        nip = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(9))
        if nip_checksum_ok(nip) and nip[1:3] != "00":
            return nip


# -- certificates --------------------------------------------------------------------------


@functools.cache
def person(
    nip: str | None = None,
    *,
    pesel: str | None = None,
    serial: str | None = None,
    not_before: datetime,
) -> SigningCredentials:
    """A self-signed personal certificate, made once per identity (RSA keys are slow to make)."""
    return personal_certificate(nip=nip, pesel=pesel, serial_number=serial, not_before=not_before)


@functools.cache
def seal(nip: str, *, not_before: datetime) -> SigningCredentials:
    """A self-signed company seal (``organizationIdentifier`` ``VATPL-{nip}``), made once."""
    return seal_certificate(nip=nip, not_before=not_before)


def self_signed(
    subject: dict[x509.ObjectIdentifier, str],
    not_before: datetime,
    key: rsa.RSAPrivateKey | None = None,
    days: int = 365,
) -> SigningCredentials:
    """A self-signed certificate with exactly ``subject`` (``ksefclient.xades`` always adds
    the identifiers KSeF reads, so certificates without them come from the mock's builder)."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject.items()])
    serial = x509.random_serial_number()
    return SigningCredentials(crypto.self_signed(key, name, not_before, days, serial), key)


# -- authentication --------------------------------------------------------------------------


def _validated(flow: Callable[..., Any]) -> Callable[..., Any]:
    """Every request the flow sends is checked against the official spec first
    (``ksefcontract.client_hook``): a flow that drifts from the contract fails here."""

    @functools.wraps(flow)
    def run(client: Any, *args: Any, **kwargs: Any) -> Any:
        with validating(client):
            return flow(client, *args, **kwargs)

    return run


@dataclass
class Session:
    """One authentication, redeemed: its reference, tokens and final status."""

    reference_number: str
    operation_token: str
    access_token: str
    refresh_token: str
    status: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def challenge(client: Any) -> dict[str, Any]:
    response = client.post("/auth/challenge")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def signed_request(
    client: Any,
    credentials: SigningCredentials | None,
    context: tuple[str, str],
    *,
    subject_type: str = "certificateSubject",
    version: str = "2.0",
    allowed_ips: dict[str, list[str]] | None = None,
    challenge_value: str | None = None,
    signer_nip: str | None = None,
) -> bytes:
    """A signed ``AuthTokenRequest`` for ``context``, dated by the server's clock.

    Without ``credentials``, the personal certificate of ``signer_nip`` (by
    default the context's value); with ``challenge_value``, that challenge
    instead of a fresh one.
    """
    server_now = None
    if challenge_value is None:
        fresh = challenge(client)
        challenge_value, server_now = fresh["challenge"], parse_datetime(fresh["timestamp"])
    if credentials is None:
        assert server_now is not None, "a default certificate is dated by a fresh challenge"
        # The server's clock may be virtual: the certificate must be valid by it.
        day = server_now.replace(hour=0, minute=0, second=0, microsecond=0)
        credentials = person(signer_nip or context[1], not_before=day - timedelta(days=1))
    xml = auth_token_request(
        challenge_value,
        *context,
        subject_identifier_type=subject_type,
        allowed_ips=allowed_ips,
        version=version,
    )
    return sign_auth_token_request(xml, credentials, signing_time=server_now)  # type: ignore[no-any-return]


def start_xades(
    client: Any,
    credentials: SigningCredentials | None,
    context: tuple[str, str],
    *,
    params: dict[str, str] | None = None,
    **signing: Any,
) -> httpx.Response:
    """``POST /auth/xades-signature``, the raw answer."""
    return client.post(  # type: ignore[no-any-return]
        "/auth/xades-signature",
        content=signed_request(client, credentials, context, **signing),
        headers=XML,
        params=params or {},
    )


def auth_status(client: Any, init: httpx.Response | dict[str, Any]) -> dict[str, Any]:
    """``GET /auth/{referenceNumber}`` of a started authentication (its 202 answer)."""
    if isinstance(init, httpx.Response):
        init = init.json()
    response = client.get(
        f"/auth/{init['referenceNumber']}", headers=bearer(init["authenticationToken"]["token"])
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def finish(client: Any, init: dict[str, Any]) -> Session:
    """Status 200, then redeem: the session of a started authentication."""
    status = auth_status(client, init)
    assert status["status"]["code"] == 200, status
    operation_token = init["authenticationToken"]["token"]
    redeemed = client.post("/auth/token/redeem", headers=bearer(operation_token))
    assert redeemed.status_code == 200, redeemed.text
    tokens = redeemed.json()
    return Session(
        init["referenceNumber"],
        operation_token,
        tokens["accessToken"]["token"],
        tokens["refreshToken"]["token"],
        status,
    )


@_validated
def xades_login(
    client: Any,
    nip: str,
    credentials: SigningCredentials | None = None,
    *,
    context_type: str = "Nip",
    context_value: str | None = None,
    params: dict[str, str] | None = None,
    **signing: Any,
) -> Session:
    """challenge → XAdES → status → redeem, with a certificate of ``nip`` unless given one."""
    init = start_xades(
        client,
        credentials,
        (context_type, context_value or nip),
        params=params,
        signer_nip=nip,
        **signing,
    )
    assert init.status_code == 202, init.text
    return finish(client, init.json())


@_validated
def public_key(client: Any, usage: str = "KsefTokenEncryption") -> PublicKeyCertificate:
    """The Ministry certificate for ``usage`` from ``GET /security/public-key-certificates``."""
    listing = client.get("/security/public-key-certificates")
    assert listing.status_code == 200, listing.text
    chosen = wire.public_key(listing.json(), usage)
    assert chosen is not None, f"no public key with usage {usage}"
    return chosen


def start_token(
    client: Any,
    token: str,
    nip: str,
    *,
    context_type: str = "Nip",
    context_value: str | None = None,
    timestamp_delta: int = 0,
    key_id: bool = True,
    **body: Any,
) -> httpx.Response:
    """``POST /auth/ksef-token``, the raw answer; ``body`` adds or overrides fields."""
    certificate = public_key(client)
    fresh = challenge(client)
    payload = {
        "challenge": fresh["challenge"],
        "contextIdentifier": {"type": context_type, "value": context_value or nip},
        "encryptedToken": wire.encrypt_token(
            certificate, token, fresh["timestampMs"] + timestamp_delta
        ),
        **({"publicKeyId": certificate.public_key_id} if key_id else {}),
        **body,
    }
    return client.post("/auth/ksef-token", json=payload)  # type: ignore[no-any-return]


@_validated
def token_login_init(client: Any, token: str, nip: str, **kw: Any) -> dict[str, Any]:
    init = start_token(client, token, nip, **kw)
    assert init.status_code == 202, init.text
    return init.json()  # type: ignore[no-any-return]


@_validated
def token_login(client: Any, token: str, nip: str) -> Session:
    return finish(client, token_login_init(client, token, nip))


@_validated
def create_ksef_token(
    client: Any,
    session: Session | str,
    permissions: list[str] | tuple[str, ...],
    description: str = "Token testowy",
) -> dict[str, Any]:
    """``POST /tokens`` (202) with the session's (or the given) access token."""
    access = session.access_token if isinstance(session, Session) else session
    response = client.post(
        "/tokens",
        json={"permissions": list(permissions), "description": description},
        headers=bearer(access),
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def set_certificate_limits(
    client: Any, headers: dict[str, str], certificates: int, enrollments: int
) -> None:
    """``POST /testdata/limits/subject/certificate`` (200) for the NIP subject of ``headers``."""
    response = client.post(
        "/testdata/limits/subject/certificate",
        json={
            "subjectIdentifierType": "Nip",
            "certificate": {"maxCertificates": certificates},
            "enrollment": {"maxEnrollments": enrollments},
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text


# -- permission grants -----------------------------------------------------------------------


def person_grant(
    subject: tuple[str, str],
    permissions: list[str],
    description: str = "Opis uprawnienia",
    name: tuple[str, str] = ("Adam", "Abacki"),
) -> dict[str, Any]:
    """A POST /permissions/persons/grants body for ``subject`` (``("Pesel", ...)``, ``("Nip", ...)``)."""
    first_name, last_name = name
    return {
        "subjectIdentifier": {"type": subject[0], "value": subject[1]},
        "permissions": permissions,
        "description": description,
        "subjectDetails": {
            "subjectDetailsType": "PersonByIdentifier",
            "personById": {"firstName": first_name, "lastName": last_name},
        },
    }


def entity_grant(
    nip: str, *, description: str = "Biuro rachunkowe", full_name: str = "Biuro sp. z o.o."
) -> dict[str, Any]:
    """A POST /permissions/entities/grants body: InvoiceRead (which the entity may pass on)
    and InvoiceWrite for the entity ``nip``."""
    return {
        "subjectIdentifier": {"type": "Nip", "value": nip},
        "permissions": [
            {"type": "InvoiceRead", "canDelegate": True},
            {"type": "InvoiceWrite", "canDelegate": False},
        ],
        "description": description,
        "subjectDetails": {"fullName": full_name},
    }


# -- invoices --------------------------------------------------------------------------------


@functools.cache
def official_dir() -> Path:
    return official.locate()


@functools.cache
def template(name: str) -> str:
    return (official_dir() / "sample-invoices" / name).read_text(encoding="utf-8")


def fa3(
    nip: str,
    number: str = "1",
    issue: date = START_DAY,
    buyer: str = wire.SAMPLE_BUYER,
    name: str = "invoice-template-fa-3.xml",
) -> bytes:
    """An FA(3) invoice from the official template: seller ``nip``, P_2 ``FA/GRQMB-{number}/05/2025``."""
    return wire.sample_invoice(
        official_dir(), nip, number, issue.isoformat(), buyer=buyer, name=name
    )


def fa2(nip: str, number: str = "1") -> bytes:
    return wire.sample_invoice(official_dir(), nip, number, name="invoice-template-fa-2.xml")


def fa_rr(nip: str, number: str = "RR/1", buyer: str = wire.SAMPLE_BUYER) -> bytes:
    return wire.sample_invoice(
        official_dir(), nip, number, buyer=buyer, name="invoice-template-fa-rr-1.xml"
    )


def pef(
    seller: str,
    number: str = "PEF/1",
    buyer: str = wire.SAMPLE_BUYER,
    name: str = "invoice-template-fa-3-pef.xml",
) -> bytes:
    """A Peppol invoice (or, by ``name``, credit note) from the official PEF samples."""
    text = template(name)
    for placeholder, value in {
        "#invoice_number#": number,
        "#issue_date#": START_DAY.isoformat(),
        "#due_date#": "2026-03-20",
        "#buyer_reference#": "REF",
        "#supplier_nip#": seller,
        "#buyer_nip#": buyer,
        "#iban#": "PL61109010140000071219812874",
        "#ksef_number#": "5265877635-20250826-0100001AF629-AF",
    }.items():
        text = text.replace(placeholder, value)
    return text.encode()


# -- online sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Crypto(SymmetricKey):
    """The client's session key (a fresh AES-256 key and IV), with the bodies that carry it."""

    key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    iv: bytes = field(default_factory=lambda: os.urandom(16), repr=False)

    def encryption(self, client: Any, with_key_id: bool = True) -> dict[str, str]:
        """The ``encryption`` object: the key wrapped for the ``SymmetricKeyEncryption`` key."""
        info = self.encryption_info(public_key(client, "SymmetricKeyEncryption"))
        if not with_key_id:
            del info["publicKeyId"]
        return info

    def invoice_body(self, xml: bytes, **extra: Any) -> dict[str, Any]:
        return wire.invoice_body(self, xml, **extra)


def open_online(
    client: Any, headers: dict[str, str], crypto: Crypto, form: dict[str, str] = FA3, **kw: Any
) -> str:
    response = client.post(
        "/sessions/online",
        json={"formCode": form, "encryption": crypto.encryption(client)},
        headers={**headers, **kw.get("extra_headers", {})},
    )
    assert response.status_code == 201, response.text
    return response.json()["referenceNumber"]  # type: ignore[no-any-return]


def send(
    client: Any, headers: dict[str, str], ref: str, crypto: Crypto, xml: bytes, **extra: Any
) -> Any:
    return client.post(
        f"/sessions/online/{ref}/invoices", json=crypto.invoice_body(xml, **extra), headers=headers
    )


def send_ok(
    client: Any, headers: dict[str, str], ref: str, crypto: Crypto, xml: bytes, **extra: Any
) -> str:
    response = send(client, headers, ref, crypto, xml, **extra)
    assert response.status_code == 202, response.text
    return response.json()["referenceNumber"]  # type: ignore[no-any-return]


def invoice_status(
    client: Any, headers: dict[str, str], ref: str, invoice_ref: str
) -> dict[str, Any]:
    response = client.get(f"/sessions/{ref}/invoices/{invoice_ref}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def session_limits(
    online: tuple[int, int, int] = (1, 3, 10_000),
    batch: tuple[int, int, int] = (1, 3, 10_000),
    collective: int | None = 500,
) -> dict[str, Any]:
    """Session limits as ``GET /limits/context`` shows them and ``POST
    /testdata/limits/context/session`` takes them; per kind of session: (max invoice
    size in MB, with attachments in MB, max invoices). The defaults are KSeF's."""
    keys = ("maxInvoiceSizeInMB", "maxInvoiceWithAttachmentSizeInMB", "maxInvoices")
    body: dict[str, Any] = {
        "onlineSession": dict(zip(keys, online, strict=True)),
        "batchSession": dict(zip(keys, batch, strict=True)),
    }
    if collective is not None:
        body["collectiveIdentifier"] = {"maxInvoices": collective}
    return body


def counts(status: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """A session's invoices: (all, successful, failed); None where the status leaves one out."""
    return (
        status.get("invoiceCount"),
        status.get("successfulInvoiceCount"),
        status.get("failedInvoiceCount"),
    )


def session_status(client: Any, headers: dict[str, str], ref: str) -> dict[str, Any]:
    response = client.get(f"/sessions/{ref}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- batch sessions --------------------------------------------------------------------------


def build_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def build_targz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def split(archive: bytes, parts: int) -> list[bytes]:
    """The C# client's split: ceil(len/N) bytes per part, before encryption."""
    size = -(-len(archive) // parts)
    return [archive[i * size : (i + 1) * size] for i in range(parts) if archive[i * size :]]


@dataclass
class Package:
    """A batch package: the archive, its encrypted parts and what ``POST /sessions/batch`` declares."""

    archive: bytes
    parts: list[bytes]
    crypto: Crypto
    compression: str = "Zip"

    def batch_file(self) -> dict[str, Any]:
        return {
            "fileSize": len(self.archive),
            "fileHash": sha(self.archive),
            "compressionType": self.compression,
            "fileParts": [
                {"ordinalNumber": n, "fileSize": len(part), "fileHash": sha(part)}
                for n, part in enumerate(self.parts, start=1)
            ],
        }


def package(
    files: dict[str, bytes], parts: int = 1, compression: str = "Zip", crypto: Crypto | None = None
) -> Package:
    crypto = crypto or Crypto()
    archive = build_targz(files) if compression == "TarGz" else build_zip(files)
    encrypted = [crypto.encrypt(p) for p in split(archive, parts)]
    return Package(archive, encrypted, crypto, compression)


def open_batch(
    client: Any,
    headers: dict[str, str],
    pkg: Package,
    form: dict[str, str] = FA3,
    encryption: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "formCode": form,
        "batchFile": pkg.batch_file(),
        "encryption": encryption or pkg.crypto.encryption(client),
        **extra,
    }
    response = client.post("/sessions/batch", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def upload(client: Any, opened: dict[str, Any], parts: list[bytes]) -> None:
    for request in opened["partUploadRequests"]:
        data = parts[request["ordinalNumber"] - 1]
        response = client.request(
            request["method"], request["url"], content=data, headers=request["headers"]
        )
        assert response.status_code == 201, response.text


def send_batch(
    client: Any,
    headers: dict[str, str],
    files: dict[str, bytes],
    parts: int = 1,
    compression: str = "Zip",
    **extra: Any,
) -> str:
    pkg = package(files, parts, compression)
    opened = open_batch(client, headers, pkg, **extra)
    upload(client, opened, pkg.parts)
    closed = client.post(f"/sessions/batch/{opened['referenceNumber']}/close", headers=headers)
    assert closed.status_code == 204, closed.text
    return opened["referenceNumber"]  # type: ignore[no-any-return]
