"""Authentication through the client: XAdES and KSeF token, refresh, re-authentication."""

from __future__ import annotations

import pytest

from ksefclient import (
    AuthTokens,
    KsefAuthenticationError,
    KsefTokenCredentials,
)
from tests.client.support import NIP_A, NIP_B, Harness


def test_xades_authentication_gives_owner_tokens(harness: Harness) -> None:
    client = harness.client(NIP_A)
    tokens = client.authenticate()
    assert tokens.context is not None and tokens.context.value == NIP_A
    assert "Owner" in tokens.permissions
    assert tokens.refresh_token is not None
    assert tokens.access_token.valid_until > harness.clock.now()


def test_first_call_authenticates_by_itself(harness: Harness) -> None:
    client = harness.client(NIP_A)
    assert client.tokens is None
    limits = client.context_limits()
    assert limits.online_session.max_invoices == 10000
    assert client.tokens is not None


def test_ksef_token_authentication(harness: Harness) -> None:
    owner = harness.client(NIP_A)
    generated = owner.generate_token(["InvoiceRead", "InvoiceWrite"], "Token testowy klienta")
    user = harness.client(None, credentials=KsefTokenCredentials(generated.token))
    assert user.context.value == NIP_A  # taken from the token
    tokens = user.authenticate()
    assert set(tokens.permissions) == {"InvoiceRead", "InvoiceWrite"}


def test_access_token_is_refreshed_before_expiry(harness: Harness) -> None:
    client = harness.client(NIP_A)
    first = client.authenticate()
    harness.clock.advance(15 * 60 - 30)  # inside the refresh margin
    client.context_limits()
    second = client.tokens
    assert second is not None
    assert second.access_token.token != first.access_token.token
    # Refreshed, not re-authenticated: same authentication operation.
    assert second.reference_number == first.reference_number
    assert second.refresh_token == first.refresh_token


def test_dead_refresh_token_leads_to_a_new_authentication(harness: Harness) -> None:
    client = harness.client(NIP_A)
    first = client.authenticate()
    client.revoke_auth_session()
    harness.clock.advance(16 * 60)
    client.context_limits()
    assert client.tokens is not None
    assert client.tokens.reference_number != first.reference_number


def test_data_reset_is_survived_with_a_certificate(harness: Harness) -> None:
    client = harness.client(NIP_A)
    first = client.authenticate()
    harness.state.reset()
    client.context_limits()  # 401 -> refresh fails -> new authentication
    assert client.tokens is not None
    assert client.tokens.reference_number != first.reference_number


def test_token_dead_after_reset_fails_with_status_450(harness: Harness) -> None:
    owner = harness.client(NIP_A)
    generated = owner.generate_token(["InvoiceRead"], "Token przed resetem")
    harness.state.reset()
    user = harness.client(None, credentials=KsefTokenCredentials(generated.token))
    with pytest.raises(KsefAuthenticationError) as caught:
        user.authenticate()
    assert caught.value.code == 450
    assert "token" in caught.value.explanation.lower()
    assert caught.value.description  # the official Polish text


def test_resumed_tokens_are_used_without_authenticating(harness: Harness) -> None:
    client = harness.client(NIP_A)
    saved = client.authenticate().to_json()
    requests_before = len(harness.plan.log)
    other = harness.client(NIP_A, credentials=False, tokens=AuthTokens.from_json(saved))
    other.context_limits()
    paths = [e.detail for e in harness.plan.log[requests_before:] if e.kind == "request"]
    assert paths == ["GET /v2/limits/context"]


def test_authentication_sessions_are_listed_and_revoked(harness: Harness) -> None:
    client = harness.client(NIP_A)
    tokens = client.authenticate()
    sessions = client.list_auth_sessions()
    current = [s for s in sessions if s.is_current]
    assert [s.reference_number for s in current] == [tokens.reference_number]
    client.revoke_auth_session()
    assert client.tokens is not None and client.tokens.refresh_token is None


def test_person_with_granted_permission_authenticates_into_the_context(harness: Harness) -> None:
    from ksefclient import ContextIdentifier

    owner = harness.client(NIP_A)
    owner.grant_person_permissions(
        ContextIdentifier("Nip", NIP_B), ["InvoiceRead"], "Dostęp do faktur"
    )
    delegate = harness.client(NIP_A, cert_nip=NIP_B)
    tokens = delegate.authenticate()
    assert tokens.permissions == ("InvoiceRead",)
    mine = delegate.query_personal_permissions()
    assert any(p.permission_scope == "InvoiceRead" for p in mine)
    # Without a grant the same person cannot enter another context.
    stranger = harness.client(NIP_B, cert_nip=NIP_A)
    with pytest.raises(KsefAuthenticationError) as caught:
        stranger.authenticate()
    assert caught.value.code == 415
