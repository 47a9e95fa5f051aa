"""The request hook: a client's requests are checked against the official spec."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.testclient import TestClient

from ksefcontract import client_hook
from ksefcontract.client_hook import (
    RequestContractViolation,
    api_path,
    install,
    request_problems,
    validating,
)
from tests import kit


def _request(method: str, url: str, **kwargs) -> httpx.Request:  # type: ignore[no-untyped-def]
    return httpx.Request(method, url, **kwargs)


BASE = "https://api-test.ksef.mf.gov.pl/v2"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        (f"{BASE}/tokens", "/tokens"),
        ("http://127.0.0.1:8080/api/v2/auth/challenge", "/auth/challenge"),
        ("http://testserver/demo/v2/limits/context", "/limits/context"),
        ("http://127.0.0.1:8080/_mock/health", None),
        ("http://127.0.0.1:8080/storage/upo/1.xml", None),
    ],
)
def test_api_path(url, path):  # type: ignore[no-untyped-def]
    assert api_path(url) == path


def test_valid_requests_pass(spec):
    assert request_problems(spec, _request("POST", f"{BASE}/auth/challenge")) == []
    ok = _request(
        "POST",
        f"{BASE}/tokens",
        json={"permissions": ["InvoiceRead"], "description": "Token testowy"},
    )
    assert request_problems(spec, ok) == []
    listing = _request(
        "GET", f"{BASE}/tokens", params={"pageSize": "10", "status": ["Active", "Pending"]}
    )
    assert request_problems(spec, listing) == []
    xml = _request(
        "POST",
        f"{BASE}/auth/xades-signature",
        content=b"<a/>",
        headers={"Content-Type": "application/xml"},
    )
    assert request_problems(spec, xml) == []


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (_request("GET", f"{BASE}/nothing/here"), "no official operation"),
        (_request("PATCH", f"{BASE}/tokens"), "no official operation"),
        (_request("GET", f"{BASE}/tokens", params={"pageSize": "5"}), "query 'pageSize'"),
        (_request("GET", f"{BASE}/tokens", params={"pageSize": "ten"}), "query 'pageSize'"),
        (_request("GET", f"{BASE}/tokens", params={"colour": "red"}), "'colour' is not declared"),
        (_request("GET", f"{BASE}/sessions"), "'sessionType' is missing"),
        (_request("POST", f"{BASE}/tokens", json={"permissions": ["Nope"]}), "body"),
        (_request("POST", f"{BASE}/tokens"), "body is required"),
        (
            _request(
                "POST", f"{BASE}/tokens", content=b"{}", headers={"Content-Type": "text/plain"}
            ),
            "content type 'text/plain'",
        ),
        (_request("POST", f"{BASE}/auth/challenge", json={"x": 1}), "takes no body"),
        (
            _request(
                "POST",
                f"{BASE}/auth/xades-signature",
                content=b"<a>",
                headers={"Content-Type": "application/xml"},
            ),
            "well-formed",
        ),
        (
            _request(
                "POST",
                f"{BASE}/tokens",
                json={"Permissions": ["invoiceread"], "description": "Token testowy"},
            ),
            "official property names",
        ),
        (_request("GET", f"{BASE}/tokens/short"), "path 'referenceNumber'"),
    ],
)
def test_invalid_requests_are_reported(spec, request_, fragment):  # type: ignore[no-untyped-def]
    problems = request_problems(spec, request_)
    assert problems and any(fragment in p for p in problems), problems


def test_query_values_are_typed_as_the_mock_types_them(spec, monkeypatch):  # type: ignore[no-untyped-def]
    # One typing of query strings, mockksef's public query_value, not a second copy.
    from mockksef.http import endpoint

    seen: list[list[str]] = []

    def spy(schema, values):  # type: ignore[no-untyped-def]
        seen.append(values)
        return endpoint.query_value(schema, values)

    monkeypatch.setattr(client_hook, "query_value", spy)
    listing = _request("GET", f"{BASE}/tokens", params={"pageSize": "10", "status": ["Active"]})
    assert request_problems(spec, listing) == []
    assert sorted(seen) == [["10"], ["Active"]]


def test_schemas_are_resolved_as_the_mock_resolves_them(spec, monkeypatch):  # type: ignore[no-untyped-def]
    # One $ref/allOf resolution, mockksef's public resolved_schema, not a second copy.
    from mockksef.http import endpoint

    seen: list[dict[str, object]] = []

    def spy(spec_, schema):  # type: ignore[no-untyped-def]
        seen.append(schema)
        return endpoint.resolved_schema(spec_, schema)

    monkeypatch.setattr(client_hook, "resolved_schema", spy)
    listing = _request("GET", f"{BASE}/tokens", params={"pageSize": "10"})
    assert request_problems(spec, listing) == []
    assert request_problems(spec, _request("POST", f"{BASE}/tokens")) != []
    assert len(seen) >= 2


def test_hook_raises_from_the_client_call(spec):
    sent: list[httpx.Request] = []
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    )
    install(client, spec)
    client.post(f"{BASE}/auth/challenge")
    with pytest.raises(RequestContractViolation, match="colour"):
        client.get(f"{BASE}/tokens", params={"colour": "red"})
    assert len(sent) == 1  # the invalid request never left


def test_async_hook(spec):
    async def main() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        install(client, spec)
        with pytest.raises(RequestContractViolation):
            await client.get(f"{BASE}/nothing")
        await client.post(f"{BASE}/auth/challenge")  # valid: passes
        await client.aclose()

    asyncio.run(main())


def test_validating_is_scoped_and_not_nested(spec):
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    with validating(client, spec):
        with validating(client, spec):
            assert len(client.event_hooks["request"]) == 1
        with pytest.raises(RequestContractViolation):
            client.get(f"{BASE}/nothing")
    assert client.event_hooks["request"] == []
    client.get(f"{BASE}/nothing")  # outside the block: deliberately bad requests may pass


def test_the_test_flows_validate_their_requests(make_mock, monkeypatch):  # type: ignore[no-untyped-def]
    app, _ = make_mock()
    client = TestClient(app, base_url="http://testserver/v2")
    seen: list[str] = []
    real = client_hook.request_problems

    def spy(spec, request):  # type: ignore[no-untyped-def]
        seen.append(f"{request.method} {api_path(request.url)}")
        return real(spec, request)

    monkeypatch.setattr(client_hook, "request_problems", spy)
    kit.xades_login(client, "5265877635")
    assert seen[:2] == ["POST /auth/challenge", "POST /auth/xades-signature"]
    assert "POST /auth/token/redeem" in seen
    # The hook is gone after the flow: the client is free for bad-input tests.
    assert not any(getattr(h, "ksef_contract_hook", False) for h in client.event_hooks["request"])
