"""SessionsBackend without HTTP: settling on the clock, UPO pages, faults, auth proof."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree

from ksefcontract import wire
from mockksef.errors import KsefError
from mockksef.http.security import access_claims, principal_from_claims
from mockksef.models import ContextIdentifier, Principal, SubjectIdentifier
from mockksef.services.sessions import registry as registry_module
from mockksef.xml import xsd
from mockksef.xml.upo import unsigned
from tests import kit
from tests.conftest import OFFICIAL
from tests.unit.test_xml_upo import page_description

NIP = "5265877635"


def principal(mock, nip: str = NIP, token_ref: str | None = None) -> Principal:  # type: ignore[no-untyped-def]
    now = mock.clock.now()
    claims = access_claims(
        reference_number=mock.env("test").rng.reference_number("AU", now),
        context=ContextIdentifier("Nip", nip),
        subject=SubjectIdentifier("Nip", nip),
        auth_method="Token" if token_ref else "QualifiedSeal",
        permissions={"Owner"},
        ksef_token_reference=token_ref,
    )
    claims["exp"] = int((now + timedelta(hours=1)).timestamp())
    return principal_from_claims(claims)


def encryption(env, crypto: kit.Crypto) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The key wrapped as a client wraps it, for the key the environment publishes."""
    certificate = wire.public_key(env.public_keys.listing(), "SymmetricKeyEncryption")
    assert certificate is not None
    return crypto.encryption_info(certificate)


def open_and_send(mock, me, count: int):  # type: ignore[no-untyped-def]
    env = mock.env("test")
    crypto = kit.Crypto()
    now = mock.clock.now()
    ref = env.sessions.open_online(
        me, {"formCode": kit.FA3, "encryption": encryption(env, crypto)}, now
    )["referenceNumber"]
    refs = [
        env.sessions.send_invoice(me, ref, crypto.invoice_body(kit.fa3(NIP, f"U{n}")), now)[
            "referenceNumber"
        ]
        for n in range(count)
    ]
    return env, ref, refs


def test_session_upo_is_split_into_pages(mock, monkeypatch):
    monkeypatch.setattr(registry_module, "UPO_PAGE_SIZE", 2)
    me = principal(mock)
    env, ref, _ = open_and_send(mock, me, 5)
    now = mock.clock.now()
    env.sessions.close_online(me, ref, now)
    status = env.sessions.session_status(me, ref, "http://mock", now)
    pages = status["upo"]["pages"]
    assert len(pages) == 3
    schema = xsd.upo_schema(OFFICIAL)
    ranges = []
    for page in pages:
        document = env.sessions.session_upo(me, ref, page["referenceNumber"], now)
        root = etree.fromstring(document)
        assert schema.validate(unsigned(root)), schema.error_log
        ranges.append(page_description(root))
    assert ranges == [
        ["1", "3", "1", "2", "5"],
        ["2", "3", "3", "4", "5"],
        ["3", "3", "5", "5", "5"],
    ]


def test_token_sessions_carry_the_token_reference(mock):
    token_ref = mock.env("test").rng.reference_number("EC", mock.clock.now())
    me = principal(mock, token_ref=token_ref)
    env, ref, refs = open_and_send(mock, me, 1)
    document = env.sessions.invoice_upo(me, ref, refs[0], mock.clock.now())
    assert (
        f"<NumerReferencyjnyTokenaKSeF>{token_ref}</NumerReferencyjnyTokenaKSeF>".encode()
        in document
    )


def test_without_a_recorded_document_hash_a_stable_stand_in_is_used(mock):
    me = principal(mock)
    token_ref, doc_hash = mock.env("test").sessions.registry.auth_proof(me)
    assert token_ref is None and len(doc_hash) == 44
    assert mock.env("test").sessions.registry.auth_proof(me) == (None, doc_hash)


def test_unknown_fault_kind_is_refused(mock):
    with pytest.raises(ValueError):
        mock.env("test").sessions.arm_fault("bogus", 500)


def test_faults_can_target_one_context(mock):
    env = mock.env("test")
    env.sessions.arm_fault("invoice", 550, ContextIdentifier("Nip", "7352765225"))
    me = principal(mock)
    _, ref, refs = open_and_send(mock, me, 1)
    status = env.sessions.invoice_status(me, ref, refs[0], "http://mock", mock.clock.now())
    assert status["status"]["code"] == 200  # armed for another context


def test_sessions_are_invisible_to_other_contexts(mock):
    me = principal(mock)
    env, ref, _ = open_and_send(mock, me, 1)
    with pytest.raises(KsefError) as error:
        env.sessions.session_status(
            principal(mock, nip="7352765225"), ref, "http://mock", mock.clock.now()
        )
    assert error.value.code == 21173


def test_summary_counts(mock):
    me = principal(mock)
    env, _, _ = open_and_send(mock, me, 2)
    assert env.sessions.summary() == {"sessions": 1, "invoices": 2}
