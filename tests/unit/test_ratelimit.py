"""The rate limiter without HTTP: sliding windows, escalation, memory, groups and defaults."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mockksef.clock import Clock
from mockksef.errors import TooManyRequests
from mockksef.models import ContextIdentifier
from mockksef.operations import OPERATIONS
from mockksef.services.limits import rates
from mockksef.services.limits.models import (
    NEWER_GROUP_LIMITS,
    OVERRIDABLE_GROUPS,
    RATE_LIMIT_GROUPS,
    RateLimit,
)
from mockksef.services.limits.windows import (
    SECOND_US,
    Rejection,
    SlidingWindows,
)
from mockksef.state import MockState
from tests.conftest import START

S = SECOND_US
T0 = 1_800_000_000 * S  # an arbitrary instant, in microseconds
CTX = ContextIdentifier("Nip", "5265877635")
OTHER = ContextIdentifier("Nip", "7762811692")


def fill(windows: SlidingWindows, key: str, limit: RateLimit, count: int, now: int) -> None:
    for _ in range(count):
        assert windows.hit([(key, limit)], now) is None


# -- sliding windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "window", "spread_us", "gap_us", "retry_after"),
    [
        # 5/s, one per 0.2 s; the sixth 0.1 s after the fifth: the first leaves in 0.1 s.
        (RateLimit(5, -1, -1), 0, S // 5, S // 10, 1),
        # 4/min, one per 10 s; the fifth 10 s later: the first leaves in 20 s.
        (RateLimit(-1, 4, -1), 1, 10 * S, 10 * S, 20),
        # Same, 10.5 s later: 19.5 s rounds up to 20 and the block holds until then.
        (RateLimit(-1, 4, -1), 1, 10 * S, 10 * S + S // 2, 20),
        # 3/h, one per 1000 s; the fourth 1000 s later: the first leaves in 600 s.
        (RateLimit(-1, -1, 3), 2, 1000 * S, 1000 * S, 600),
    ],
)
def test_each_window_triggers_at_its_count_and_releases_at_retry_after(
    limit, window, spread_us, gap_us, retry_after
):  # type: ignore[no-untyped-def]
    windows = SlidingWindows()
    allowed = (limit.per_second, limit.per_minute, limit.per_hour)[window]
    for i in range(allowed):
        assert windows.hit([("k", limit)], T0 + i * spread_us) is None
    now = T0 + (allowed - 1) * spread_us + gap_us
    rejection = windows.hit([("k", limit)], now)
    assert rejection == Rejection(retry_after, allowed, window)
    release = now + retry_after * S
    assert windows.hit([("k", limit)], release - 1) is not None
    assert windows.hit([("k", limit)], release) is None


def test_all_windows_apply_at_once_and_the_longest_wait_wins():
    limit = RateLimit(10, 12, 100)
    windows = SlidingWindows()
    fill(windows, "k", limit, 10, T0)
    # Per second full at T0; one more second later two more fit the minute.
    fill(windows, "k", limit, 2, T0 + S)
    rejection = windows.hit([("k", limit)], T0 + 2 * S)
    assert rejection == Rejection(58, 12, 1)
    assert rejection.detail == (
        "Przekroczono limit 12 żądań na minutę. Spróbuj ponownie po 58 sekundach."
    )


def test_refused_requests_are_not_counted_anywhere():
    windows = SlidingWindows()
    tight, loose = RateLimit(1, -1, -1), RateLimit(2, -1, -1)
    assert windows.hit([("op", tight), ("global", loose)], T0) is None
    # Refused by "op": "global" must not be charged for it.
    assert windows.hit([("op", tight), ("global", loose)], T0 + 1) is not None
    assert windows.hit([("other-op", tight), ("global", loose)], T0 + 2) is None
    assert windows.hit([("third-op", tight), ("global", loose)], T0 + 3) is not None


def test_escalation_doubles_for_each_violation_within_an_hour():
    limit = RateLimit(1, -1, -1)
    windows = SlidingWindows()
    now = T0
    seen = []
    for _ in range(12):
        assert windows.hit([("k", limit)], now) is None
        rejection = windows.hit([("k", limit)], now)
        assert rejection is not None
        seen.append(rejection.retry_after)
        # Asking again during the block neither lengthens nor shortens it.
        again = windows.hit([("k", limit)], now + S // 2)
        assert again is not None and again.retry_after == rejection.retry_after
        assert windows.hit([("k", limit)], now + rejection.retry_after * S - 1) is not None
        now += rejection.retry_after * S
    assert seen == [2**k for k in range(12)]
    # Violations older than an hour no longer count: the 13th is 2**3 (only the
    # violations at +420 s, +900 s... are still within the hour).
    assert windows.hit([("k", limit)], now) is None
    assert windows.hit([("k", limit)], now).retry_after < 2048  # type: ignore[union-attr]
    # A quiet hour: back to the plain wait.
    now += 2 * 3600 * S
    assert windows.hit([("k", limit)], now) is None
    assert windows.hit([("k", limit)], now).retry_after == 1  # type: ignore[union-attr]


def test_blocks_are_capped_at_an_hour_but_never_shorter_than_the_real_wait():
    limit = RateLimit(-1, -1, 1)
    windows = SlidingWindows()
    assert windows.hit([("k", limit)], T0) is None
    assert windows.hit([("k", limit)], T0 + 100 * S) == Rejection(3500, 1, 2)
    assert windows.hit([("k", limit)], T0 + 3600 * S) is None
    # Second violation within the hour: 2 x 3600 s, capped at one hour.
    assert windows.hit([("k", limit)], T0 + 3600 * S) == Rejection(3600, 1, 2)
    assert windows.hit([("k", limit)], T0 + 7200 * S) is None


def test_memory_is_bounded_by_the_limits_and_idle_keys_are_dropped():
    limit = RateLimit(5, 50, 100)
    windows = SlidingWindows()
    now = T0
    for i in range(2000):
        windows.hit([("busy", limit)], now + i * (S // 3))
    counter = windows._counters["busy"]
    # At most the hour's 100 live entries plus expired ones not yet cut off.
    assert len(counter.hits) - counter.head <= 100
    assert len(counter.hits) <= 2 * 100 + 64
    for ip in range(1000):
        windows.hit([(("ip", ip), limit)], now)
    assert len(windows) == 1001
    # An hour later (plus the sweep period) only a key still in use is left.
    later = now + 2000 * (S // 3) + 3601 * S
    windows.hit([("busy", limit)], later)
    assert len(windows) == 1


def test_a_group_limited_per_second_only_keeps_one_second_of_history():
    windows = SlidingWindows()
    anonymous = RateLimit(60, -1, -1)
    for i in range(60_000):  # 50 per second for 20 minutes
        assert windows.hit([("k", anonymous)], T0 + i * (S // 50)) is None
    counter = windows._counters["k"]
    assert len(counter.hits) - counter.head <= 50
    assert len(counter.hits) <= 2 * 60 + 64
    # A fully unlimited group keeps nothing.
    windows.hit([("k", RateLimit(-1, -1, -1))], T0 + 60_000 * (S // 50))
    assert counter.hits == []


def test_a_clock_set_back_starts_the_counter_afresh():
    windows = SlidingWindows()
    limit = RateLimit(1, -1, -1)
    assert windows.hit([("k", limit)], T0) is None
    assert windows.hit([("k", limit)], T0) is not None
    assert windows.hit([("k", limit)], T0 - 3600 * S) is None


def test_detail_texts():
    assert Rejection(1, 10, 0).detail == (
        "Przekroczono limit 10 żądań na sekundę. Spróbuj ponownie po 1 sekundzie."
    )
    assert Rejection(3360, 120, 2).detail == (
        "Przekroczono limit 120 żądań na godzinę. Spróbuj ponownie po 3360 sekundach."
    )


# -- groups and defaults from the spec ---------------------------------------------------------


def test_defaults_come_from_the_spec_plus_the_newer_groups(spec):
    catalogue = rates.catalogue(spec)
    assert tuple(catalogue.defaults) == RATE_LIMIT_GROUPS and len(RATE_LIMIT_GROUPS) == 17
    assert set(OVERRIDABLE_GROUPS) < set(RATE_LIMIT_GROUPS) and len(OVERRIDABLE_GROUPS) == 13
    by_id = {op.id: op for op in OPERATIONS}
    checked = 0
    for op_id, group in catalogue.groups.items():
        op = by_id[op_id]
        spec_op = None if op.newer_than_spec else spec.operation(op.method, op.path)
        limit = rates.spec_limit(spec_op) if spec_op else None
        if group in NEWER_GROUP_LIMITS:
            assert catalogue.defaults[group] == NEWER_GROUP_LIMITS[group]
            continue
        # Every operation's x-rate-limits is its group's default value.
        assert limit == catalogue.defaults[group], op_id
        checked += 1
    assert checked > 60
    assert catalogue.defaults["anonymous"] == RateLimit(60, -1, -1)
    assert catalogue.defaults["global"] == RateLimit(-1, -1, -1)


def test_the_429_tables_agree_with_x_rate_limits(spec):
    for spec_op in spec.operations():
        text = spec_op.raw.get("responses", {}).get("429", {}).get("description", "")
        if not text:
            continue
        cells = [c.strip() for c in text.strip().splitlines()[-1].strip("|").split("|")]
        numbers = tuple(-1 if c == "-" else int(c) for c in cells[1:4])
        assert rates.spec_limit(spec_op) == RateLimit(*numbers), spec_op.path
        assert rates.spec_group(spec_op) is not None


def test_group_mapping(spec):
    catalogue = rates.catalogue(spec)
    assert catalogue.group_of("sessions.open_online") == "onlineSession"
    assert catalogue.group_of("sessions.close_online") == "onlineSessionClose"
    assert catalogue.group_of("sessions.close_batch") == "batchSessionClose"
    assert catalogue.group_of("sessions.failed_invoices") == "sessionInvoiceList"
    assert catalogue.group_of("sessions.session_upo") == "sessionMisc"
    assert {catalogue.group_of(op.id) for op in OPERATIONS if op.id.startswith("collective.")} == {
        "collectiveIdentifier"
    }
    anonymous = {op.id for op in OPERATIONS if catalogue.group_of(op.id) == "anonymous"}
    assert anonymous == {
        "auth.challenge",
        "auth.xades_signature",
        "auth.ksef_token",
        "auth.status",
        "auth.redeem_token",
        "auth.refresh_token",
        "certificates.public_keys",
        "peppol.query",
        "testdata.create_subject",
        "testdata.remove_subject",
        "testdata.create_person",
        "testdata.remove_person",
        "testdata.grant_permissions",
        "testdata.revoke_permissions",
        "testdata.allow_attachments",
        "testdata.revoke_attachments",
    }
    assert catalogue.group_of("testdata.block_context") == "other"
    assert catalogue.group_of("testdata.update_certificate") == "other"


# -- LimitsBackend.charge ------------------------------------------------------------------------


@pytest.fixture
def limits(mock: MockState):  # type: ignore[no-untyped-def]
    return mock.env("TEST").limits


def charge_until_refused(limits, op_id, context, ip, now, most=200):  # type: ignore[no-untyped-def]
    for count in range(most):
        try:
            limits.charge(op_id, context, ip, now)
        except TooManyRequests as exc:
            return count, exc
    raise AssertionError("never refused")


def test_charge_counts_per_operation_context_and_ip(limits, mock):
    now = mock.clock.now()
    count, error = charge_until_refused(limits, "tokens.list", CTX, "1.1.1.1", now)
    assert count == 10 and error.retry_after == 1
    assert error.headers == {"Retry-After": "1"}
    assert charge_until_refused(limits, "tokens.list", CTX, "2.2.2.2", now)[0] == 10
    assert charge_until_refused(limits, "tokens.list", OTHER, "1.1.1.1", now)[0] == 10
    # Each "other" endpoint has its own counter.
    assert charge_until_refused(limits, "tokens.get", CTX, "1.1.1.1", now)[0] == 10


def test_anonymous_operations_are_counted_per_ip_alone(limits, mock):
    now = mock.clock.now()
    for i in range(60):
        # The context of whatever token came along does not split the budget.
        limits.charge("auth.status", CTX if i % 2 else OTHER, "1.1.1.1", now)
    with pytest.raises(TooManyRequests):
        limits.charge("auth.status", None, "1.1.1.1", now)
    limits.charge("auth.status", None, "2.2.2.2", now)


def test_global_group_counts_every_operation_of_an_ip_when_set(limits, mock):
    limits._defaults["global"] = RateLimit(3, -1, -1)
    now = mock.clock.now()
    for op_id in ("tokens.list", "tokens.get", "auth.challenge"):
        limits.charge(op_id, CTX, "1.1.1.1", now)
    with pytest.raises(TooManyRequests):
        limits.charge("limits.context", OTHER, "1.1.1.1", now)
    limits.charge("limits.context", OTHER, "2.2.2.2", now)


def test_overrides_and_production_values_drive_enforcement(config, spec):  # type: ignore[no-untyped-def]
    mock = MockState(
        replace(config, rate_limit_multiplier=10), spec=spec, clock=Clock.virtual(START)
    )
    test, prod = mock.env("TEST").limits, mock.env("PROD").limits
    now = mock.clock.now()
    assert charge_until_refused(test, "tokens.list", CTX, "ip", now)[0] == 100
    test.set_production_rate_limits(CTX)
    assert test.rate_limits(CTX) == prod.rate_limits(CTX)
    assert charge_until_refused(test, "tokens.get", CTX, "ip", now)[0] == 10
    assert charge_until_refused(prod, "tokens.get", CTX, "ip", now)[0] == 10
    test.set_rate_limits(
        CTX, {g: {"perSecond": 2, "perMinute": 3, "perHour": 4} for g in OVERRIDABLE_GROUPS}
    )
    assert charge_until_refused(test, "tokens.revoke", CTX, "ip", now)[0] == 2
    test.reset_rate_limits(CTX)
    assert charge_until_refused(test, "limits.subject", CTX, "ip", now)[0] == 100
