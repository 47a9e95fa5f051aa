"""Cross-cutting conventions of the real API: hosts, prefixes, casing, headers."""

from __future__ import annotations

import pytest

from tests.conftest import assert_missing_permissions, bearer, legacy_codes, mint_access_token

NIP = "5265877635"


def _root(client) -> str:  # type: ignore[no-untyped-def]
    """Scheme and host of the client's base URL, without the /v2 prefix."""
    base = str(client.base_url).rstrip("/")
    assert base.endswith("/v2")
    return base[: -len("/v2")]


@pytest.mark.parametrize(
    ("host", "env"),
    [
        ("api-test.ksef.mf.gov.pl", "test"),
        ("api-demo.ksef.mf.gov.pl", "demo"),
        ("api.ksef.mf.gov.pl", "prod"),
        ("ksef-demo.mf.gov.pl", "demo"),
    ],
)
def test_host_header_selects_the_environment(client, mock, host, env):
    token = mint_access_token(mock, nip=NIP, env=mock.env(env).env)
    response = client.get("/tokens", headers={**bearer(token), "Host": host})
    assert response.status_code == 200, response.text
    others = [e for e in ("test", "demo", "prod") if e != env]
    foreign = mint_access_token(mock, nip=NIP, env=mock.env(others[0]).env)
    assert client.get("/tokens", headers={**bearer(foreign), "Host": host}).status_code == 401


def test_testdata_is_absent_outside_test(client):
    body = {"contextIdentifier": {"type": "Nip", "value": NIP}}
    assert client.post("/testdata/context/block", json=body).status_code == 200
    root = _root(client)
    for env in ("demo", "prod"):
        assert client.post(f"{root}/{env}/v2/testdata/context/block", json=body).status_code == 404
    assert (
        client.post(
            "/testdata/context/block", json=body, headers={"Host": "api.ksef.mf.gov.pl"}
        ).status_code
        == 404
    )


def test_legacy_api_v2_prefix_serves_the_same_api(client):
    root = _root(client)
    assert client.post(f"{root}/api/v2/auth/challenge").status_code == 200
    assert client.post(f"{root}/test/api/v2/auth/challenge").status_code == 200


def test_pascal_case_properties_and_lower_case_enums_are_accepted(client, mock):
    token = mint_access_token(mock, nip=NIP)
    response = client.post(
        "/tokens",
        json={"Permissions": ["invoiceread"], "Description": "Token z C#"},
        headers=bearer(token),
    )
    assert response.status_code == 202, response.text
    ref = response.json()["referenceNumber"]
    listed = client.get(f"/tokens/{ref}", headers=bearer(token)).json()
    assert listed["requestedPermissions"] == ["InvoiceRead"]
    assert listed["description"] == "Token z C#"


def test_test_system_warning_is_echoed_on_test_only(client, mock):
    warning = {"X-Test-System-Warning": "[W1]: Zażółć gęślą jaźń".encode()}
    response = client.post("/auth/challenge", headers=warning)
    assert response.headers["X-System-Warning"] == "[W1]: Zazolc gesla jazn"
    root = _root(client)
    assert (
        "X-System-Warning"
        not in client.post(f"{root}/prod/v2/auth/challenge", headers=warning).headers
    )


def test_missing_and_malformed_bearer_is_401_problem_json(client):
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not.a.jwt"},
    ):
        response = client.get("/tokens", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "Wymagane jest uwierzytelnienie."


def test_expired_access_token_is_401(client, mock):
    token = mint_access_token(mock, nip=NIP)
    mock.clock.advance(15 * 60 + 1)
    assert client.get("/tokens", headers=bearer(token)).status_code == 401


def test_missing_permission_is_403_with_reason(client, mock):
    token = mint_access_token(mock, nip=NIP, permissions=("InvoiceRead",))
    response = client.post("/permissions/persons/grants", json={}, headers=bearer(token))
    assert_missing_permissions(response, ["CredentialsManage"], ["InvoiceRead"])


def test_ip_policy_is_enforced_on_access_tokens(client, mock):
    policy = {"allowedIps": {"ip4Addresses": ["10.1.2.3"]}}
    token = mint_access_token(mock, nip=NIP, ip_policy=policy)
    response = client.get("/tokens", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["reasonCode"] == "ip-not-allowed"
    assert response.json()["security"] == {"clientIp": "testclient"}  # TestClient's peer name


def test_invalid_query_parameters_are_21405(client, mock):
    token = mint_access_token(mock, nip=NIP)
    for params in ({"pageSize": "5"}, {"pageSize": "abc"}, {"status": "Nope"}):
        response = client.get("/tokens", params=params, headers=bearer(token))
        assert response.status_code == 400, params
        assert legacy_codes(response) == [21405]
