"""KSeF tokens over HTTP: /tokens, /tokens/{referenceNumber}."""

from __future__ import annotations

import re
from datetime import timedelta

from mockksef.environments import Env
from mockksef.http.security import access_claims
from mockksef.models import ContextIdentifier, SubjectIdentifier
from tests.conftest import (
    assert_missing_permissions,
    bearer,
    legacy_codes,
    mint_access_token,
    problem_codes,
)

NIP = "5265877635"
OTHER = "7762811692"
BODY = {
    "permissions": ["InvoiceRead", "InvoiceWrite"],
    "description": "Wystawianie i przeglądanie faktur.",
}


def schema_errors(spec, method: str, path: str, status: str, body) -> list[str]:  # type: ignore[no-untyped-def]
    op = spec.operation(method, path)
    schema = op.raw["responses"][status]["content"]["application/json"]["schema"]
    return spec.validate_value(schema, body).errors


def token_caller(mock, token_ref: str, permissions=("InvoiceRead",), subject=None) -> str:  # type: ignore[no-untyped-def]
    """An access token obtained by authenticating with a KSeF token (claim ``ktr``)."""
    env = mock.env(Env.TEST)
    claims = access_claims(
        reference_number=env.rng.reference_number("AU", mock.clock.now()),
        context=ContextIdentifier("Nip", NIP),
        subject=subject or SubjectIdentifier("Nip", NIP),
        auth_method="Token",
        permissions=permissions,
        ksef_token_reference=token_ref,
    )
    return env.jwt.issue(claims, timedelta(minutes=15))[0]


def generate(client, token: str, body=BODY):  # type: ignore[no-untyped-def]
    return client.post("/tokens", json=body, headers=bearer(token))


def test_generate_get_and_schema(client, mock, spec):  # type: ignore[no-untyped-def]
    owner = mint_access_token(mock, nip=NIP)
    response = generate(client, owner)
    assert response.status_code == 202
    body = response.json()
    assert schema_errors(spec, "POST", "/tokens", "202", body) == []
    assert re.fullmatch(rf"{body['referenceNumber']}\|nip-{NIP}\|[0-9a-f]{{64}}", body["token"])
    got = client.get(f"/tokens/{body['referenceNumber']}", headers=bearer(owner))
    assert got.status_code == 200
    item = got.json()
    assert schema_errors(spec, "GET", "/tokens/{referenceNumber}", "200", item) == []
    assert item["status"] == "Active"
    assert item["authorIdentifier"] == {"type": "Nip", "value": NIP}
    assert item["requestedPermissions"] == ["InvoiceRead", "InvoiceWrite"]
    assert "lastUseDate" not in item
    # The secret is returned once only.
    assert body["token"].rsplit("|", 1)[1] not in got.text


def test_generate_case_insensitive_enum_and_validation(client, mock):  # type: ignore[no-untyped-def]
    owner = mint_access_token(mock, nip=NIP)
    assert (
        generate(
            client, owner, {"Permissions": ["invoiceread"], "Description": "Opis tokena"}
        ).status_code
        == 202
    )
    short = generate(client, owner, {"permissions": ["InvoiceRead"], "description": "abc"})
    assert short.status_code == 400 and legacy_codes(short) == [21405]


def test_26001_and_26002(client, mock):  # type: ignore[no-untyped-def]
    reader = mint_access_token(mock, nip=NIP, permissions=("InvoiceRead",))
    response = generate(client, reader)
    assert response.status_code == 400 and legacy_codes(response) == [26001]
    detail = response.json()["exception"]["exceptionDetailList"][0]
    assert (
        detail["exceptionDescription"]
        == "Nie można nadać tokenowi uprawnień których nie posiadasz."
    )
    assert "InvoiceWrite" in detail["details"][0]
    eu = mint_access_token(
        mock,
        context=ContextIdentifier("NipVatUe", f"{NIP}-DE123456789"),
        subject=SubjectIdentifier("Fingerprint", "A" * 64),
        permissions=("InvoiceRead",),
    )
    response = client.post(
        "/tokens",
        json={**BODY, "permissions": ["InvoiceRead"]},
        headers={**bearer(eu), "X-Error-Format": "problem-details"},
    )
    assert response.status_code == 400 and problem_codes(response) == [26002]
    assert "NipVatUe" in response.json()["errors"][0]["details"][0]


def test_list_paging_continuation_and_21418(client, mock, spec):  # type: ignore[no-untyped-def]
    owner = mint_access_token(mock, nip=NIP)
    refs = []
    for i in range(11):
        refs.append(
            generate(client, owner, {**BODY, "description": f"Token numer {i}"}).json()[
                "referenceNumber"
            ]
        )
        mock.clock.advance(1)
    first = client.get("/tokens", params={"pageSize": 10}, headers=bearer(owner))
    assert first.status_code == 200
    page = first.json()
    assert schema_errors(spec, "GET", "/tokens", "200", page) == []
    assert [t["referenceNumber"] for t in page["tokens"]] == refs[::-1][:10]
    second = client.get(
        "/tokens", headers={**bearer(owner), "x-continuation-token": page["continuationToken"]}
    )
    assert [t["referenceNumber"] for t in second.json()["tokens"]] == [refs[0]]
    assert "continuationToken" not in second.json()
    bad = client.get("/tokens", headers={**bearer(owner), "x-continuation-token": "%%%"})
    assert bad.status_code == 400 and legacy_codes(bad) == [21418]
    filtered = client.get(
        "/tokens",
        params=[("status", "Active"), ("status", "pending"), ("description", "NUMER 1")],
        headers=bearer(owner),
    )
    assert sorted(t["description"] for t in filtered.json()["tokens"]) == [
        "Token numer 1",
        "Token numer 10",
    ]
    assert client.get("/tokens", params={"pageSize": 5}, headers=bearer(owner)).status_code == 400
    assert (
        client.get("/tokens", params={"description": "ab"}, headers=bearer(owner)).status_code
        == 400
    )


def test_visibility_over_http(client, mock):  # type: ignore[no-untyped-def]
    owner = mint_access_token(mock, nip=NIP)
    first = generate(client, owner).json()["referenceNumber"]
    second = generate(client, owner).json()["referenceNumber"]
    person = mint_access_token(
        mock, nip=NIP, subject=SubjectIdentifier("Nip", OTHER), permissions=("InvoiceRead",)
    )
    theirs = generate(client, person, {**BODY, "permissions": ["InvoiceRead"]})
    theirs_ref = theirs.json()["referenceNumber"]
    # A token-authenticated caller without CredentialsRead/Manage reads the tokens of its
    # own author, its siblings included (csharp KsefTokenE2ETests), and no one else's.
    caller = token_caller(mock, second)
    listed = client.get("/tokens", headers=bearer(caller)).json()["tokens"]
    assert {t["referenceNumber"] for t in listed} == {first, second}
    assert client.get(f"/tokens/{second}", headers=bearer(caller)).status_code == 200
    assert client.get(f"/tokens/{first}", headers=bearer(caller)).status_code == 200
    forbidden = client.get(f"/tokens/{theirs_ref}", headers=bearer(caller))
    assert forbidden.status_code == 403
    assert forbidden.json()["reasonCode"] == "insufficient-resource-access"
    # Another context sees nothing.
    other = mint_access_token(mock, nip=OTHER)
    assert client.get("/tokens", headers=bearer(other)).json()["tokens"] == []
    unknown = client.get(f"/tokens/{first}", headers=bearer(other))
    assert unknown.status_code == 400 and legacy_codes(unknown) == [21405]
    assert f"Token o numerze referencyjnym {first} nie został znaleziony." in unknown.text


def test_revoke_rules_over_http(client, mock):  # type: ignore[no-untyped-def]
    owner = mint_access_token(mock, nip=NIP)
    first = generate(client, owner).json()["referenceNumber"]
    second = generate(client, owner).json()["referenceNumber"]
    caller = token_caller(mock, second)
    denied = client.delete(f"/tokens/{first}", headers=bearer(caller))
    assert_missing_permissions(denied, ["CredentialsManage"], ["InvoiceRead"])
    # Self-revocation is allowed.
    done = client.delete(f"/tokens/{second}", headers=bearer(caller))
    assert done.status_code == 204 and done.content == b""
    assert client.get(f"/tokens/{second}", headers=bearer(owner)).json()["status"] == "Revoked"
    assert client.delete(f"/tokens/{first}", headers=bearer(owner)).status_code == 204
    listed = client.get("/tokens", params={"status": "Revoked"}, headers=bearer(owner)).json()[
        "tokens"
    ]
    assert {t["referenceNumber"] for t in listed} == {first, second}
    missing = client.delete("/tokens/20260302-EC-0000000000-0000000000-00", headers=bearer(owner))
    assert missing.status_code == 400 and legacy_codes(missing) == [21405]


def test_pending_then_active_and_revoking_then_revoked(client, mock):  # type: ignore[no-untyped-def]
    env = mock.env(Env.TEST)
    object.__setattr__(env, "config", _with(env.config, token_activation_seconds=2))
    owner = mint_access_token(mock, nip=NIP)
    ref = generate(client, owner).json()["referenceNumber"]
    assert client.get(f"/tokens/{ref}", headers=bearer(owner)).json()["status"] == "Pending"
    mock.clock.advance(2)
    assert client.get(f"/tokens/{ref}", headers=bearer(owner)).json()["status"] == "Active"
    client.delete(f"/tokens/{ref}", headers=bearer(owner))
    assert client.get(f"/tokens/{ref}", headers=bearer(owner)).json()["status"] == "Revoking"
    mock.clock.advance(2)
    assert client.get(f"/tokens/{ref}", headers=bearer(owner)).json()["status"] == "Revoked"


def _with(config, **changes):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(config, **changes)
