"""Error bodies the official suites assert on KSeF TEST: problem details, 21405 wording, 405.

Sources: CIRFMF/ksef-client-java 3.0.24 (fff86ab, 2026-04-22) ExceptionsApiIntegrationTest,
QueryInvoiceIntegrationTest, BatchIntegrationTest; CIRFMF/ksef-client-csharp 2.6.1 (ce49441).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import kit
from tests.official.conftest import NIP, PROBLEM, legacy_details, login

QUERY = {
    "subjectType": "Subject1",
    "dateRange": {
        "dateType": "Invoicing",
        "from": "2026-02-20T09:00:00Z",
        "to": "2026-03-12T09:00:00Z",
    },
}


def entity_grant(nip: str) -> dict[str, Any]:
    # The wording of the java suite's request.
    return kit.entity_grant(nip, description="description", full_name="Testowo")


def only_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    return error  # type: ignore[no-any-return]


def test_401_problem_details(client):  # type: ignore[no-untyped-def]
    """java ExceptionsApiIntegrationTest.unauthorizedTest (lines 117-131): an invalid bearer on
    POST /permissions/entities/grants -> 401, title Unauthorized, detail
    "Wymagane jest uwierzytelnienie.", instance, traceId and timestamp present."""
    response = client.post(
        "/permissions/entities/grants",
        json=entity_grant(kit.random_nip(2)),
        headers={"Authorization": "Bearer invalidToken", **PROBLEM},
    )
    assert response.status_code == 401
    body = response.json()
    assert (body["title"], body["status"]) == ("Unauthorized", 401)
    assert body["detail"] == "Wymagane jest uwierzytelnienie."
    assert body["instance"] and body["traceId"] and body["timestamp"]


def test_403_problem_details_missing_permissions(client, owner):  # type: ignore[no-untyped-def]
    """java ExceptionsApiIntegrationTest.forbiddenTest (lines 90-110): a seal of a NIP holding
    entity InvoiceRead+InvoiceWrite in the context tries to grant -> 403, reasonCode
    missing-permissions, the Polish detail, security.requiredAnyOfPermissions has
    CredentialsManage and presentPermissions InvoiceRead and InvoiceWrite."""
    subject = kit.random_nip(3)
    granted = client.post(
        "/permissions/entities/grants", json=entity_grant(subject), headers=owner.headers
    )
    assert granted.status_code == 202
    caller = login(client, NIP, subject=subject, seal=True)
    response = client.post(
        "/permissions/entities/grants",
        json=entity_grant(kit.random_nip(4)),
        headers={**caller.headers, **PROBLEM},
    )
    assert response.status_code == 403
    body = response.json()
    assert (body["title"], body["status"], body["reasonCode"]) == (
        "Forbidden",
        403,
        "missing-permissions",
    )
    assert body["detail"] == (
        "Brak wymaganych uprawnień do wykonania operacji w bieżącym kontekście."
    )
    assert body["instance"] and body["traceId"] and body["timestamp"]
    assert "CredentialsManage" in body["security"]["requiredAnyOfPermissions"]
    assert {"InvoiceRead", "InvoiceWrite"} <= set(body["security"]["presentPermissions"])


def test_21405_page_size_wording(client, owner):  # type: ignore[no-untyped-def]
    """java QueryInvoiceIntegrationTest.throwWhileSendingInvoiceMetadataRequestWithWrongPageSize
    (lines 256-266): pageSize=5 -> 400 problem details "Żądanie jest nieprawidłowe.", one
    error 21405 "Błąd walidacji danych wejściowych." whose first detail is exactly
    "'pageSize' must be between 10 and 250. You entered 5."."""
    response = client.post(
        "/invoices/query/metadata",
        params={"pageOffset": 0, "pageSize": 5, "sortOrder": "Asc"},
        json=QUERY,
        headers={**owner.headers, **PROBLEM},
    )
    assert (response.json()["title"], response.json()["detail"]) == (
        "Bad Request",
        "Żądanie jest nieprawidłowe.",
    )
    error = only_error(response)
    assert (error["code"], error["description"]) == (21405, "Błąd walidacji danych wejściowych.")
    assert error["details"][0] == "'pageSize' must be between 10 and 250. You entered 5."


def test_21405_page_size_wording_legacy_body(client, owner):  # type: ignore[no-untyped-def]
    """Same java test: the legacy ExceptionResponse carries the same validator text."""
    response = client.post(
        "/invoices/query/metadata",
        params={"pageOffset": 0, "pageSize": 5},
        json=QUERY,
        headers=owner.headers,
    )
    (detail,) = legacy_details(response)
    assert detail["exceptionCode"] == 21405
    assert detail["details"] == ["'pageSize' must be between 10 and 250. You entered 5."]


def open_batch_answer(client, owner, parts: int, **batch_file: Any):  # type: ignore[no-untyped-def]
    """POST /sessions/batch of three invoices in ``parts`` parts, ``batch_file`` overriding."""
    pkg = kit.package({f"f{i}.xml": kit.fa3(NIP, str(i)) for i in range(3)}, parts)
    body = {
        "formCode": kit.FA3,
        "batchFile": {**pkg.batch_file(), **batch_file},
        "encryption": pkg.crypto.encryption(client),
    }
    return client.post("/sessions/batch", json=body, headers={**owner.headers, **PROBLEM})


def test_21405_batch_file_size_wording(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileSendWithExceededTotalPackageSize (lines 161-198):
    fileSize 5 000 000 001 -> 21405 "'fileSize' must be less than or equal to '5000000000'."."""
    error = only_error(open_batch_answer(client, owner, 1, fileSize=5_000_000_001))
    assert (error["code"], error["description"]) == (21405, "Błąd walidacji danych wejściowych.")
    assert error["details"][0] == "'fileSize' must be less than or equal to '5000000000'."


def test_21161_part_count_texts(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileSendWithExceededPartCount (lines 304-338):
    51 parts -> 21161 "Przekroczono dozwoloną liczbę części pakietów." (the spec table says
    "…pakietu."; the service answers "…pakietów.") with the detail
    "Liczba części pliku musi być mniejsza lub równa niż 50."."""
    pkg = kit.package({f"f{i}.xml": kit.fa3(NIP, str(i)) for i in range(3)}, 1)
    part = pkg.batch_file()["fileParts"][0]
    parts = [{**part, "ordinalNumber": n} for n in range(1, 52)]
    error = only_error(open_batch_answer(client, owner, 1, fileParts=parts))
    assert error["code"] == 21161
    assert error["description"] == "Przekroczono dozwoloną liczbę części pakietów."
    assert error["details"][0] == "Liczba części pliku musi być mniejsza lub równa niż 50."


def test_21205_close_without_all_parts(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileCloseSessionWithoutAllParts (lines 257-299):
    2 parts declared, 1 uploaded, close -> 21205 "Pakiet nie może być pusty." /
    "Nie przesłano zadeklarowanej '2' części pliku."."""
    pkg = kit.package({f"f{i}.xml": kit.fa3(NIP, str(i)) for i in range(3)}, 2)
    opened = kit.open_batch(client, owner.headers, pkg)
    first = opened["partUploadRequests"][0]
    client.request(first["method"], first["url"], content=pkg.parts[0], headers=first["headers"])
    response = client.post(
        f"/sessions/batch/{opened['referenceNumber']}/close",
        headers={**owner.headers, **PROBLEM},
    )
    error = only_error(response)
    assert (error["code"], error["description"]) == (21205, "Pakiet nie może być pusty.")
    assert error["details"][0] == "Nie przesłano zadeklarowanej '2' części pliku."


@pytest.mark.rate_limits()
def test_429_problem_details_per_minute_wording(client, owner, mock):  # type: ignore[no-untyped-def]
    """java ExceptionsApiIntegrationTest.tooManyRequestTest (lines 190-205): after the per-minute
    budget of POST /invoices/query/metadata the next call is 429 problem details, title
    "Too Many Requests", detail containing "Przekroczono limit {n} żądań na minutę. Spróbuj
    ponownie po". Newest wins for n: the Java test (2026-04-22) saw 160 while TEST ran at
    10x production; since 2.5.0 (TEST 2026-05-06) TEST equals production (16/min)."""
    mock.clock.advance(2)
    answers = []
    for _ in range(17):
        answers.append(
            client.post(
                "/invoices/query/metadata",
                params={"pageOffset": 0, "pageSize": 10, "sortOrder": "Asc"},
                json=QUERY,
                headers={**owner.headers, **PROBLEM},
            )
        )
        mock.clock.advance(0.2)
    assert [a.status_code for a in answers[:16]] == [200] * 16
    limited = answers[16]
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    body = limited.json()
    assert (body["title"], body["status"]) == ("Too Many Requests", 429)
    assert "Przekroczono limit 16 żądań na minutę. Spróbuj ponownie po" in body["detail"]
    assert body["instance"] and body["traceId"] and body["timestamp"]


@pytest.mark.parametrize(
    ("method", "path", "served"),
    [
        ("TRACE", "/auth/challenge", {"POST"}),
        ("PUT", "/sessions/online", {"POST"}),
        ("PATCH", "/tokens", {"GET", "POST"}),
        ("DELETE", "/rate-limits", {"GET"}),
        ("PUT", "/tokens/20260302-EC-1DCE3E3000-12ECB5B36E-45", {"GET", "DELETE"}),
    ],
)
def test_405_carries_allow(lane, method, path, served):  # type: ignore[no-untyped-def]
    """Issue 12 (RFC 9110 §15.5.6: a 405 response MUST carry Allow): any method a path does not
    serve is 405 with the methods the path does serve in ``Allow``."""
    client, _ = lane
    response = client.request(method, path)
    assert response.status_code == 405
    listed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert served <= listed and method not in listed
