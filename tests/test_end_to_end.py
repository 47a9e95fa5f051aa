"""The issue's end-to-end story, in-process and over a real uvicorn socket.

XAdES with a freshly generated self-signed certificate for a random NIP ->
KSeF token with chosen permissions -> Active -> authenticate with it ->
refresh -> list and revoke sessions and tokens -> the revoked credentials fail
the way KSeF fails.
"""

from __future__ import annotations

from tests.kit import (
    bearer,
    create_ksef_token,
    random_nip,
    token_login,
    token_login_init,
    xades_login,
)


def test_xades_then_ksef_token_lifecycle(lane):
    client, mock = lane
    nip = random_nip(42)
    owner = xades_login(client, nip)
    assert owner.status["authenticationMethod"] == "QualifiedSignature"

    created = create_ksef_token(
        client, owner, ["InvoiceRead", "InvoiceWrite"], "Token do integracji ERP"
    )
    ref, token = created["referenceNumber"], created["token"]
    assert token.startswith(f"{ref}|nip-{nip}|")
    # Pending until the activation delay has passed on the clock (immediate by default).
    mock.clock.advance(1)
    status = client.get(f"/tokens/{ref}", headers=owner.headers).json()
    assert status["status"] == "Active"
    assert status["requestedPermissions"] == ["InvoiceRead", "InvoiceWrite"]

    by_token = token_login(client, token, nip)
    assert by_token.status["authenticationMethod"] == "Token"

    refreshed = client.post("/auth/token/refresh", headers=bearer(by_token.refresh_token))
    assert refreshed.status_code == 200, refreshed.text
    assert set(refreshed.json()) == {"accessToken"}

    sessions = client.get("/auth/sessions", headers=owner.headers)
    assert sessions.status_code == 200, sessions.text
    items = sessions.json()["items"]
    assert any(i["referenceNumber"] == owner.reference_number and i["isCurrent"] for i in items)

    # Revoke the token session: its refresh token dies, its access token lives until exp.
    revoked = client.delete("/auth/sessions/current", headers=bearer(by_token.access_token))
    assert revoked.status_code == 204
    again = client.post("/auth/token/refresh", headers=bearer(by_token.refresh_token))
    assert again.status_code == 400
    detail = again.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionCode"] == 21301
    assert detail["details"] == [
        "Status uwierzytelnienia (425) nie pozwala na odświeżenie tokenu dostępowego."
    ]
    assert client.get(f"/tokens/{ref}", headers=bearer(by_token.access_token)).status_code == 200

    # Revoke the KSeF token: a new authentication with it ends in 450.
    assert client.delete(f"/tokens/{ref}", headers=owner.headers).status_code == 204
    mock.clock.advance(1)
    assert client.get(f"/tokens/{ref}", headers=owner.headers).json()["status"] == "Revoked"
    init = token_login_init(client, token, nip)
    status = client.get(
        f"/auth/{init['referenceNumber']}", headers=bearer(init["authenticationToken"]["token"])
    ).json()
    assert status["status"]["code"] == 450
    assert status["status"]["details"] == ["Token unieważniony"]

    # Listing tokens shows the revoked one.
    listed = client.get("/tokens", headers=owner.headers, params={"status": "Revoked"}).json()
    assert [t["referenceNumber"] for t in listed["tokens"]] == [ref]


def test_credentials_stay_in_their_context_and_environment(lane):
    client, mock = lane
    first, second = random_nip(1), random_nip(2)
    a = xades_login(client, first)
    b = xades_login(client, second)
    token_a = create_ksef_token(client, a, ["InvoiceRead"])
    # B cannot see A's token: a token is only ever visible in its own context.
    response = client.get(f"/tokens/{token_a['referenceNumber']}", headers=b.headers)
    assert response.status_code == 400
    assert client.get("/tokens", headers=b.headers).json()["tokens"] == []
    # A TEST access token is unknown to DEMO and PROD.
    base = str(client.base_url).rstrip("/")
    root = base[: -len("/v2")]
    for env in ("demo", "prod"):
        foreign = client.get(f"{root}/{env}/v2/tokens", headers=a.headers)
        assert foreign.status_code == 401
        assert foreign.headers["content-type"] == "application/problem+json"


def test_reset_kills_every_earlier_credential(lane):
    client, mock = lane
    nip = random_nip(7)
    owner = xades_login(client, nip)
    token = create_ksef_token(client, owner, ["InvoiceRead"])["token"]
    mock.reset("test")
    assert client.get("/tokens", headers=owner.headers).status_code == 401
    assert (
        client.post("/auth/token/refresh", headers=bearer(owner.refresh_token)).status_code == 401
    )
    init = token_login_init(client, token, nip)
    status = client.get(
        f"/auth/{init['referenceNumber']}", headers=bearer(init["authenticationToken"]["token"])
    ).json()
    assert status["status"]["code"] == 450
