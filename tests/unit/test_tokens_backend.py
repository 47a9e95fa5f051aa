"""TokensBackend without HTTP: format, secret handling, lifecycle on the clock, auth checks."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mockksef.clock import Clock
from mockksef.errors import Forbidden, InvalidInputData, KsefError, MissingPermissions
from mockksef.models import ContextIdentifier, Principal, SubjectIdentifier
from mockksef.services.subjects import Person
from mockksef.services.tokens.models import TokenAuthError
from mockksef.state import MockState

NIP = "5265877635"
OTHER = "7762811692"
PESEL = "15062788702"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CTX = ContextIdentifier("Nip", NIP)
BODY = {
    "permissions": ["InvoiceRead", "InvoiceWrite"],
    "description": "Wystawianie i przeglądanie faktur.",
}


def principal(
    subject: SubjectIdentifier | None = None,
    context: ContextIdentifier = CTX,
    permissions: tuple[str, ...] = ("Owner",),
    token_ref: str | None = None,
) -> Principal:
    return Principal(
        token_type="ContextToken",
        reference_number="20260302-AU-0000000000-0000000000-00",
        expires_at=T0 + timedelta(minutes=15),
        context=context,
        subject=subject or SubjectIdentifier("Nip", NIP),
        auth_method="Token" if token_ref else "QualifiedSeal",
        permissions=frozenset(permissions),
        ksef_token_reference=token_ref,
    )


def delayed_env(mock: MockState, spec, seconds: float):  # type: ignore[no-untyped-def]
    state = MockState(
        replace(mock.config, token_activation_seconds=seconds), spec=spec, clock=Clock.virtual(T0)
    )
    return state, state.env("TEST")


def test_token_format_and_secret_stored_only_as_hash(env):  # type: ignore[no-untyped-def]
    result = env.tokens.generate(principal(), BODY, T0)
    ref, token = result["referenceNumber"], result["token"]
    assert re.fullmatch(rf"{ref}\|nip-{NIP}\|[0-9a-f]{{64}}", token)
    assert "-EC-" in ref and len(token) <= 160
    secret = token.rsplit("|", 1)[1]
    stored = env.tokens.tokens[ref]
    assert secret not in repr(vars(stored))
    assert stored.author == SubjectIdentifier("Nip", NIP) and stored.context == CTX
    # Listing never returns the secret.
    listing = env.tokens.list_tokens(principal(), {}, None, T0)
    assert secret not in str(listing)


def test_internal_id_token_prefix(env):  # type: ignore[no-untyped-def]
    ctx = ContextIdentifier("InternalId", f"{NIP}-12345")
    token = env.tokens.generate(
        principal(context=ctx, permissions=("CredentialsManage",)),
        {**BODY, "permissions": ["CredentialsManage"]},
        T0,
    )["token"]
    assert f"|internalId-{NIP}-12345|" in token


def test_26002_outside_nip_or_internal_id(env):  # type: ignore[no-untyped-def]
    ctx = ContextIdentifier("NipVatUe", f"{NIP}-DE123456789")
    with pytest.raises(KsefError) as info:
        env.tokens.generate(
            principal(context=ctx, permissions=("InvoiceRead",)),
            {**BODY, "permissions": ["InvoiceRead"]},
            T0,
        )
    assert info.value.code == 26002
    assert "NipVatUe" in info.value.errors[0].details[0]


def test_26001_lists_missing_permissions(env):  # type: ignore[no-untyped-def]
    with pytest.raises(KsefError) as info:
        env.tokens.generate(
            principal(permissions=("InvoiceRead",)),
            {**BODY, "permissions": ["InvoiceRead", "CredentialsManage"]},
            T0,
        )
    assert info.value.code == 26001
    assert "CredentialsManage" in info.value.errors[0].details[0]
    assert "InvoiceRead" not in info.value.errors[0].details[0]
    # Owner does not imply EnforcementOperations.
    with pytest.raises(KsefError):
        env.tokens.generate(principal(), {**BODY, "permissions": ["EnforcementOperations"]}, T0)


def test_pending_to_active_on_the_clock(mock, spec):  # type: ignore[no-untyped-def]
    state, env = delayed_env(mock, spec, 2)
    result = env.tokens.generate(principal(), BODY, T0)
    ref = result["referenceNumber"]
    assert env.tokens.get(principal(), ref, T0)["status"] == "Pending"
    with pytest.raises(TokenAuthError) as info:
        env.tokens.authenticate(result["token"], CTX)
    assert info.value.detail == "Token nieaktywny"
    state.clock.advance(2)
    assert env.tokens.get(principal(), ref, state.clock.now())["status"] == "Active"
    assert env.tokens.authenticate(result["token"], CTX).reference_number == ref


def test_revoking_then_revoked(mock, spec):  # type: ignore[no-untyped-def]
    state, env = delayed_env(mock, spec, 3)
    result = env.tokens.generate(principal(), BODY, T0)
    ref = result["referenceNumber"]
    state.clock.advance(3)
    env.tokens.revoke(principal(), ref, state.clock.now())
    assert env.tokens.get(principal(), ref, state.clock.now())["status"] == "Revoking"
    assert env.tokens.is_revoked(ref)
    with pytest.raises(TokenAuthError) as info:
        env.tokens.authenticate(result["token"], CTX)
    assert info.value.detail == "Token unieważniony"
    state.clock.advance(3)
    assert env.tokens.get(principal(), ref, state.clock.now())["status"] == "Revoked"


def test_revoke_with_zero_delay_is_immediate(env):  # type: ignore[no-untyped-def]
    ref = env.tokens.generate(principal(), BODY, T0)["referenceNumber"]
    assert env.tokens.get(principal(), ref, T0)["status"] == "Active"
    env.tokens.revoke(principal(), ref, T0)
    assert env.tokens.get(principal(), ref, T0)["status"] == "Revoked"


def test_authenticate_errors(env):  # type: ignore[no-untyped-def]
    result = env.tokens.generate(principal(), BODY, T0)
    token = result["token"]
    assert env.tokens.authenticate(token, CTX).status == "Active"
    for bad in ["garbage", "a|b|c", token.replace("|nip-", "|vat-"), token[:-1]]:
        with pytest.raises(TokenAuthError) as info:
            env.tokens.authenticate(bad, CTX)
        assert info.value.detail == "Nieprawidłowe kodowanie tokena"
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    with pytest.raises(TokenAuthError) as info:
        env.tokens.authenticate(forged, CTX)
    assert info.value.detail == "Nieprawidłowy token"
    with pytest.raises(TokenAuthError) as info:
        env.tokens.authenticate(token, ContextIdentifier("Nip", OTHER))
    assert info.value.detail == f"Token nie może być użyty w kontekście {OTHER}"
    env.tokens.fail(result["referenceNumber"], ["Błąd aktywacji"])
    with pytest.raises(TokenAuthError) as info:
        env.tokens.authenticate(token, CTX)
    assert info.value.detail == "Token nieaktywny"
    assert env.tokens.get(principal(), result["referenceNumber"], T0)["statusDetails"] == [
        "Błąd aktywacji"
    ]


def test_mark_used_and_token_permissions(env):  # type: ignore[no-untyped-def]
    result = env.tokens.generate(principal(), BODY, T0)
    token = env.tokens.authenticate(result["token"], CTX)
    assert env.tokens.token_permissions(token) == {"InvoiceRead", "InvoiceWrite"}
    env.tokens.mark_used(token.reference_number, T0 + timedelta(minutes=1))
    assert env.tokens.get(principal(), token.reference_number, T0)["lastUseDate"].startswith(
        "2026-03-02T09:01:00"
    )
    # A PESEL author who loses the NIP–PESEL link loses its permissions: the token is useless.
    env.subjects.persons[NIP] = Person(NIP, PESEL, "Jan", False, False, T0)
    pesel = SubjectIdentifier("Pesel", PESEL)
    t2 = env.tokens.generate(principal(subject=pesel), BODY, T0)
    tok2 = env.tokens.authenticate(t2["token"], CTX)
    assert env.tokens.token_permissions(tok2) == {"InvoiceRead", "InvoiceWrite"}
    del env.subjects.persons[NIP]
    assert env.tokens.token_permissions(tok2) == frozenset()


def test_visibility_rules(env):  # type: ignore[no-untyped-def]
    env.subjects.persons[NIP] = Person(NIP, PESEL, "Jan", False, False, T0)
    mine = env.tokens.generate(principal(), BODY, T0)["referenceNumber"]
    by_pesel = env.tokens.generate(
        principal(subject=SubjectIdentifier("Pesel", PESEL)), BODY, T0 + timedelta(seconds=1)
    )["referenceNumber"]
    stranger = SubjectIdentifier("Pesel", "22271569167")
    theirs = env.tokens.generate(
        principal(subject=stranger, permissions=("InvoiceRead", "InvoiceWrite")),
        BODY,
        T0 + timedelta(seconds=2),
    )["referenceNumber"]

    def refs(me: Principal) -> list[str]:
        return [t["referenceNumber"] for t in env.tokens.list_tokens(me, {}, None, T0)["tokens"]]

    # CredentialsRead/Manage: all, newest first.
    assert refs(principal()) == [theirs, by_pesel, mine]
    # No credentials permission: own tokens incl. NIP–PESEL link.
    plain = principal(permissions=("InvoiceRead",))
    assert refs(plain) == [by_pesel, mine]
    # Token-authenticated: only the token used.
    assert refs(principal(subject=stranger, permissions=("InvoiceRead",), token_ref=theirs)) == [
        theirs
    ]
    # Another context sees nothing, and a single GET says "not found".
    other = principal(
        subject=SubjectIdentifier("Nip", OTHER), context=ContextIdentifier("Nip", OTHER)
    )
    assert refs(other) == []
    with pytest.raises(InvalidInputData):
        env.tokens.get(other, mine, T0)
    # Existing but invisible: 403.
    with pytest.raises(Forbidden) as info:
        env.tokens.get(plain, theirs, T0)
    assert info.value.reason_code == "insufficient-resource-access"
    with pytest.raises(InvalidInputData) as unknown:
        env.tokens.get(principal(), "20260302-EC-0000000000-0000000000-00", T0)
    assert "nie został znaleziony" in unknown.value.errors[0].details[0]


def test_revoke_rules(env):  # type: ignore[no-untyped-def]
    stranger = SubjectIdentifier("Pesel", "22271569167")
    mine = env.tokens.generate(principal(), BODY, T0)["referenceNumber"]
    theirs = env.tokens.generate(
        principal(subject=stranger, permissions=("InvoiceRead", "InvoiceWrite")), BODY, T0
    )["referenceNumber"]
    # A token caller without CredentialsManage can revoke only the token it used.
    token_caller = principal(subject=stranger, permissions=("InvoiceRead",), token_ref=theirs)
    with pytest.raises(MissingPermissions) as info:
        env.tokens.revoke(token_caller, mine, T0)
    assert info.value.security == {
        "requiredAnyOfPermissions": ["CredentialsManage"],
        "presentPermissions": ["InvoiceRead"],
    }
    env.tokens.revoke(token_caller, theirs, T0)
    assert env.tokens.is_revoked(theirs)
    # CredentialsManage revokes anyone's token.
    env.tokens.revoke(principal(permissions=("CredentialsManage",), subject=stranger), mine, T0)
    assert env.tokens.is_revoked(mine)
    assert not env.tokens.is_revoked("20260302-EC-0000000000-0000000000-00")


def test_list_filters_and_continuation(env):  # type: ignore[no-untyped-def]
    refs = []
    for i in range(12):
        body = {"permissions": ["InvoiceRead"], "description": f"Token numer {i:02d}"}
        refs.append(
            env.tokens.generate(principal(), body, T0 + timedelta(seconds=i))["referenceNumber"]
        )
    first = env.tokens.list_tokens(principal(), {"pageSize": 10}, None, T0)
    assert [t["referenceNumber"] for t in first["tokens"]] == refs[::-1][:10]
    second = env.tokens.list_tokens(principal(), {"pageSize": 10}, first["continuationToken"], T0)
    assert [t["referenceNumber"] for t in second["tokens"]] == refs[::-1][10:]
    assert "continuationToken" not in second
    assert [
        t["description"]
        for t in env.tokens.list_tokens(principal(), {"description": "NUMER 03"}, None, T0)[
            "tokens"
        ]
    ] == ["Token numer 03"]
    env.tokens.revoke(principal(), refs[0], T0)
    assert [
        t["referenceNumber"]
        for t in env.tokens.list_tokens(principal(), {"status": ["Revoked"]}, None, T0)["tokens"]
    ] == [refs[0]]
    assert (
        len(
            env.tokens.list_tokens(
                principal(),
                {"authorIdentifier": "877", "authorIdentifierType": "Nip", "pageSize": 100},
                None,
                T0,
            )["tokens"]
        )
        == 12
    )
    assert (
        env.tokens.list_tokens(principal(), {"authorIdentifierType": "Pesel"}, None, T0)["tokens"]
        == []
    )
    for bad in ["not-base64!", "bm90IGpzb24=", "e30="]:
        with pytest.raises(KsefError) as info:
            env.tokens.list_tokens(principal(), {}, bad, T0)
        assert info.value.code == 21418
