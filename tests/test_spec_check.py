"""The response checker the test clients run on every answer really checks."""

from __future__ import annotations

import httpx
import pytest

from tests.spec_check import hook, problems


def _response(
    method: str, url: str, status: int, body: bytes, media: str = "application/json"
) -> httpx.Response:
    request = httpx.Request(method, url)
    return httpx.Response(status, content=body, headers={"content-type": media}, request=request)


def test_a_conforming_answer_passes(spec):
    body = b'{"challenge":"20250514-CR-226FB7B000-3ACF9BE4C0-10","timestamp":"2025-07-11T12:23:56.0154302+00:00","timestampMs":1752236636015,"clientIp":"127.0.0.1"}'
    assert problems(spec, _response("POST", "http://t/v2/auth/challenge", 200, body)) == []


@pytest.mark.parametrize(
    ("status", "body", "media", "expected"),
    [
        (200, b'{"challenge":1}', "application/json", "challenge"),
        (201, b"{}", "application/json", "not declared"),
        (200, b"{}", "text/plain", "content type"),
    ],
)
def test_violations_are_reported(spec, status, body, media, expected):
    found = problems(spec, _response("POST", "http://t/v2/auth/challenge", status, body, media))
    assert found and expected in found[0]


def test_the_client_fixture_runs_the_hook(client):
    assert client.event_hooks["response"], "the spec hook is installed"
    with pytest.raises(AssertionError, match="violates the official spec"):
        hook(client.app.state.mock.spec)(
            _response("POST", "http://t/v2/auth/challenge", 200, b"[]")
        )
