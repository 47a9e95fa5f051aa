"""The public domain verbs that scenario effects and seeding change state through.

Each verb must behave as the API operation it stands in for (same rules, same
events), because scenarios, seeding and the API have to agree on what a
revoked token or an expired session looks like.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ksefclient.xades import auth_token_request, personal_certificate, sign_auth_token_request
from mockksef import MockState
from mockksef.clock import Clock
from mockksef.errors import KsefError
from mockksef.http.security import principal_from_claims
from mockksef.jwts import InvalidJwt
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.services.certificates.models import ACTIVE, REVOKED
from tests.conftest import START, mint_access_token
from tests.unit.test_sessions_backend import open_and_send
from tests.unit.test_sessions_backend import principal as session_principal

NIP = "5265877635"
OTHER = "7762811692"
CTX = ContextIdentifier("Nip", NIP)


@pytest.fixture
def events(mock: MockState) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    seen: list[tuple[str, str, dict]] = []  # type: ignore[type-arg]
    mock.event_sinks.append(lambda env, name, fields: seen.append((env, name, fields)))
    return seen


def _register(env, nip: str) -> str:  # type: ignore[no-untyped-def]
    made = env.tokens.register(
        ContextIdentifier("Nip", nip), SubjectIdentifier("Nip", nip), ["InvoiceRead"], START
    )
    return str(made["referenceNumber"])


# -- tokens ---------------------------------------------------------------------------------


def test_revoke_all_revokes_one_context_once_with_events(mock, events):  # type: ignore[no-untyped-def]
    env = mock.env("test")
    mine, theirs = _register(env, NIP), _register(env, OTHER)
    assert env.tokens.revoke_all(START, CTX) == [mine]
    assert env.tokens.revoke_all(START, CTX) == []  # already revoking: no second event
    assert env.tokens.get_token(mine).status == "Revoked"
    assert env.tokens.get_token(theirs).status == "Active"
    assert [(n, f["reference"]) for _, n, f in events if n == "token.revoked"] == [
        ("token.revoked", mine)
    ]
    assert env.tokens.revoke_all(START) == [theirs]


def test_revoke_all_follows_the_revocation_delay_of_revoke(mock, spec):  # type: ignore[no-untyped-def]
    state = MockState(
        replace(mock.config, token_activation_seconds=30), spec=spec, clock=Clock.virtual(START)
    )
    env = state.env("test")
    reference = _register(env, NIP)
    env.tokens.revoke_all(START, CTX)
    assert env.tokens.get_token(reference).status == "Revoking"
    assert env.tokens.is_revoked(reference)
    state.clock.advance(30)
    assert env.tokens.get_token(reference).status == "Revoked"


# -- authentication sessions ---------------------------------------------------------------------


def _login(env, context: str):  # type: ignore[no-untyped-def]
    creds = personal_certificate(nip=context, not_before=START - timedelta(hours=1))
    now = env.clock.now()
    challenge = env.auth.challenge("10.0.0.1", now)["challenge"]
    signed = sign_auth_token_request(auth_token_request(challenge, "Nip", context), creds)
    started = env.auth.init_xades(signed, "application/xml; charset=utf-8", None, now)
    operation = principal_from_claims(env.jwt.decode(started["authenticationToken"]["token"]))
    tokens = env.auth.redeem(operation, now)
    return started["referenceNumber"], principal_from_claims(
        env.jwt.decode(tokens["refreshToken"]["token"])
    )


def test_revoke_sessions_kills_refresh_tokens_of_one_context(mock, events):  # type: ignore[no-untyped-def]
    env = mock.env("test")
    mine, my_refresh = _login(env, NIP)
    theirs, their_refresh = _login(env, OTHER)
    assert env.auth.revoke_sessions(mock.clock.now(), CTX) == [mine]
    assert env.auth.revoke_sessions(mock.clock.now(), CTX) == []
    with pytest.raises(KsefError) as refused:
        env.auth.refresh(my_refresh, mock.clock.now())
    assert refused.value.code == 21301
    assert env.auth.refresh(their_refresh, mock.clock.now())["accessToken"]["token"]
    assert [f["reference"] for _, n, f in events if n == "auth.session_revoked"] == [mine]
    assert env.auth.revoke_sessions(mock.clock.now()) == [theirs]


# -- online and batch sessions ---------------------------------------------------------------------


def test_expire_sessions_ends_open_sessions_of_one_context(mock):  # type: ignore[no-untyped-def]
    me = session_principal(mock)
    env, reference, _ = open_and_send(mock, me, 1)
    other = session_principal(mock, nip=OTHER)
    now = mock.clock.now()
    assert env.sessions.expire_sessions(now, ContextIdentifier("Nip", OTHER)) == []
    assert env.sessions.session_status(me, reference, "http://mock", now)["status"]["code"] == 100
    assert env.sessions.expire_sessions(now, CTX) == [reference]
    assert env.sessions.expire_sessions(now) == []  # nothing open is left
    mock.clock.advance(60)
    status = env.sessions.session_status(me, reference, "http://mock", mock.clock.now())
    assert status["status"]["code"] == 200  # closed by its lifetime, then decided
    with pytest.raises(KsefError) as hidden:
        env.sessions.session_status(other, reference, "http://mock", mock.clock.now())
    assert hidden.value.code == 21173


# -- certificates -------------------------------------------------------------------------------------


def _csr(common_name: str) -> x509.CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())


def test_import_certificate_dates_shortens_and_revokes(mock):  # type: ignore[no-untyped-def]
    env = mock.env("test")
    owner = SubjectIdentifier("Nip", NIP)
    past = START - timedelta(days=30)
    plain = env.certificates.import_certificate(owner, _csr("a"), name="A", valid_from=past)
    assert plain.valid_from == past and plain.status_at(START) == ACTIVE
    assert env.certificates.get(plain.serial_number) is plain
    assert env.certificates.issued_by_ca(plain.certificate)

    short = env.certificates.import_certificate(
        owner, _csr("b"), name="B", valid_from=past, valid_to=START - timedelta(days=1)
    )
    assert short.valid_to == START - timedelta(days=1) and short.status_at(START) != ACTIVE
    longer = env.certificates.import_certificate(
        owner, _csr("c"), name="C", valid_from=past, valid_to=START + timedelta(days=5000)
    )
    assert longer.valid_to == plain.valid_to  # never past what the CA issued

    revoked = env.certificates.import_certificate(
        owner, _csr("d"), name="D", valid_from=past, revoked_at=START
    )
    assert revoked.status_at(START) == REVOKED and revoked.revocation_reason == "Unspecified"
    assert env.certificates.summary() == {"certificates": 4, "revoked": 1, "enrollments": 4}


# -- subjects, attachments, invoices, JWTs --------------------------------------------------------------


def test_subject_names_and_withheld_attachments(mock):  # type: ignore[no-untyped-def]
    env = mock.env("test")
    env.subjects.set_name(NIP, "Pierwsza")
    env.subjects.set_name(NIP, "Druga", replace=False)
    assert env.subjects.name_of(NIP) == "Pierwsza" and env.subjects.name_of(OTHER) is None
    env.testdata.allow_attachments(NIP)
    assert env.subjects.attachment_consent(NIP).allowed
    env.testdata.withhold_attachments(NIP)
    env.testdata.withhold_attachments(OTHER)  # none to withhold: no error
    assert not env.subjects.attachment_consent(NIP).allowed


def test_issued_by_counts_a_sellers_stored_invoices(mock):  # type: ignore[no-untyped-def]
    from mockksef import seeding

    env = mock.env("test")
    assert env.invoices.issued_by(NIP) == 0
    seeding.add_invoices(env, 3, seller=NIP, buyer=OTHER)
    assert env.invoices.issued_by(NIP) == 3 and env.invoices.issued_by(OTHER) == 0


def test_expire_access_tokens_makes_every_earlier_jwt_fail(mock):  # type: ignore[no-untyped-def]
    env = mock.env("test")
    old = mint_access_token(mock, nip=NIP)
    env.jwt.decode(old)
    env.expire_access_tokens()
    with pytest.raises(InvalidJwt):
        env.jwt.decode(old)
    env.jwt.decode(mint_access_token(mock, nip=NIP))
