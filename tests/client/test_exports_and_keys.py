"""Exports with decryption, incremental import by export, and the Ministry key rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ksefclient import (
    Checkpoint,
    DateRange,
    InvoiceQueryFilters,
    KsefIntegrityError,
    KsefStatusError,
    KsefTokenCredentials,
)
from ksefclient._crypto import KSEF_TOKEN_ENCRYPTION, SYMMETRIC_KEY_ENCRYPTION, PublicKeyCache
from ksefclient._models import parse_public_keys
from tests.client.support import NIP_A, NIP_B, START, Fault, Harness, invoice

SINCE = START - timedelta(days=1)


def test_export_is_downloaded_decrypted_and_checked(harness: Harness) -> None:
    client = harness.client(NIP_A)
    sent = client.send_invoices([invoice(NIP_A, f"FV/E/{i}", buyer=NIP_B) for i in range(3)])
    harness.clock.advance(1)
    result = client.export_invoices(
        InvoiceQueryFilters("Subject1", DateRange("PermanentStorage", SINCE))
    )
    assert set(result.invoices) == set(sent.ksef_numbers)
    assert {m.ksef_number for m in result.metadata} == set(sent.ksef_numbers)
    for number, document in result.invoices.items():
        assert document == client.download_invoice(number)
    assert result.status.permanent_storage_hwm_date is not None


def test_export_in_tar_gz_and_metadata_only(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.send_invoices([invoice(NIP_A, "FV/T/1")])
    harness.clock.advance(1)
    filters = InvoiceQueryFilters("Subject1", DateRange("PermanentStorage", SINCE))
    tarred = client.export_invoices(filters, compression="TarGz")
    assert len(tarred.invoices) == 1 and tarred.status.compression_type == "TarGz"
    metadata_only = client.export_invoices(filters, only_metadata=True)
    assert metadata_only.invoices == {} and len(metadata_only.metadata) == 1


def test_export_survives_lost_answers(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.send_invoices([invoice(NIP_A, "FV/L/1")])
    harness.clock.advance(1)
    harness.plan.load([Fault("lost"), Fault("status_after", 503, 2), Fault("lost")])
    result = client.export_invoices(
        InvoiceQueryFilters("Subject1", DateRange("PermanentStorage", SINCE))
    )
    assert len(result.invoices) == 1


def test_damaged_export_part_is_refused(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.send_invoices([invoice(NIP_A, "FV/X/1")])
    harness.clock.advance(1)
    harness.plan.load([Fault("corrupt")], target=lambda r: "/invoice-part/" in r.url.path)
    with pytest.raises(KsefIntegrityError, match="hash"):
        client.export_invoices(
            InvoiceQueryFilters("Subject1", DateRange("PermanentStorage", SINCE))
        )


def test_damaged_download_is_refused(harness: Harness) -> None:
    client = harness.client(NIP_A)
    (status,) = client.send_invoices([invoice(NIP_A, "FV/X/2")]).invoices
    harness.clock.advance(1)
    harness.plan.load([Fault("corrupt")], target=lambda r: "/invoices/ksef/" in r.url.path)
    with pytest.raises(KsefIntegrityError, match="x-ms-meta-hash"):
        client.download_invoice(status.ksef_number or "")


def test_import_new_by_export_yields_each_invoice_once(harness: Harness) -> None:
    client = harness.client(NIP_B)
    seller = harness.client(NIP_A)
    checkpoint = Checkpoint.start(SINCE, "Subject2")
    seen: list[str] = []
    for round_ in range(3):
        seller.send_invoices([invoice(NIP_A, f"FV/IE/{round_}/{i}", buyer=NIP_B) for i in range(2)])
        result = client.import_new(checkpoint, use_export=True)
        seen += [i.ksef_number for i in result.invoices]
        assert all(i.xml for i in result.invoices)
        checkpoint = result.checkpoint
        harness.clock.advance(1)
    seen += [i.ksef_number for i in client.import_new(checkpoint, use_export=True).invoices]
    assert len(seen) == len(set(seen)) == 6


def test_export_failure_status_raises_with_explanation(harness: Harness) -> None:
    client = harness.client(NIP_A)
    future = InvoiceQueryFilters(
        "Subject1", DateRange("PermanentStorage", START + timedelta(days=1), None, True)
    )
    with pytest.raises(KsefStatusError) as caught:
        client.export_invoices(future)
    assert caught.value.code == 420
    assert "HWM" in caught.value.explanation and caught.value.fix
    assert caught.value.details  # the official Polish detail


def test_key_choice_follows_validity_and_rotation() -> None:
    def entry(key_id: str, usage: str, start: str, end: str = "2030-01-01T00:00:00+00:00") -> dict:
        import base64

        from ksefclient.xades import personal_certificate

        der = personal_certificate(nip=NIP_A).certificate.public_bytes(
            __import__(
                "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]
            ).Encoding.DER
        )
        return {
            "certificate": base64.b64encode(der).decode(),
            "certificateId": key_id,
            "publicKeyId": key_id,
            "validFrom": start,
            "validTo": end,
            "usage": [usage],
        }

    cache = PublicKeyCache()
    cache.store(
        parse_public_keys(
            [
                entry("old", SYMMETRIC_KEY_ENCRYPTION, "2025-01-01T00:00:00+00:00"),
                entry("new", SYMMETRIC_KEY_ENCRYPTION, "2026-03-01T00:00:00+00:00"),
                entry("future", SYMMETRIC_KEY_ENCRYPTION, "2027-01-01T00:00:00+00:00"),
                entry("token", KSEF_TOKEN_ENCRYPTION, "2025-01-01T00:00:00+00:00"),
            ]
        ),
        now=0,
    )
    chosen = cache.choose(SYMMETRIC_KEY_ENCRYPTION, START)
    assert chosen is not None and chosen.public_key_id == "new"  # valid now, latest validFrom
    cache.invalidate("new")  # KSeF said 21470 for it
    fallback = cache.choose(SYMMETRIC_KEY_ENCRYPTION, START)
    assert fallback is not None and fallback.public_key_id == "old"
    assert cache.stale(now=1)
    assert cache.choose(KSEF_TOKEN_ENCRYPTION, START).public_key_id == "token"  # type: ignore[union-attr]


@pytest.mark.parametrize("usage", [SYMMETRIC_KEY_ENCRYPTION, KSEF_TOKEN_ENCRYPTION])
def test_emergency_key_rotation_is_followed(harness: Harness, usage: str) -> None:
    owner = harness.client(NIP_A)
    token = owner.generate_token(["InvoiceWrite"], "Token do rotacji kluczy")
    client = harness.client(None, credentials=KsefTokenCredentials(token.token))
    client.public_keys()  # cached now
    old = {k.public_key_id for k in client.public_keys() if usage in k.usage}
    harness.state.env("test").public_keys.rotate(usage, emergency=True)
    client.forget_tokens()
    if usage == SYMMETRIC_KEY_ENCRYPTION:
        session = client.open_online_session()  # 21470 with the cached key, then re-fetch
        client.send_invoice(session, invoice(NIP_A, "FV/R/1"))
    else:
        client.authenticate()
    fresh = {k.public_key_id for k in client.public_keys() if usage in k.usage}
    assert fresh and not fresh & old
    rejected = [e for e in harness.plan.log if e.kind == "request" and "public-key" in e.detail]
    assert len(rejected) >= 2  # fetched again after the rotation
