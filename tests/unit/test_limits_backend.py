"""LimitsBackend without HTTP: session, certificate and rate limits, defaults and overrides."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mockksef.clock import Clock
from mockksef.errors import InvalidInputData
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.operations import OPERATIONS
from mockksef.services.limits.models import (
    OVERRIDABLE_GROUPS,
    RATE_LIMIT_GROUPS,
    RateLimit,
)
from mockksef.state import MockState
from tests import kit
from tests.conftest import START

CTX = ContextIdentifier("Nip", "5265877635")
OTHER = ContextIdentifier("Nip", "7762811692")


@pytest.fixture
def limits(mock: MockState):  # type: ignore[no-untyped-def]
    return mock.env("TEST").limits


def session_body(online: int = 5, batch: int = 7, collective: int | None = 100) -> dict:  # type: ignore[type-arg]
    return kit.session_limits((2, 4, online), (5, 10, batch), collective)


def rate_body(value: int = 3) -> dict:  # type: ignore[type-arg]
    return {
        g: {"perSecond": value, "perMinute": value * 2, "perHour": value * 3}
        for g in OVERRIDABLE_GROUPS
    }


# -- session limits ------------------------------------------------------------------------


def test_session_limits_default_and_override_per_context(limits):
    default = limits.session_limits(CTX)
    assert default.as_json() == kit.session_limits()
    assert default.online.max_invoice_size_bytes == 1_000_000
    limits.set_session_limits(CTX, session_body())
    changed = limits.session_limits(CTX)
    assert (
        changed.online.max_invoices,
        changed.batch.max_invoices,
        changed.collective_identifier_max_invoices,
    ) == (5, 7, 100)
    assert changed.batch.max_invoice_with_attachment_size_bytes == 10_000_000
    assert limits.session_limits(OTHER) == default
    limits.reset_session_limits(CTX)
    assert limits.session_limits(CTX) == default


@pytest.mark.parametrize(
    "body",
    [
        session_body(collective=None),
        session_body(collective=1),
        session_body(collective=5001),
        session_body(online=100_001),
        kit.session_limits((2, 4, 5), (6, 1, 1), 100),
        {**session_body(), "onlineSession": None},
        {**session_body(), "collectiveIdentifier": {"maxInvoices": "10"}},
    ],
)
def test_session_limit_ranges(limits, body):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputData):
        limits.set_session_limits(CTX, body)
    assert limits.session_limits(CTX).collective_identifier_max_invoices == 500


# -- certificate limits --------------------------------------------------------------------


def test_certificate_limits_depend_on_the_identifier_type(limits):
    assert limits.certificate_limits(SubjectIdentifier("Nip", "5265877635")).as_json() == {
        "enrollment": {"maxEnrollments": 300},
        "certificate": {"maxCertificates": 100},
    }
    for subject in (
        SubjectIdentifier("Pesel", "15062788702"),
        SubjectIdentifier("Fingerprint", "AB" * 32),
    ):
        limits_ = limits.certificate_limits(subject)
        assert (limits_.max_enrollments, limits_.max_certificates) == (12, 6)


def test_certificate_limit_override_is_partial_and_resettable(limits):
    subject = SubjectIdentifier("Fingerprint", "ab" * 32)
    limits.set_certificate_limits(
        subject, {"subjectIdentifierType": "Fingerprint", "enrollment": {"maxEnrollments": 0}}
    )
    assert (
        limits.certificate_limits(SubjectIdentifier("Fingerprint", "AB" * 32)).max_enrollments,
        limits.certificate_limits(subject).max_certificates,
    ) == (0, 6)
    limits.set_certificate_limits(
        subject, {"certificate": {"maxCertificates": 2}, "enrollment": None}
    )
    assert (
        limits.certificate_limits(subject).max_enrollments,
        limits.certificate_limits(subject).max_certificates,
    ) == (0, 2)
    with pytest.raises(InvalidInputData):
        limits.set_certificate_limits(subject, {"certificate": {"maxCertificates": -1}})
    limits.reset_certificate_limits(subject)
    assert limits.certificate_limits(subject).max_enrollments == 12


# -- rate limits -----------------------------------------------------------------------------


def test_rate_limit_defaults_have_17_groups(limits):
    effective = limits.rate_limits(CTX)
    assert tuple(effective) == RATE_LIMIT_GROUPS and len(effective) == 17
    assert effective["anonymous"] == RateLimit(60, -1, -1)
    assert effective["global"] == RateLimit(-1, -1, -1)
    assert effective["onlineSessionClose"] == RateLimit(20, 60, 240)
    assert effective["collectiveIdentifier"] == RateLimit(20, 120, 240)
    assert effective["invoiceDownload"].as_json() == {
        "perSecond": 8,
        "perMinute": 16,
        "perHour": 64,
    }
    assert effective["anonymous"].windows() == ((1, 60),)
    assert limits.rate_limits(None) == effective


def test_rate_limit_override_keeps_the_four_fixed_groups(limits):
    limits.set_rate_limits(CTX, rate_body(3))
    effective = limits.rate_limits(CTX)
    assert all(effective[g] == RateLimit(3, 6, 9) for g in OVERRIDABLE_GROUPS)
    for fixed in ("onlineSessionClose", "batchSessionClose", "anonymous", "global"):
        assert effective[fixed] == limits.production_rate_limits()[fixed]
    assert limits.rate_limits(OTHER)["other"] == RateLimit(10, 30, 120)
    assert limits.rate_limit_for(CTX, "sessions.open_online") == (
        "onlineSession",
        RateLimit(3, 6, 9),
    )
    limits.reset_rate_limits(CTX)
    assert limits.rate_limits(CTX) == limits.production_rate_limits()


def test_rate_limit_override_validation(limits):
    for bad in (0, -1):
        body = rate_body()
        body["invoiceSend"]["perMinute"] = bad
        with pytest.raises(InvalidInputData) as err:
            limits.set_rate_limits(CTX, body)
        assert "rateLimits.invoiceSend.perMinute" in err.value.errors[0].details[0]
    missing = rate_body()
    del missing["collectiveIdentifier"]
    with pytest.raises(InvalidInputData):
        limits.set_rate_limits(CTX, missing)
    assert limits.rate_limits(CTX) == limits.production_rate_limits()


def test_production_values_override_a_scaled_test_environment(config, spec):  # type: ignore[no-untyped-def]
    mock = MockState(
        replace(config, rate_limit_multiplier=10), spec=spec, clock=Clock.virtual(START)
    )
    test = mock.env("TEST").limits
    assert test.rate_limits(CTX)["other"] == RateLimit(100, 300, 1200)
    assert test.rate_limits(CTX)["anonymous"] == RateLimit(60, -1, -1)
    assert mock.env("DEMO").limits.rate_limits(CTX)["other"] == RateLimit(10, 30, 120)
    test.set_production_rate_limits(CTX)
    assert test.rate_limits(CTX) == test.production_rate_limits()
    test.reset_rate_limits(CTX)
    assert test.rate_limits(CTX)["other"] == RateLimit(100, 300, 1200)


def test_every_operation_belongs_to_a_known_group(limits):
    group_of = limits.group_of
    assert group_of("sessions.close_online") == "onlineSessionClose"
    assert group_of("collective.invoices") == "collectiveIdentifier"
    assert group_of("auth.challenge") == "anonymous"
    assert group_of("testdata.block_context") == "other"
    assert group_of("certificates.enroll") == "other"
    assert {group_of(op.id) for op in OPERATIONS} <= set(RATE_LIMIT_GROUPS) - {"global"}
