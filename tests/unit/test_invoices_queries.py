"""Query parsing and visibility rules without HTTP (Part B §8.0, §8.2; part C §4.4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import ContextIdentifier
from mockksef.services.invoices.queries import (
    build_filter,
    parse_query_datetime,
    party_for,
    visible_to,
)
from tests.unit.test_invoices_factory import make_invoice

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NIP = ContextIdentifier("Nip", "5265877635")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("2026-03-02T10:00:00+02:00", datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        ("2026-03-02T10:00:00", datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),  # Warsaw, CET
        ("2026-07-02T10:00:00", datetime(2026, 7, 2, 8, 0, tzinfo=UTC)),  # Warsaw, CEST
        ("2026-03-02T10:00:00.1234567Z", datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_parse_query_datetime(text: str, expected: datetime) -> None:
    assert parse_query_datetime(text, "from") == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00"])
def test_parse_query_datetime_rejects(text: str) -> None:
    with pytest.raises(InvalidInputData):
        parse_query_datetime(text, "from")


def test_party_for_each_context_type() -> None:
    assert party_for(NIP, "Subject2") == ("Subject2", "5265877635", None)
    unit = ContextIdentifier("InternalId", "5265877635-12345")
    assert party_for(unit, "Subject3") == ("Subject3", "5265877635-12345", None)
    assert party_for(unit, "Subject1") is None
    eu = ContextIdentifier("NipVatUe", "5265877635-DE123456789")
    assert party_for(eu, "Subject2") == ("Subject1", "5265877635", "DE123456789")
    assert party_for(eu, "SubjectAuthorized") is None
    assert party_for(ContextIdentifier("PeppolId", "PPL123456"), "Subject1") is None


def test_visible_to(mock) -> None:  # type: ignore[no-untyped-def]
    env = mock.env("test")
    inv = make_invoice(env, third_subjects=(("InternalId", "1111111111-00001", None, 2),))
    assert visible_to(NIP, inv)
    assert visible_to(ContextIdentifier("Nip", "7352765225"), inv)
    assert visible_to(ContextIdentifier("InternalId", "1111111111-00001"), inv)
    assert not visible_to(ContextIdentifier("Nip", "1111111111"), inv)
    assert not visible_to(ContextIdentifier("NipVatUe", "5265877635-DE123456789"), inv)


def test_build_filter_rules() -> None:
    body = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": "2026-03-01T00:00:00Z"},
    }
    flt = build_filter(body, NIP, NOW, NOW)
    assert flt.hwm == NOW and flt.date_to == NOW and flt.party == "5265877635"
    issue = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Issue", "from": "2026-03-01T00:00:00Z"},
    }
    assert build_filter(issue, NIP, NOW, NOW).hwm is None
    late = {
        "subjectType": "Subject1",
        "dateRange": {
            "dateType": "PermanentStorage",
            "from": "2026-03-02T10:00:00Z",
            "restrictToPermanentStorageHwmDate": True,
        },
    }
    with pytest.raises(KsefError) as caught:
        build_filter(late, NIP, NOW, NOW)
    assert caught.value.code == 21183
    hundred_one = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Issue", "from": "2025-11-21T23:59:59Z"},
    }
    with pytest.raises(InvalidInputData):
        build_filter(hundred_one, NIP, NOW, NOW)
    hundred = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Issue", "from": "2025-11-22T00:00:00Z"},
    }
    assert build_filter(hundred, NIP, NOW, NOW).date_type == "Issue"
