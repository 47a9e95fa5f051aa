"""JSON nested thousands deep is refused like any unreadable JSON, never a 500.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) on ``[[[…`` a few
thousand deep: a continuation token, an admin body and a scenario upload each
fit one in a few kilobytes. ``mockksef/untrusted.py`` is the one decoder for
what a client sends; these tests fail against a decoder that lets the
``RecursionError`` through.
"""

from __future__ import annotations

import base64

import pytest

from mockksef.untrusted import json_loads
from tests.conftest import auth_headers, legacy_codes

DEEP = b"[" * 5000 + b"]" * 5000


def test_the_decoder_turns_deep_nesting_into_a_value_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        json_loads(DEEP)
    assert json_loads(b"[[1]]") == [[1]]


def test_a_deeply_nested_continuation_token_is_an_invalid_token(client, mock):  # type: ignore[no-untyped-def]
    token = base64.b64encode(DEEP).decode("ascii")
    answer = client.get("/tokens", headers={**auth_headers(mock), "x-continuation-token": token})
    assert answer.status_code == 400 and legacy_codes(answer) == [21418]


def test_a_deeply_nested_api_body_is_unreadable_json(client, mock):  # type: ignore[no-untyped-def]
    def send(body: bytes):  # type: ignore[no-untyped-def]
        return client.post(
            "/invoices/query/metadata",
            content=body,
            headers={**auth_headers(mock), "Content-Type": "application/json"},
        )

    malformed = send(b'{"subjectType":')
    answer = send(b'{"subjectType":' + DEEP + b"}")
    assert answer.status_code == malformed.status_code == 400
    assert legacy_codes(answer) == legacy_codes(malformed) == [21001]


@pytest.mark.parametrize("path", ["/_mock/seed", "/_mock/clock", "/_mock/scenarios"])
def test_a_deeply_nested_admin_body_is_a_400(app, path):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    with TestClient(app, raise_server_exceptions=True) as admin:
        answer = admin.post(
            path, content=b'{"x":' + DEEP + b"}", headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 400
    assert "error" in answer.json()
