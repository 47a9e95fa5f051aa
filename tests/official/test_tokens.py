"""KSeF tokens as the official suites use them on TEST.

Sources: CIRFMF/ksef-client-csharp 2.6.1 (ce49441, 2026-06-15) E2E/KsefToken/KsefTokenE2ETests.cs;
CIRFMF/ksef-client-java 3.0.24 (fff86ab, 2026-04-22) KsefTokenIntegrationTest.
"""

from __future__ import annotations

from tests import kit
from tests.official.conftest import NIP

RW = ["InvoiceRead", "InvoiceWrite"]


def test_token_caller_reads_a_sibling_token(client, owner):  # type: ignore[no-untyped-def]
    """csharp When_KsefTokensAreActive_ThenTryToRevokeOneWithAnother_ShouldThrowKsefApiException
    (lines 165-175): authenticated with token 2 (InvoiceRead+InvoiceWrite, no CredentialsRead),
    GET /tokens/{token 1} of the same context and author succeeds."""
    first = kit.create_ksef_token(client, owner, RW, "E2E token")
    second = kit.create_ksef_token(client, owner, RW, "E2E token")
    caller = kit.token_login(client, second["token"], NIP)
    response = client.get(f"/tokens/{first['referenceNumber']}", headers=caller.headers)
    assert response.status_code == 200
    assert response.json()["referenceNumber"] == first["referenceNumber"]


def test_token_caller_cannot_revoke_a_sibling_token(client, owner):  # type: ignore[no-untyped-def]
    """Same csharp test, lines 148-151: DELETE /tokens/{token 1} with token 2's access token
    fails; the owner revokes it afterwards and the caller reads it as Revoked."""
    first = kit.create_ksef_token(client, owner, RW, "E2E token")
    second = kit.create_ksef_token(client, owner, RW, "E2E token")
    caller = kit.token_login(client, second["token"], NIP)
    reference = first["referenceNumber"]
    assert client.delete(f"/tokens/{reference}", headers=caller.headers).status_code >= 400
    assert client.delete(f"/tokens/{reference}", headers=owner.headers).status_code == 204
    status = client.get(f"/tokens/{reference}", headers=caller.headers).json()["status"]
    assert status in ("Revoking", "Revoked")


def test_token_revokes_itself_without_credentials_manage(client, owner, mock):  # type: ignore[no-untyped-def]
    """csharp KsefToken_SelfRevoke_WithoutCredentialsManage_ShouldSucceed (lines 202-252)."""
    token = kit.create_ksef_token(client, owner, RW, "Self-revoke E2E token")
    caller = kit.token_login(client, token["token"], NIP)
    reference = token["referenceNumber"]
    assert client.delete(f"/tokens/{reference}", headers=caller.headers).status_code == 204
    mock.clock.advance(60)
    assert client.get(f"/tokens/{reference}", headers=owner.headers).json()["status"] == "Revoked"


def test_token_reads_itself_and_lists_itself(client, owner):  # type: ignore[no-untyped-def]
    """csharp KsefToken_GetSelf_WithoutCredentialsManage_ShouldSucceed (lines 300-308) and
    KsefToken_QuerySelf_WithoutCredentialsManage_ShouldReturnOwnToken (lines 362-371)."""
    token = kit.create_ksef_token(client, owner, RW, "Self-get E2E token")
    caller = kit.token_login(client, token["token"], NIP)
    own = client.get(f"/tokens/{token['referenceNumber']}", headers=caller.headers).json()
    assert (own["referenceNumber"], own["status"], own["description"]) == (
        token["referenceNumber"],
        "Active",
        "Self-get E2E token",
    )
    listed = client.get("/tokens", headers=caller.headers).json()["tokens"]
    assert token["referenceNumber"] in [t["referenceNumber"] for t in listed]


def test_status_and_description_filters(client, owner):  # type: ignore[no-untyped-def]
    """java KsefTokenIntegrationTest.checkGenerateTokenTest (lines 47-108): three tokens ->
    status=Active lists 3; after revoking one, 2. csharp
    KsefTokensAsync_GenerateAndFilter_Positive (lines 501-505): the description filter
    "E2E token - 2" finds exactly that one."""
    made = [
        kit.create_ksef_token(client, owner, [*RW, "CredentialsRead"], f"E2E token - {i}")
        for i in range(3)
    ]

    def active() -> int:
        page = client.get("/tokens", params={"status": "Active"}, headers=owner.headers).json()
        return len(page["tokens"])

    assert active() == 3
    client.delete(f"/tokens/{made[0]['referenceNumber']}", headers=owner.headers)
    assert active() == 2
    found = client.get("/tokens", params={"description": "E2E token - 2"}, headers=owner.headers)
    assert [t["description"] for t in found.json()["tokens"]] == ["E2E token - 2"]
