"""Authentication, JWT claims and auth sessions as the official suites see them on KSeF TEST.

Sources: CIRFMF/ksef-client-csharp 2.6.1 (commit ce49441, 2026-06-15) and
CIRFMF/ksef-client-java 3.0.24 (commit fff86ab, 2026-04-22).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ksefclient.xades import personal_certificate
from tests import kit
from tests.official.conftest import NIP, PROBLEM, claims, legacy_details, login

STATUS_425 = "Status uwierzytelnienia (425) nie pozwala na odświeżenie tokenu dostępowego."


def test_access_token_has_no_ipp_claim_without_ip_policy(lane):  # type: ignore[no-untyped-def]
    """csharp KSeF.Client.Tests.Core/E2E/Authorization/AuthorizationE2ETests.cs
    AuthAsyncFullIntegrationFlowReturnsAccessToken, line 32: ``Assert.Null(personToken.IpPolicy)``.
    ``PersonTokenService`` deserialises the ``ipp`` claim; ``"{}"`` would give a non-null policy."""
    client, _ = lane
    assert "ipp" not in claims(login(client, NIP).access_token)


def test_access_token_claims_as_the_csharp_token_service_reads_them(client):  # type: ignore[no-untyped-def]
    """csharp AuthorizationE2ETests.AuthAsyncFullIntegrationFlowReturnsAccessToken (lines 30-48)
    and PersonPermissions_OwnerNip_MyPermissions_E2ETests.cs lines 70-75: iss/aud/iat/exp,
    ``typ`` = ContextToken, ``cit`` = Nip, ``civ`` = the NIP, ``aum``, ``arn``, ``sud``;
    ``per``/``pec``/``rol``/``pep`` are JSON-encoded string arrays and ``per`` holds Owner."""
    token = claims(login(client, NIP).access_token)
    assert token["iss"] and token["aud"]
    assert isinstance(token["iat"], int) and isinstance(token["exp"], int)
    assert token["typ"] == "ContextToken"
    assert (token["cit"], token["civ"]) == ("Nip", NIP)
    assert token["aum"] and token["arn"].split("-")[1] == "AU"
    assert json.loads(token["sud"])["SubjectIdentifier"] == {"Type": "Nip", "Value": NIP}
    for name in ("per", "pec", "rol", "pep"):
        assert isinstance(token[name], str) and isinstance(json.loads(token[name]), list)
    assert "owner" in {p.lower() for p in json.loads(token["per"])}


def test_refresh_returns_a_new_access_token_every_time(client):  # type: ignore[no-untyped-def]
    """csharp E2E/Authorization/Sessions/SessionE2ETests.cs
    RefreshAccessTokenAsyncWithRefreshTokenReturnsNewAccessToken (line 142) and java
    AuthorizationIntegrationTest.refreshTokenE2EIntegrationTest (line 70): the refreshed
    access token differs from the initial one; the suites refresh at once (same second)."""
    session = login(client, NIP)
    refreshed = [
        client.post("/auth/token/refresh", headers=kit.bearer(session.refresh_token))
        for _ in range(2)
    ]
    assert [r.status_code for r in refreshed] == [200, 200]
    tokens = {session.access_token, *(r.json()["accessToken"]["token"] for r in refreshed)}
    assert len(tokens) == 3


def test_auth_sessions_list_marks_current_and_reports_qualified_signature(client):  # type: ignore[no-untyped-def]
    """csharp SessionE2ETests.GetActiveSessionsAsyncListActiveSessionsReturnsAtLeastOneWithCurrent
    (lines 37-72): the caller's session isCurrent, a self-signed TINPL certificate is
    reported as QualifiedSignature, isTokenRedeemed true, refreshTokenValidUntil set,
    lastTokenRefreshDate null when never refreshed."""
    session = login(client, NIP)
    response = client.get("/auth/sessions", params={"pageSize": 20}, headers=session.headers)
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert item["isCurrent"] is True and item["referenceNumber"] == session.reference_number
    assert item["authenticationMethod"] == "QualifiedSignature"
    assert item["isTokenRedeemed"] is True and item["refreshTokenValidUntil"]
    assert item.get("lastTokenRefreshDate") is None


def test_revoke_current_session_then_refresh_is_21301_status_425(client):  # type: ignore[no-untyped-def]
    """java SessionIntegrationTest.createSessionSearchSessionAndRevokeCurrentSession (lines 43-81)
    and csharp SessionE2ETests (expected message at line 17: 21301 "Brak autoryzacji." with
    the detail that status 425 does not allow refreshing): after DELETE /auth/sessions/current
    the list is empty for the still valid access token and refresh fails with that 400."""
    session = login(client, NIP)
    assert client.delete("/auth/sessions/current", headers=session.headers).status_code == 204
    listed = client.get("/auth/sessions", headers=session.headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
    refused = client.post(
        "/auth/token/refresh", headers={**kit.bearer(session.refresh_token), **PROBLEM}
    )
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert (error["code"], error["description"]) == (21301, "Brak autoryzacji.")
    assert error["details"] == [STATUS_425]


def test_revoke_current_session_with_the_refresh_token(client):  # type: ignore[no-untyped-def]
    """csharp SessionE2ETests.RevokeCurrentSessionAsyncRevokeByRefreshTokenRefreshFailsWth21304Code
    (lines 82-94, [InlineData] of the refresh token): DELETE /auth/sessions/current also takes
    the refresh token, after which refresh is 21301 with the status 425 detail."""
    session = login(client, NIP)
    revoked = client.delete("/auth/sessions/current", headers=kit.bearer(session.refresh_token))
    assert revoked.status_code == 204
    refused = client.post("/auth/token/refresh", headers=kit.bearer(session.refresh_token))
    assert refused.status_code == 400
    (detail,) = legacy_details(refused)
    assert (detail["exceptionCode"], detail["details"]) == (21301, [STATUS_425])


def test_two_sessions_listed_and_revoking_the_other_one(client):  # type: ignore[no-untyped-def]
    """java SessionIntegrationTest.createSecondSessionAndRevokeSessionByReferenceNumber
    (lines 84-136) and csharp SessionE2ETests.RevokeSessionAsyncRevokeByReferenceNumberTarget
    RefreshFailsWith401 (lines 101-120): a second login of the same subject and context gives
    2 items, only the caller's current; DELETE /auth/sessions/{ref} leaves 1 and ends the
    other's refresh."""
    first = login(client, NIP, seal=True)
    second = login(client, NIP, seal=True)
    items = client.get("/auth/sessions", headers=first.headers).json()["items"]
    assert {i["referenceNumber"]: i["isCurrent"] for i in items} == {
        first.reference_number: True,
        second.reference_number: False,
    }
    revoked = client.delete(f"/auth/sessions/{second.reference_number}", headers=first.headers)
    assert revoked.status_code == 204
    assert len(client.get("/auth/sessions", headers=first.headers).json()["items"]) == 1
    refused = client.post("/auth/token/refresh", headers=kit.bearer(second.refresh_token))
    assert refused.status_code == 400


def test_token_auth_status_before_redeem_has_null_refresh_fields(client, owner):  # type: ignore[no-untyped-def]
    """csharp E2E/KsefToken/KsefTokenE2ETests.cs AuthenticateWithKsefTokenAsync (lines 428-431):
    status 200, isTokenRedeemed present (false), refreshTokenValidUntil and
    lastTokenRefreshDate null."""
    token = kit.create_ksef_token(client, owner, ["InvoiceRead", "InvoiceWrite"])
    status = kit.auth_status(client, kit.token_login_init(client, token["token"], NIP))
    assert status["status"]["code"] == 200
    assert status["isTokenRedeemed"] is False
    assert status.get("refreshTokenValidUntil") is None
    assert status.get("lastTokenRefreshDate") is None


def test_token_auth_without_public_key_id(client, owner):  # type: ignore[no-untyped-def]
    """java KsefTokenIntegrationTest.tokenTest (lines 119-150): the Java request builder sends
    challenge, contextIdentifier and encryptedToken only (no publicKeyId); KSeF accepts it."""
    token = kit.create_ksef_token(
        client, owner, ["InvoiceRead", "InvoiceWrite"], "test description"
    )
    init = kit.start_token(client, token["token"], NIP, key_id=False)
    assert init.status_code == 202, init.text
    assert kit.finish(client, init.json()).access_token


def test_authentication_method_present_before_2026_11_16(client, mock):  # type: ignore[no-untyped-def]
    """csharp SessionE2ETests line 67 (2.6.1) still reads ``AuthenticationMethod`` from
    GET /auth/sessions; the field is deprecated since 2.1.0 with removal on 2026-11-16."""
    mock.clock.set(datetime(2026, 11, 15, 9, tzinfo=UTC))
    session = login(client, NIP)
    assert session.status["authenticationMethod"] == "QualifiedSignature"
    item = client.get("/auth/sessions", headers=session.headers).json()["items"][0]
    assert item["authenticationMethod"] == "QualifiedSignature"


def test_authentication_method_gone_after_2026_11_16(client, mock):  # type: ignore[no-untyped-def]
    """Issue 12 and the spec's deprecation note on ``authenticationMethod`` (removal planned for
    2026-11-16, reference A §2.7): by the Clock, from that day GET /auth/{ref} and
    GET /auth/sessions carry only ``authenticationMethodInfo``."""
    mock.clock.set(datetime(2026, 11, 16, 0, 0, 1, tzinfo=UTC))
    session = login(client, NIP)
    assert "authenticationMethod" not in session.status
    assert session.status["authenticationMethodInfo"]["category"] == "XadesSignature"
    item = client.get("/auth/sessions", headers=session.headers).json()["items"][0]
    assert "authenticationMethod" not in item
    assert item["authenticationMethodInfo"]["code"]


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_xades_login_with_rsa_and_ecdsa_keys(client, mock, key_type):  # type: ignore[no-untyped-def]
    """csharp AuthorizationE2ETests.AuthAsyncFullIntegrationFlowReturnsAccessToken
    [InlineData(Rsa)] [InlineData(ECDsa)] and java AuthorizationIntegrationTest
    .refreshTokenE2EIntegrationTest (EncryptionMethod.ECDSA): both key types authenticate."""
    credentials = personal_certificate(
        nip=NIP, key_type=key_type, not_before=mock.clock.now() - timedelta(days=1)
    )
    assert kit.xades_login(client, NIP, credentials).refresh_token
