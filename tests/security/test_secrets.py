"""Identifiers never repeat across starts; secrets never derive from anything public.

Before (issue 13): every start used seed 0, so KSeF numbers repeated after a
restart, JWTs of a killed process stayed valid, an old KSeF number fetched an
other invoice, and anyone could mint an access token from the source code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.environments import PROFILES, Env
from mockksef.http.security import access_claims
from mockksef.ids import RandomSource
from mockksef.models import ContextIdentifier, SubjectIdentifier
from tests.conftest import START, bearer, legacy_codes, mint_access_token
from tests.unit.test_invoices_factory import put

NIP = "5265877635"


def served(config: MockConfig, spec) -> MockState:  # type: ignore[no-untyped-def]
    return MockState(config, spec=spec, clock=Clock.virtual(START))


def default_config() -> MockConfig:
    """What `mockksef serve` starts from without flags (seed left to the server)."""
    return MockConfig(rate_limits_enabled=False, extra={"raise_server_errors": True})


def forged(secret: bytes, issuer: str) -> str:
    """An access token minted offline, as an attacker reading the source would."""
    claims = access_claims(
        reference_number="20260302-AU-0000000000-0000000000-00",
        context=ContextIdentifier("Nip", NIP),
        subject=SubjectIdentifier("Nip", NIP),
        auth_method="QualifiedSeal",
        permissions=("Owner", "InvoiceRead"),
        ip_policy=None,
    )
    now = int(START.timestamp())
    payload = {**claims, "iss": issuer, "aud": issuer, "iat": now, "exp": now + 900}
    return jwt.encode(payload, secret, algorithm="HS256")


def sessions_page(state: MockState, token: str) -> httpx.Response:
    with TestClient(create_app(state=state), base_url="http://testserver/v2") as client:
        return client.get("/auth/sessions", headers=bearer(token))


def test_each_start_draws_a_fresh_seed_and_reports_it(spec) -> None:  # type: ignore[no-untyped-def]
    first, second = served(default_config(), spec), served(default_config(), spec)
    assert first.seed != second.seed
    assert not first.seed_explicit
    assert first.config.seed == first.seed  # kept for the banner and the state dump
    with TestClient(create_app(state=first)) as client:
        assert client.get("/_mock/health").json()["seed"] == first.seed
    replay = served(replace(default_config(), seed=first.seed), spec)
    assert replay.seed_explicit and replay.seed == first.seed


def test_an_explicit_seed_replays_identifiers(spec) -> None:  # type: ignore[no-untyped-def]
    one, two = (served(replace(default_config(), seed=42), spec) for _ in range(2))
    assert put(one.env("test")).ksef_number == put(two.env("test")).ksef_number


@pytest.mark.parametrize("seed", [None, 0, 42], ids=["fresh", "seed-0", "seed-42"])
def test_a_token_minted_from_the_source_code_is_refused(spec, seed) -> None:  # type: ignore[no-untyped-def]
    state = served(replace(default_config(), seed=seed), spec)
    issuer = PROFILES[Env.TEST].issuer
    genuine = mint_access_token(state, nip=NIP)
    assert sessions_page(state, genuine).status_code == 200  # the control: a real token works
    # The recipe of the source before the fix, with seed 0 (the old default) and with
    # the seed the server prints: the secret came from the seeded stream.
    for public_seed in {0, state.seed}:
        secret = RandomSource(public_seed, "root").child("test/0").bytes(32)
        response = sessions_page(state, forged(secret, issuer))
        assert response.status_code == 401, (public_seed, response.text)


def test_a_restarted_server_never_serves_an_old_ksef_number_or_honours_old_jwts(spec) -> None:  # type: ignore[no-untyped-def]
    before = served(default_config(), spec)
    old_invoice = put(before.env("test"), seller=NIP)
    old_token = mint_access_token(before, nip=NIP, permissions=("InvoiceRead",))
    before.clock.advance(2)

    after = served(default_config(), spec)  # the same defaults, a new process
    new_invoice = put(after.env("test"), seller=NIP)
    after.clock.advance(2)
    assert new_invoice.ksef_number != old_invoice.ksef_number
    new_token = mint_access_token(after, nip=NIP, permissions=("InvoiceRead",))
    with TestClient(create_app(state=after), base_url="http://testserver/v2") as client:
        stale = client.get(f"/invoices/ksef/{old_invoice.ksef_number}", headers=bearer(old_token))
        assert stale.status_code == 401
        missing = client.get(f"/invoices/ksef/{old_invoice.ksef_number}", headers=bearer(new_token))
        assert missing.status_code == 400 and legacy_codes(missing) == [21164]
        fresh = client.get(f"/invoices/ksef/{new_invoice.ksef_number}", headers=bearer(new_token))
        assert fresh.status_code == 200 and fresh.content == new_invoice.xml


def test_even_a_replayed_seed_does_not_revive_old_jwts(spec) -> None:  # type: ignore[no-untyped-def]
    config = replace(default_config(), seed=7)
    before, after = served(config, spec), served(config, spec)
    token = mint_access_token(before, nip=NIP)
    assert sessions_page(before, token).status_code == 200
    assert sessions_page(after, token).status_code == 401


def test_presigned_links_are_signed_with_keys_from_the_os(spec) -> None:  # type: ignore[no-untyped-def]
    config = replace(default_config(), seed=7)
    one, two = served(config, spec), served(config, spec)
    resource, expires = (
        "test/20260302-SO-0000000000-0000000000-00/upo/x",
        START + timedelta(hours=1),
    )
    link = one.env("test").sessions.registry.urls.url("http://h", resource, expires, "r")
    query = dict(parse_qsl(urlsplit(link).query))
    assert one.env("test").sessions.registry.urls.verify(resource, query, "r", START) == "ok"
    # The same seed, another start: the link does not verify there.
    assert two.env("test").sessions.registry.urls.verify(resource, query, "r", START) == "invalid"
