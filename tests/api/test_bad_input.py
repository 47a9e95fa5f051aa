"""Hostile input on every implemented JSON operation: always the official 400, never a 500.

The operations are taken from the routes themselves, so an area that adds an
endpoint is covered without touching this file.
"""

from __future__ import annotations

import re

import pytest

from mockksef import official
from mockksef.services import all_routes
from mockksef.spec import Spec
from tests.conftest import bearer, legacy_codes, mint_access_token

NIP = "5265877635"
ALL = ("Owner", "EnforcementOperations", "VatUeManage", "PefInvoiceWrite")


def _json_routes() -> list[tuple[str, str, str]]:
    out = []
    for route in all_routes():
        handler = getattr(route, "endpoint", None)
        method = next(iter(route.methods - {"HEAD"}))  # type: ignore[attr-defined]
        if method in ("POST", "PUT") and handler is not None:
            out.append((route.name, method, route.path))  # type: ignore[attr-defined]
    return sorted(out)


def _concrete(path: str) -> str:
    samples = {
        "referenceNumber": "20250514-AU-2DFC46C000-3AC6D5877F-D4",
        "certificateSerialNumber": "0123456789ABCDEF",
        "serialNumber": "0123456789ABCDEF",
    }
    return re.sub(r"\{([^}]+)\}", lambda m: samples.get(m.group(1), "x"), path)


_SPEC = Spec.from_dir(official.locate())
# Every implemented operation whose official request body is JSON.
BODY_ROUTES = [
    r
    for r in _json_routes()
    if (op := _SPEC.operation(r[1], r[2])) and op.request_schema("application/json")
]


@pytest.fixture
def headers(mock):
    return bearer(mint_access_token(mock, nip=NIP, permissions=ALL))


def send(client, headers, method: str, path: str, content: bytes, content_type: str):  # type: ignore[no-untyped-def]
    return client.request(
        method, _concrete(path), content=content, headers={**headers, "Content-Type": content_type}
    )


@pytest.mark.parametrize(("name", "method", "path"), BODY_ROUTES, ids=[r[0] for r in BODY_ROUTES])
def test_malformed_json_is_21001(client, headers, name, method, path):
    response = send(client, headers, method, path, b'{"a": ', "application/json")
    assert response.status_code == 400, response.text
    assert legacy_codes(response) == [21001]


@pytest.mark.parametrize(("name", "method", "path"), BODY_ROUTES, ids=[r[0] for r in BODY_ROUTES])
def test_wrong_shapes_are_21405(client, headers, name, method, path):
    # Unknown properties are ignored, as by the real (ASP.NET) server; wrong
    # top-level types never are.
    for body in ([1, 2], "text", 12):
        response = client.request(method, _concrete(path), json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        assert legacy_codes(response) == [21405], response.text


@pytest.mark.parametrize(("name", "method", "path"), BODY_ROUTES, ids=[r[0] for r in BODY_ROUTES])
def test_wrong_content_type_and_bad_encoding(client, headers, name, method, path):
    for content, content_type in (
        (b"<a/>", "application/xml"),
        (b'{"a": "\xff\xfe"}', "application/json"),
    ):
        response = send(client, headers, method, path, content, content_type)
        assert response.status_code == 400 and legacy_codes(response) == [21001], content


def test_oversized_body_is_rejected_without_reading_it_all(client, headers, mock):
    limit = mock.config.max_body_bytes
    route = next(r for r in BODY_ROUTES if r[0] == "tokens.generate")
    body = b'{"description": "' + b"a" * (limit + 10) + b'"}'
    response = client.request(
        route[1],
        _concrete(route[2]),
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and legacy_codes(response) == [21405]


def test_problem_details_on_request(client, headers):
    response = client.post(
        "/tokens",
        content=b"{",
        headers={
            **headers,
            "Content-Type": "application/json",
            "X-Error-Format": "problem-details",
        },
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["code"] == 21001 and body["instance"] == "/v2/tokens"
    assert re.fullmatch(r"[0-9a-f]{32}", body["traceId"])


def test_deeply_nested_json_is_not_a_crash(client, headers):
    name, method, path = next(r for r in BODY_ROUTES if r[0] == "tokens.generate")
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.request(
        method,
        _concrete(path),
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
