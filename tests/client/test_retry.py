"""Failure handling: Retry-After on the virtual clock, bounded budgets, idempotent retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ksefclient import (
    TRANSIENT_ERRORS,
    KsefRateLimitError,
    KsefTokenCredentials,
    KsefTransportError,
)
from tests.client.support import (
    NIP_A,
    TEST_RETRY,
    Fault,
    Harness,
    check_retry_after,
    with_rate_limits,
)


def _requests(harness: Harness) -> list[str]:
    return [e.detail for e in harness.plan.log if e.kind == "request"]


@pytest.mark.parametrize("fault", [Fault("status_before", 429, 5), Fault("status_after", 503, 7)])
def test_retry_after_is_waited_exactly_on_the_virtual_clock(harness: Harness, fault: Fault) -> None:
    client = harness.client(NIP_A)
    client.authenticate()
    harness.plan.log.clear()
    before = harness.clock.now()
    harness.plan.load([fault])
    client.context_limits()
    kinds = [(e.kind, e.value) for e in harness.plan.log]
    assert kinds == [
        ("request", None),
        ("retry_after", float(fault.retry_after or 0)),
        ("sleep", float(fault.retry_after or 0)),
        ("request", None),
    ]
    assert harness.clock.now() - before == timedelta(seconds=fault.retry_after or 0)
    check_retry_after(harness.plan.log, TEST_RETRY.max_retry_after)


def test_retry_after_beyond_the_budget_is_not_waited(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.authenticate()
    before = harness.clock.now()
    harness.plan.load([Fault("status_before", 429, 600)])
    with pytest.raises(KsefRateLimitError) as caught:
        client.context_limits()
    assert caught.value.retry_after == 600
    assert harness.clock.now() == before


def test_transport_failures_are_retried_with_backoff_then_raised(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.authenticate()
    harness.plan.load([Fault("timeout")] * 2)
    client.context_limits()  # two timeouts, then success
    harness.plan.load([Fault("connect")] * 10)
    with pytest.raises(KsefTransportError):
        client.context_limits()
    sleeps = [e.value for e in harness.plan.log if e.kind == "sleep"]
    assert sleeps[:2] == [0.5, 1.0]  # exponential back-off (no jitter in tests)


@pytest.mark.parametrize(
    "target", ["/auth/xades-signature", "/auth/token/redeem", "/auth/challenge"]
)
def test_lost_answers_during_authentication_restart_it(harness: Harness, target: str) -> None:
    client = harness.client(NIP_A)
    harness.plan.load([Fault("lost")], target=lambda r: r.url.path.endswith(target))
    tokens = client.authenticate()
    assert "Owner" in tokens.permissions
    challenges = [p for p in _requests(harness) if p.endswith("/auth/challenge")]
    assert len(challenges) == 2  # a lost challenge is asked again; later steps restart


def test_lost_answer_on_token_authentication_restarts_it(harness: Harness) -> None:
    owner = harness.client(NIP_A)
    generated = owner.generate_token(["InvoiceRead"], "Token z utraconą odpowiedzią")
    user = harness.client(None, credentials=KsefTokenCredentials(generated.token))
    harness.plan.load([Fault("lost")], target=lambda r: r.url.path.endswith("/auth/ksef-token"))
    assert user.authenticate().permissions == ("InvoiceRead",)


def test_lost_answer_on_token_generation_leaves_no_orphan_token(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.authenticate()
    harness.plan.load(
        [Fault("lost")], target=lambda r: r.method == "POST" and r.url.path.endswith("/tokens")
    )
    generated = client.generate_token(["InvoiceRead"], "Token odporny na awarie")
    live = client.list_tokens(statuses=["Pending", "Active"], description="Token odporny na awarie")
    assert [t.reference_number for t in live] == [generated.reference_number]
    revoked = client.list_tokens(
        statuses=["Revoking", "Revoked"], description="Token odporny na awarie"
    )
    assert len(revoked) == 1  # the orphan of the lost attempt, revoked by the client


def test_the_real_rate_limiter_is_waited_out(harness: Harness) -> None:
    harness.close()
    patient = replace(TEST_RETRY, max_retry_after=3600, max_wait=7200)
    limited = Harness(harness.kind, config=with_rate_limits(), retry=patient)
    try:
        client = limited.client(NIP_A)
        for _ in range(40):  # "other": 10/s, 30/min per context and IP
            client.context_limits()
        waits = [e for e in limited.plan.log if e.kind == "retry_after"]
        assert waits, "the mock's limiter never answered 429"
        check_retry_after(limited.plan.log, patient.max_retry_after)
    finally:
        limited.close()


def test_a_hopeless_wait_surfaces_as_a_transient_error(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.authenticate()
    harness.plan.load([Fault("status_before", 503, 100)] * 10)
    with pytest.raises(TRANSIENT_ERRORS):
        client.context_limits()
    # 900 s of budget: 9 waits of 100 s would exceed it; attempts are capped at 6 anyway.
    assert sum(e.value or 0 for e in harness.plan.log if e.kind == "sleep") <= TEST_RETRY.max_wait
