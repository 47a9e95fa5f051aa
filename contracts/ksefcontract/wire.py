"""The client side of the protocol where every request must stay visible.

The harness's flows (``stateful.py``) send each step themselves, so that each
answer is checked and reported; the test kit (``tests/kit.py``) sends them
itself, so that a test sees every status code and can also send what a client
never would. Both build their bodies here, from the bundled client's public
pieces (:class:`ksefclient.SymmetricKey`, :class:`ksefclient.PublicKeyCertificate`):
the encryption is written once, in ``ksefclient``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from ksefclient import PublicKeyCertificate, SymmetricKey, encrypt_ksef_token

__all__ = [
    "SAMPLE_BUYER",
    "encrypt_token",
    "invoice_body",
    "public_key",
    "public_keys",
    "sample_invoice",
    "sha256_b64",
]

# The buyer NIP the official FA(3) sample carries.
SAMPLE_BUYER = "1111111111"


def sha256_b64(data: bytes) -> str:
    """Base64 of the SHA-256 digest: every ``*Hash`` field of the API."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@cache
def _template(official_dir: Path, name: str) -> str:
    return (official_dir / "sample-invoices" / name).read_text(encoding="utf-8")


def sample_invoice(
    official_dir: Path,
    seller: str,
    number: str,
    issue: date | str | None = None,
    *,
    buyer: str = SAMPLE_BUYER,
    name: str = "invoice-template-fa-3.xml",
) -> bytes:
    """An official sample invoice (``sample-invoices/{name}``) with its placeholders filled.

    ``number`` fills ``#invoice_number#`` (the FA(3) sample's P_2 reads
    ``FA/GRQMB-{number}/05/2025``); ``issue`` replaces the sample's issue date
    (P_1) where it has one.
    """
    text = _template(official_dir, name)
    for placeholder, value in (
        ("#nip#", seller),
        ("#invoice_number#", number),
        ("#nipOdbiorca#", buyer),
        ("#buyer_nip#", buyer),
        (f"<NIP>{SAMPLE_BUYER}</NIP>", f"<NIP>{buyer}</NIP>"),
    ):
        text = text.replace(placeholder, value)
    if issue is not None:
        text = text.replace("<P_1>2025-09-01</P_1>", f"<P_1>{issue}</P_1>")
    return text.encode("utf-8")


def public_keys(listing: Sequence[Mapping[str, Any]]) -> list[PublicKeyCertificate]:
    """The answer of ``GET /security/public-key-certificates`` as the client's certificates."""
    return [
        PublicKeyCertificate(
            base64.b64decode(item["certificate"]),
            str(item.get("certificateId", "")),
            str(item["publicKeyId"]),
            datetime.fromisoformat(str(item["validFrom"])),
            datetime.fromisoformat(str(item["validTo"])),
            tuple(str(u) for u in item.get("usage") or ()),
        )
        for item in listing
    ]


def public_key(
    listing: Sequence[Mapping[str, Any]], usage: str, now: datetime | None = None
) -> PublicKeyCertificate | None:
    """The key to use for ``usage`` by the documented rule: valid now, the latest ``validFrom``.

    A tie goes to the later entry (KSeF lists a rotated-in key after the old one).
    """
    usable = [c for c in public_keys(listing) if usage in c.usage]
    current = [c for c in usable if now is None or c.valid_at(now)] or usable
    if not current:
        return None
    return max(enumerate(current), key=lambda item: (item[1].valid_from, item[0]))[1]


def encrypt_token(certificate: PublicKeyCertificate, token: str, timestamp_ms: int) -> str:
    """``encryptedToken`` of ``POST /auth/ksef-token``: RSA-OAEP of ``"{token}|{timestampMs}"``."""
    return encrypt_ksef_token(certificate.public_key(), token, timestamp_ms)


def invoice_body(key: SymmetricKey, xml: bytes, **extra: Any) -> dict[str, Any]:
    """The body of ``POST /sessions/online/{ref}/invoices``; ``extra`` adds or overrides fields."""
    encrypted = key.encrypt(xml)
    return {
        "invoiceHash": sha256_b64(xml),
        "invoiceSize": len(xml),
        "encryptedInvoiceHash": sha256_b64(encrypted),
        "encryptedInvoiceSize": len(encrypted),
        "encryptedInvoiceContent": base64.b64encode(encrypted).decode("ascii"),
        **extra,
    }
