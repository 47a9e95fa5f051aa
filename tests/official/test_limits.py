"""Rate limits and session/certificate limits through /testdata, as the suites drive them on TEST.

Sources: CIRFMF/ksef-client-java 3.0.24 (fff86ab, 2026-04-22) ExceptionsApiIntegrationTest,
GetRateLimitIntegrationTest, ContextLimitIntegrationTest, SubjectLimitIntegrationTest;
CIRFMF/ksef-client-csharp 2.6.1 (ce49441, 2026-06-15) E2E/Limits/*.cs.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import kit
from tests.official.conftest import PAST, PROBLEM, login

FIXED = ("onlineSessionClose", "batchSessionClose", "anonymous", "global")
OVER_ONLINE_PER_HOUR = (
    "'rateLimits.onlineSession.perHour' must be between 1 and 1200. You entered 11111111."
)


def current_limits(client, who) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    limits = client.get("/rate-limits", headers=who.headers).json()
    return {k: v for k, v in limits.items() if k not in FIXED}


def set_limits(client, who, limits):  # type: ignore[no-untyped-def]
    return client.post(
        "/testdata/rate-limits", json={"rateLimits": limits}, headers={**who.headers, **PROBLEM}
    )


def only_21405(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert (error["code"], error["description"]) == (21405, "Błąd walidacji danych wejściowych.")
    return error["details"]  # type: ignore[no-any-return]


def test_rate_limit_over_ten_times_production_is_21405(client, owner):  # type: ignore[no-untyped-def]
    """java ExceptionsApiIntegrationTest.badRequestTest (lines 139-166): perHour 11111111 for
    onlineSession -> 400 Bad Request, one error 21405 whose details contain
    "'rateLimits.onlineSession.perHour' must be between 1 and 1200. You entered 11111111."
    (1200 = 10 x the production 120/h)."""
    limits = current_limits(client, owner)
    limits["onlineSession"] = {"perSecond": 1, "perMinute": 1, "perHour": 11_111_111}
    assert OVER_ONLINE_PER_HOUR in only_21405(set_limits(client, owner, limits))


def test_every_violation_in_one_21405(client, owner):  # type: ignore[no-untyped-def]
    """Issue 12 after java ExceptionsApiIntegrationTest.badRequestTest (several details in one
    error): each out-of-range value is one detail of the single 21405 (min 1, max 10x
    production)."""
    limits = current_limits(client, owner)
    limits["onlineSession"] = {"perSecond": 1, "perMinute": 1, "perHour": 11_111_111}
    limits["batchSession"] = {"perSecond": 1, "perMinute": 0, "perHour": 60}
    details = only_21405(set_limits(client, owner, limits))
    assert details == [
        OVER_ONLINE_PER_HOUR,
        "'rateLimits.batchSession.perMinute' must be between 1 and 200. You entered 0.",
    ]


def test_null_groups_are_reported_once_each(client, owner):  # type: ignore[no-untyped-def]
    """java ExceptionsApiIntegrationTest.badRequestTest sends onlineSession with the other
    groups null and gets exactly one 21405 listing them: one detail per problem, none
    repeated, the range text among them."""
    body: dict[str, Any] = {group: None for group in current_limits(client, owner)}
    body["onlineSession"] = {"perSecond": 1, "perMinute": 1, "perHour": 11_111_111}
    details = only_21405(set_limits(client, owner, body))
    assert len(details) == len(set(details)) == len(body)
    assert OVER_ONLINE_PER_HOUR in details
    assert "'rateLimits.batchSession' must not be empty." in details


def test_zero_is_refused(client, owner):  # type: ignore[no-untyped-def]
    """csharp RateLimitsE2ETests.RateLimits_E2E_Negative_InvalidValues_ShouldThrowKsefApiException
    (lines 151-183): onlineSession 0/0/0 -> 21405."""
    limits = current_limits(client, owner)
    limits["onlineSession"] = {"perSecond": 0, "perMinute": 0, "perHour": 0}
    assert len(only_21405(set_limits(client, owner, limits))) == 3


def test_set_then_restore(client, owner):  # type: ignore[no-untyped-def]
    """csharp RateLimitsE2ETests.RateLimits_E2E_Positive (lines 65-122) and java
    GetRateLimitIntegrationTest (lines 179-213): values +1 within bounds appear in
    GET /rate-limits; DELETE /testdata/rate-limits restores the originals."""
    original = current_limits(client, owner)
    changed = {g: {k: v + 1 for k, v in values.items()} for g, values in original.items()}
    assert set_limits(client, owner, changed).status_code == 200
    assert current_limits(client, owner) == changed
    assert client.delete("/testdata/rate-limits", headers=owner.headers).status_code == 200
    assert current_limits(client, owner) == original


@pytest.mark.rate_limits()
def test_raising_limits_lifts_a_block_in_force(client, owner, mock):  # type: ignore[no-untyped-def]
    """Issue 12 (csharp RateLimitsE2ETests sets limits and expects them to apply at once):
    after a 429 for the per-minute budget of GET /limits/context, raising ``other`` lets the
    next request through instead of repeating the old limit until the window ends."""
    limits = current_limits(client, owner)
    mock.clock.advance(2)
    answers = []
    for _ in range(31):
        answers.append(client.get("/limits/context", headers=owner.headers).status_code)
        mock.clock.advance(0.25)
    assert answers[-1] == 429
    limits["other"] = {"perSecond": 100, "perMinute": 300, "perHour": 1200}
    assert set_limits(client, owner, limits).status_code == 200
    assert client.get("/limits/context", headers=owner.headers).status_code == 200


@pytest.mark.rate_limits()
def test_rate_limits_count_per_context(client, mock):  # type: ignore[no-untyped-def]
    """csharp RateLimitsE2ETests.RateLimits_E2E_SameIdentifierDifferentContexts_ShouldBeCounted
    PerContext (lines 248-327): one person in two contexts; with other.perSecond = 1 in both,
    exceeding it in context A does not limit the same person in context B."""
    a, b, person = kit.random_nip(31), kit.random_nip(32), kit.random_nip(33)
    for context in (a, b):
        owner = login(client, context)
        grant = client.post(
            "/testdata/permissions",
            json={
                "contextIdentifier": {"type": "Nip", "value": context},
                "authorizedIdentifier": {"type": "Nip", "value": person},
                "permissions": [
                    {"permissionType": "InvoiceRead", "description": "Rate limits per context E2E"}
                ],
            },
        )
        assert grant.status_code == 200, grant.text
        limits = current_limits(client, owner)
        limits["other"] = {**limits["other"], "perSecond": 1}
        assert set_limits(client, owner, limits).status_code == 200
    in_a = login(client, a, subject=person)
    in_b = login(client, b, subject=person)
    mock.clock.advance(2)
    codes = [client.get("/limits/context", headers=in_a.headers).status_code for _ in range(10)]
    assert 429 in codes and 200 in codes
    assert client.get("/limits/context", headers=in_b.headers).status_code == 200


def test_context_session_limits_set_and_reset(client, owner):  # type: ignore[no-untyped-def]
    """java ContextLimitIntegrationTest.contextLimitE2EIntegrationTest (lines 19-100): defaults
    1 MB / 3 MB / 10 000 for both kinds; after POST /testdata/limits/context/session 4/5/6
    they read back; DELETE restores. (The 2.7.1+ body also needs
    collectiveIdentifier.maxInvoices; newest wins over the C# 2.6.1 LimitsE2ETests body.)"""
    base = client.get("/limits/context", headers=owner.headers).json()
    for kind in ("onlineSession", "batchSession"):
        assert (
            base[kind]["maxInvoiceSizeInMB"],
            base[kind]["maxInvoiceWithAttachmentSizeInMB"],
            base[kind]["maxInvoices"],
        ) == (1, 3, 10_000)
    changed = {"maxInvoiceSizeInMB": 4, "maxInvoiceWithAttachmentSizeInMB": 5, "maxInvoices": 6}
    response = client.post(
        "/testdata/limits/context/session",
        json={
            "onlineSession": changed,
            "batchSession": changed,
            "collectiveIdentifier": {"maxInvoices": 500},
        },
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    now = client.get("/limits/context", headers=owner.headers).json()
    assert now["onlineSession"] == changed and now["batchSession"] == changed
    reset = client.delete("/testdata/limits/context/session", headers=owner.headers)
    assert reset.status_code == 200
    after = client.get("/limits/context", headers=owner.headers).json()
    assert after["onlineSession"] == base["onlineSession"]


def test_session_limits_without_collective_identifier_name_it_once(client, owner):  # type: ignore[no-untyped-def]
    """Issue 12 (a missing field was listed twice) with reference C §5 (API 2.7.1: the body of
    POST /testdata/limits/context/session requires collectiveIdentifier): one 21405 naming
    the field once."""
    values = {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10}
    response = client.post(
        "/testdata/limits/context/session",
        json={"onlineSession": values, "batchSession": values},
        headers={**owner.headers, **PROBLEM},
    )
    assert only_21405(response) == ["'collectiveIdentifier' must not be empty."]


def test_subject_certificate_limits_set_and_reset(client):  # type: ignore[no-untyped-def]
    """java SubjectLimitIntegrationTest.subjectLimitE2EIntegrationTest (lines 19-72): base
    maxCertificates 100 / maxEnrollments 300; set to 15/15 with subjectIdentifierType Nip;
    DELETE restores 100/300."""
    seal = login(client, kit.random_nip(40), seal=True)
    base = client.get("/limits/subject", headers=seal.headers).json()
    assert (base["certificate"]["maxCertificates"], base["enrollment"]["maxEnrollments"]) == (
        100,
        300,
    )
    kit.set_certificate_limits(client, seal.headers, certificates=15, enrollments=15)
    now = client.get("/limits/subject", headers=seal.headers).json()
    assert (now["certificate"]["maxCertificates"], now["enrollment"]["maxEnrollments"]) == (15, 15)
    reset = client.delete("/testdata/limits/subject/certificate", headers=seal.headers)
    assert reset.status_code == 200
    assert client.get("/limits/subject", headers=seal.headers).json() == base


def test_owner_context_limits_positive(client, owner):  # type: ignore[no-untyped-def]
    """csharp LimitsE2ETests.SessionLimits_E2E_Positive (lines 27-37): all six values > 0."""
    limits = client.get("/limits/context", headers=owner.headers).json()
    for kind in ("onlineSession", "batchSession"):
        fields = ("maxInvoices", "maxInvoiceSizeInMB", "maxInvoiceWithAttachmentSizeInMB")
        assert all(limits[kind][name] > 0 for name in fields)


@pytest.mark.rate_limits()
def test_online_session_budget_is_per_context_from_one_ip(client, mock):  # type: ignore[no-untyped-def]
    """csharp RateLimitsPerIpE2eTests.ExceedingPerIpRateLimit_ThrowsKsefRateLimitExceptionAsync
    (lines 18-55): from one IP two contexts each open 30 online sessions (one invoice each,
    200 ms apart) within a minute; the 31st open in the first context is 429."""
    a, b = kit.random_nip(34), kit.random_nip(35)
    who = {context: login(client, context) for context in (a, b)}
    mock.clock.advance(2)
    for n in range(30):
        for context in (a, b):
            crypto = kit.Crypto()
            ref = kit.open_online(client, who[context].headers, crypto)
            kit.send_ok(client, who[context].headers, ref, crypto, kit.fa3(context, f"R{n}", PAST))
        mock.clock.advance(0.2)
    crypto = kit.Crypto()
    refused = client.post(
        "/sessions/online",
        json={"formCode": kit.FA3, "encryption": crypto.encryption(client)},
        headers=who[a].headers,
    )
    assert refused.status_code == 429
