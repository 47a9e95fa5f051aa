"""The invoice store: the API sessions use, indexes, HWM, compact bodies."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from mockksef.services.invoices.models import compress_xml, decompress_xml
from mockksef.services.invoices.store import is_valid_ksef_number, make_ksef_number
from tests.unit.test_invoices_factory import make_invoice, put

KSEF_RE = re.compile(r"^\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}$")


@pytest.mark.parametrize(
    "number",
    [
        "5265877635-20250826-0100001AF629-AF",
        "5265877635-20250626-010080DD2B5E-26",
        "5555555555-20250828-010080615740-E4",
        "5265877635-20250916-0200A0D6723E-C2",
    ],
)
def test_crc8_matches_the_official_examples(number: str) -> None:
    assert is_valid_ksef_number(number)
    assert make_ksef_number(number[:10], number[11:19], number[20:32]) == number


def test_next_ksef_number_uses_the_warsaw_day_and_a_valid_checksum(env) -> None:  # type: ignore[no-untyped-def]
    # 23:30 UTC on 1 March is already 2 March in Warsaw (UTC+1 in winter).
    number = env.invoices.next_ksef_number("5265877635", datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    assert KSEF_RE.match(number) and len(number) == 35
    assert number.startswith("5265877635-20260302-")
    assert is_valid_ksef_number(number)
    tampered = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert not is_valid_ksef_number(tampered)


def test_store_get_count_and_byte_identical_xml(env) -> None:  # type: ignore[no-untyped-def]
    inv = make_invoice(env)
    original = inv.xml
    env.invoices.store(inv)
    assert env.invoices.count() == 1
    got = env.invoices.get(inv.ksef_number)
    assert got is inv and got.xml == original
    assert env.invoices.get("5265877635-20260302-000000000000-00") is None
    with pytest.raises(ValueError):
        env.invoices.store(inv)


def test_xml_is_kept_compressed() -> None:
    data = b"<Faktura>" + b"<FaWiersz><P_7>x</P_7></FaWiersz>" * 200 + b"</Faktura>"
    blob = compress_xml(data)
    assert len(blob) < len(data) / 5
    assert decompress_xml(blob) == data
    assert decompress_xml(compress_xml(b"")) == b""


def test_find_duplicate_uses_seller_type_and_trimmed_number(env) -> None:  # type: ignore[no-untyped-def]
    inv = put(env, seller="5265877635", number="FV/7/2026", invoice_type="Vat")
    assert env.invoices.find_duplicate("5265877635", "Vat", "FV/7/2026") is inv
    assert env.invoices.find_duplicate("5265877635", "Vat", "  FV/7/2026 ") is inv
    assert env.invoices.find_duplicate("5265877635", "Kor", "FV/7/2026") is None
    assert env.invoices.find_duplicate("7352765225", "Vat", "FV/7/2026") is None
    other = put(env, seller="7352765225", number="FV/7/2026")
    assert env.invoices.find_duplicate("7352765225", "Vat", "FV/7/2026") is other
    assert env.invoices.find_duplicate("5265877635", "Vat", "FV/7/2026") is inv


def test_store_never_lands_below_a_reported_hwm(env, mock) -> None:  # type: ignore[no-untyped-def]
    hwm = env.invoices.hwm()
    late = make_invoice(env, accepted=hwm - timedelta(minutes=5), storage_delay=1)
    assert late.permanent_storage_date < hwm
    env.invoices.store(late)
    assert late.permanent_storage_date > hwm


def test_date_slice_is_ordered_by_each_date_type(env) -> None:  # type: ignore[no-untyped-def]
    base = env.clock.now()
    issues = [date(2026, 2, 20), date(2026, 2, 10), date(2026, 2, 15)]
    stored = [
        put(env, accepted=base + timedelta(seconds=i), issue=issue)
        for i, issue in enumerate(issues)
    ]
    store = env.invoices.invoices
    rows, start, stop = store.date_slice("Subject1", "5265877635", "Issue", None, None)
    ordered = [store.row(rows[i]).issue_date for i in range(start, stop)]
    assert ordered == sorted(issues)
    rows, start, stop = store.date_slice(
        "Subject1", "5265877635", "Issue", date(2026, 2, 11), date(2026, 2, 20)
    )
    assert stop - start == 2
    rows, start, stop = store.date_slice("Subject2", "7352765225", "PermanentStorage", None, None)
    assert [store.row(rows[i]) for i in range(start, stop)] == stored
    assert store.date_slice("Subject3", "5265877635", "Issue", None, None)[1:] == (0, 0)


def test_bulk_store_sorts_each_index_once(env) -> None:  # type: ignore[no-untyped-def]
    base = env.clock.now()
    batch = [
        make_invoice(env, accepted=base + timedelta(seconds=60 - i), issue=date(2026, 1, 1 + i))
        for i in range(30)
    ]
    assert env.invoices.bulk_store(batch) == 30
    store = env.invoices.invoices
    for date_type, attr in (
        ("Issue", "issue_date"),
        ("Invoicing", "invoicing_date"),
        ("PermanentStorage", "permanent_storage_date"),
    ):
        rows, start, stop = store.date_slice("Subject1", "5265877635", date_type, None, None)
        values = [getattr(store.row(rows[i]), attr) for i in range(start, stop)]
        assert values == sorted(values) and len(values) == 30
    # Later single stores keep the order.
    put(env, accepted=base - timedelta(days=1), issue=date(2026, 1, 15))
    rows, start, stop = store.date_slice("Subject1", "5265877635", "Issue", None, None)
    values = [store.row(rows[i]).issue_date for i in range(start, stop)]
    assert values == sorted(values) and len(values) == 31


def test_third_and_authorized_subjects_are_indexed(env) -> None:  # type: ignore[no-untyped-def]
    inv = put(
        env,
        third_subjects=(
            ("Nip", "1111111111", "Faktor", 1),
            ("InternalId", "5265877635-12345", "Oddział", 2),
            ("VatUe", "DE123456789", None, 4),
        ),
        authorized=("2222222222", "Komornik", 2),
    )
    store = env.invoices.invoices
    for subject_type, party in (
        ("Subject3", "1111111111"),
        ("Subject3", "5265877635-12345"),
        ("SubjectAuthorized", "2222222222"),
    ):
        rows, start, stop = store.date_slice(subject_type, party, "Invoicing", None, None)
        assert [store.row(rows[i]) for i in range(start, stop)] == [inv]
    assert store.date_slice("Subject3", "DE123456789", "Invoicing", None, None)[1:] == (0, 0)
