"""Every KSeF error becomes a typed exception with code, Polish text, English and a fix."""

from __future__ import annotations

import json

import httpx
import pytest

from ksefclient import (
    ContextIdentifier,
    KsefBadRequestError,
    KsefClient,
    KsefForbiddenError,
    KsefProtocolError,
    KsefRateLimitError,
    KsefServerError,
    KsefTokenCredentials,
    KsefTransportError,
    KsefUnauthorizedError,
    RetryPolicy,
    _codes,
)
from mockksef import errors as mock_errors
from tests.client.support import NIP_A, NIP_B, Fault, Harness

LEGACY_400 = {
    "exception": {
        "exceptionDetailList": [
            {
                "exceptionCode": 21405,
                "exceptionDescription": "Błąd walidacji danych wejściowych.",
                "details": ["Wskazany kod formularza nie jest wspierany."],
            },
            {"exceptionCode": 21157, "exceptionDescription": None, "details": None},
        ],
        "serviceCode": "00-abc-def-00",
        "timestamp": "2025-10-11T12:23:56.0154302",
    }
}


def _client(handler, **kwargs) -> KsefClient:  # type: ignore[no-untyped-def]
    return KsefClient(
        base_url="http://ksef.invalid/v2",
        nip=NIP_A,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=lambda s: None,
        **kwargs,
    )


def _answer(status: int, body: object, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(), headers=headers or {})

    return handler


def test_every_mock_catalogue_code_has_an_english_explanation_and_the_same_polish_text() -> None:
    for code, entry in mock_errors.CATALOGUE.items():
        info = _codes.EXCEPTION_CODES.get(code)
        assert info is not None, f"the client has no explanation for {code}"
        assert info.polish == entry.description, code
        assert info.english and info.fix, code
    for reason, text in mock_errors.FORBIDDEN_REASONS.items():
        assert _codes.FORBIDDEN_REASONS[reason].polish == text


def test_legacy_400_body_is_parsed_with_every_code() -> None:
    client = _client(_answer(400, LEGACY_400))
    with pytest.raises(KsefBadRequestError) as caught:
        client.public_keys()
    error = caught.value
    assert error.status_code == 400
    assert error.codes == (21405, 21157)
    first, second = error.errors
    assert first.description == "Błąd walidacji danych wejściowych."
    assert first.details == ("Wskazany kod formularza nie jest wspierany.",)
    assert "validation" in first.explanation.lower() and first.fix
    # No description sent: the client's table supplies the official text.
    assert second.description == "Nieprawidłowy rozmiar części pakietu."
    assert "21405" in str(error) and "Fix:" in str(error)
    assert error.request is not None and error.response is not None


def test_problem_details_400_is_parsed() -> None:
    body = {
        "title": "Bad Request",
        "status": 400,
        "detail": "Żądanie jest nieprawidłowe.",
        "errors": [
            {"code": 21470, "description": "Przesłany identyfikator klucza…", "details": None}
        ],
    }
    with pytest.raises(KsefBadRequestError) as caught:
        _client(_answer(400, body)).public_keys()
    assert caught.value.has(21470)
    assert "rotation" in caught.value.errors[0].explanation


def test_real_mock_400_carries_code_and_official_text(harness: Harness) -> None:
    client = harness.client(NIP_A)
    with pytest.raises(KsefBadRequestError) as caught:
        client.get_token("20260302-EC-0000000000-0000000000-00")
    assert caught.value.code == 21405
    assert caught.value.errors[0].description == mock_errors.CATALOGUE[21405].description
    assert caught.value.errors[0].details  # the mock says which token


def test_403_names_the_reason_and_the_missing_permission(harness: Harness) -> None:
    owner = harness.client(NIP_A)
    generated = owner.generate_token(["InvoiceRead"], "Token tylko do odczytu")
    reader = harness.client(None, credentials=KsefTokenCredentials(generated.token))
    with pytest.raises(KsefForbiddenError) as caught:
        reader.grant_person_permissions(
            ContextIdentifier("Nip", NIP_B), ["InvoiceRead"], "Próba nadania"
        )
    error = caught.value
    assert error.status_code == 403
    assert error.reason_code == "missing-permissions"
    assert "CredentialsManage" in error.security["requiredAnyOfPermissions"]
    assert "permission" in str(error)


def test_401_without_credentials_to_recover_is_raised() -> None:
    body = {"title": "Unauthorized", "status": 401, "detail": "Wymagane jest uwierzytelnienie."}
    client = _client(_answer(401, body))
    with pytest.raises(KsefUnauthorizedError, match="Wymagane jest uwierzytelnienie"):
        client._run(client._core.call("GET", "/limits/context", auth=None))


def test_429_beyond_the_budget_keeps_retry_after() -> None:
    client = _client(
        _answer(429, {"status": {"code": 429, "details": ["za dużo"]}}, {"Retry-After": "3600"})
    )
    with pytest.raises(KsefRateLimitError) as caught:
        client.public_keys()
    assert caught.value.retry_after == 3600
    assert "za dużo" in str(caught.value)


def test_5xx_is_retried_then_raised() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502, text="bad gateway")

    sleeps: list[float] = []
    client = KsefClient(
        base_url="http://ksef.invalid/v2",
        nip=NIP_A,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=sleeps.append,
        retry=RetryPolicy(max_attempts=4, jitter=0),
    )
    with pytest.raises(KsefServerError):
        client.public_keys()
    assert len(calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_network_failure_becomes_a_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = _client(handler, retry=RetryPolicy(max_attempts=2, jitter=0))
    with pytest.raises(KsefTransportError, match="ConnectError") as caught:
        client.public_keys()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_unexpected_status_and_shapes_are_protocol_errors() -> None:
    with pytest.raises(KsefProtocolError, match="base URL"):
        _client(_answer(404, {})).public_keys()
    with pytest.raises(KsefProtocolError, match="not JSON"):
        _client(lambda r: httpx.Response(200, text="<html>")).public_keys()
    with pytest.raises(KsefProtocolError, match="shape"):
        _client(_answer(200, [{"certificate": "x"}])).public_keys()


def test_injected_faults_surface_only_as_documented_errors(harness: Harness) -> None:
    client = harness.client(NIP_A)
    harness.plan.load([Fault("status_before", 429, 600)])
    with pytest.raises(KsefRateLimitError) as caught:
        client.context_limits()
    assert caught.value.retry_after == 600


def test_a_damaged_json_answer_is_retried_as_transient() -> None:
    from ksefclient import KsefDamagedAnswerError

    answers = [
        httpx.Response(200, content=b'[{"certif', headers={"Content-Type": "application/json"}),
        httpx.Response(
            400, content=b'{"title":"Ba', headers={"Content-Type": "application/problem+json"}
        ),
        httpx.Response(200, json=[]),
    ]
    client = _client(lambda request: answers.pop(0))
    assert client.public_keys() == []  # two damaged answers, then a good one
    broken = _client(
        lambda r: httpx.Response(200, content=b"{", headers={"Content-Type": "application/json"}),
        retry=RetryPolicy(max_attempts=2, jitter=0),
    )
    with pytest.raises(KsefDamagedAnswerError):
        broken.public_keys()
