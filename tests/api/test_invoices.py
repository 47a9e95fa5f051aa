"""GET /invoices/ksef/{n} and POST /invoices/query/metadata (Part B §8.0–8.4, part C §4.4)."""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from mockksef.clock import format_datetime, parse_datetime
from mockksef.models import ContextIdentifier
from tests.conftest import auth_headers, legacy_codes, problem_codes
from tests.unit.test_invoices_factory import bulk_invoices, make_invoice, put

SELLER = "5265877635"
BUYER = "7352765225"
THIRD = "1111111111"
AUTHORIZED = "2222222222"
STRANGER = "9999999999"


token = functools.partial(auth_headers, permissions=("InvoiceRead",))


def query(client, headers, filters, **params):  # type: ignore[no-untyped-def]
    return client.post("/invoices/query/metadata", headers=headers, json=filters, params=params)


def since(when: datetime, subject: str = "Subject1", date_type: str = "Invoicing", **extra):  # type: ignore[no-untyped-def]
    return {
        "subjectType": subject,
        "dateRange": {"dateType": date_type, "from": format_datetime(when), **extra},
    }


# -- download --------------------------------------------------------------------------


def test_download_returns_the_exact_bytes_with_their_hash(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    inv = put(env)
    mock.clock.advance(2)
    resp = client.get(f"/invoices/ksef/{inv.ksef_number}", headers=token(mock))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/xml")
    assert resp.content == inv.xml
    digest = base64.b64encode(hashlib.sha256(resp.content).digest()).decode()
    assert resp.headers["x-ms-meta-hash"] == digest == inv.invoice_hash


@pytest.mark.parametrize("nip", [BUYER, THIRD, AUTHORIZED])
def test_every_subject_of_the_invoice_may_download_it(client, mock, env, nip) -> None:  # type: ignore[no-untyped-def]
    inv = put(
        env,
        third_subjects=(("Nip", THIRD, "Faktor", 1),),
        authorized=(AUTHORIZED, "Komornik", 2),
    )
    mock.clock.advance(2)
    resp = client.get(f"/invoices/ksef/{inv.ksef_number}", headers=token(mock, nip))
    assert resp.status_code == 200, resp.text
    assert resp.content == inv.xml


def test_another_context_never_sees_the_invoice(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    inv = put(env)
    mock.clock.advance(2)
    resp = client.get(f"/invoices/ksef/{inv.ksef_number}", headers=token(mock, STRANGER))
    assert resp.status_code == 400
    assert legacy_codes(resp) == [21164]
    detail = resp.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionDescription"] == "Faktura o podanym identyfikatorze nie istnieje."
    assert detail["details"] == [
        f"Faktura o numerze KSeF {inv.ksef_number} nie została znaleziona."
    ]


def test_unknown_invoice_is_21164_in_both_formats(client, mock) -> None:  # type: ignore[no-untyped-def]
    number = mock.env("test").invoices.next_ksef_number(SELLER, mock.clock.now())
    resp = client.get(f"/invoices/ksef/{number}", headers=token(mock))
    assert resp.status_code == 400 and legacy_codes(resp) == [21164]
    headers = {**token(mock), "X-Error-Format": "problem-details"}
    resp = client.get(f"/invoices/ksef/{number}", headers=headers)
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert problem_codes(resp) == [21164]


def test_invoice_not_yet_in_permanent_storage_is_21165(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    inv = put(env, storage_delay=30)
    resp = client.get(f"/invoices/ksef/{inv.ksef_number}", headers=token(mock))
    assert resp.status_code == 400 and legacy_codes(resp) == [21165]
    assert (
        "nie jest jeszcze dostępna do pobrania"
        in resp.json()["exception"]["exceptionDetailList"][0]["details"][0]
    )
    mock.clock.advance(30)
    assert client.get(f"/invoices/ksef/{inv.ksef_number}", headers=token(mock)).status_code == 200


def test_malformed_ksef_number_is_21405(client, mock) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/invoices/ksef/5265877635-2026-XYZ", headers=token(mock))
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]


def test_download_needs_invoice_read(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    inv = put(env)
    mock.clock.advance(2)
    resp = client.get(
        f"/invoices/ksef/{inv.ksef_number}", headers=token(mock, permissions=("InvoiceWrite",))
    )
    assert resp.status_code == 403
    assert resp.json()["reasonCode"] == "missing-permissions"


# -- metadata query ----------------------------------------------------------------------


def test_query_finds_the_invoice_under_each_subject_type(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    inv = put(
        env,
        third_subjects=(("Nip", THIRD, "Faktor", 1), ("InternalId", f"{SELLER}-12345", None, 2)),
        authorized=(AUTHORIZED, "Organ", 1),
    )
    mock.clock.advance(5)
    op = spec.operation("POST", "/invoices/query/metadata")
    schema = op.raw["responses"]["200"]["content"]["application/json"]["schema"]
    cases = [
        ("Subject1", token(mock, SELLER)),
        ("Subject2", token(mock, BUYER)),
        ("Subject3", token(mock, THIRD)),
        ("SubjectAuthorized", token(mock, AUTHORIZED)),
        (
            "Subject3",
            token(mock, SELLER, context=ContextIdentifier("InternalId", f"{SELLER}-12345")),
        ),
    ]
    for subject, headers in cases:
        resp = query(client, headers, since(start, subject))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert spec.validate_value(schema, body).errors == []
        assert [i["ksefNumber"] for i in body["invoices"]] == [inv.ksef_number], subject
        assert body["hasMore"] is False and body["isTruncated"] is False
        assert "permanentStorageHwmDate" not in body
    # The seller is not the buyer: Subject2 for the seller is empty; strangers see nothing.
    for subject in ("Subject2", "Subject3", "SubjectAuthorized"):
        assert query(client, token(mock, SELLER), since(start, subject)).json()["invoices"] == []
    for subject in ("Subject1", "Subject2", "Subject3", "SubjectAuthorized"):
        assert query(client, token(mock, STRANGER), since(start, subject)).json()["invoices"] == []


def test_metadata_item_carries_every_field(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    inv = put(
        env,
        third_subjects=(("InternalId", f"{SELLER}-12345", "Wystawca faktury", 5),),
        authorized=(AUTHORIZED, None, 3),
        currency="EUR",
        gross=100.5,
        net=81.71,
        vat=80.12,
    )
    mock.clock.advance(5)
    item = query(client, token(mock), since(start)).json()["invoices"][0]
    assert item == {
        "ksefNumber": inv.ksef_number,
        "invoiceNumber": inv.invoice_number,
        "issueDate": inv.issue_date.isoformat(),
        "invoicingDate": format_datetime(inv.invoicing_date),
        "acquisitionDate": format_datetime(inv.acquisition_date),
        "permanentStorageDate": format_datetime(inv.permanent_storage_date),
        "seller": {"nip": SELLER, "name": "Elektrownia S.A."},
        "buyer": {"identifier": {"type": "Nip", "value": BUYER}, "name": "F.H.U. Jan Kowalski"},
        "netAmount": 81.71,
        "grossAmount": 100.5,
        "vatAmount": 80.12,
        "currency": "EUR",
        "invoicingMode": "Online",
        "invoiceType": "Vat",
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "isSelfInvoicing": False,
        "hasAttachment": False,
        "invoiceHash": inv.invoice_hash,
        "thirdSubjects": [
            {
                "identifier": {"type": "InternalId", "value": f"{SELLER}-12345"},
                "name": "Wystawca faktury",
                "role": 5,
            }
        ],
        "authorizedSubject": {"nip": AUTHORIZED, "role": 3},
    }


FILTER_CASES = [
    # (invoice kwargs, matching filter, non-matching filter)
    ({"number": "FV/1/X"}, {"invoiceNumber": "FV/1/X"}, {"invoiceNumber": "FV/1/Y"}),
    ({}, {"sellerNip": SELLER}, {"sellerNip": BUYER}),
    (
        {"gross": 150.0},
        {"amount": {"type": "Brutto", "from": 100.5, "to": 250.0}},
        {"amount": {"type": "Brutto", "from": 151}},
    ),
    (
        {"net": 10.0},
        {"amount": {"type": "Netto", "to": 10}},
        {"amount": {"type": "Netto", "to": 9.99}},
    ),
    (
        {"vat": -5.0},
        {"amount": {"type": "Vat", "from": -6}},
        {"amount": {"type": "Vat", "from": -4}},
    ),
    (
        {},
        {"buyerIdentifier": {"type": "Nip", "value": BUYER}},
        {"buyerIdentifier": {"type": "Nip", "value": THIRD}},
    ),
    (
        {"buyer": None, "buyer_identifier": ("VatUe", "DE123456789")},
        {"buyerIdentifier": {"type": "VatUe", "value": "DE123456789"}},
        {"buyerIdentifier": {"type": "Other"}},
    ),
    (
        {"buyer": None},
        {"buyerIdentifier": {"type": "None"}},
        {"buyerIdentifier": {"type": "Nip"}},
    ),
    ({"currency": "EUR"}, {"currencyCodes": ["PLN", "EUR"]}, {"currencyCodes": ["PLN"]}),
    ({"mode": "Offline"}, {"invoicingMode": "Offline"}, {"invoicingMode": "Online"}),
    ({"self_invoicing": True}, {"isSelfInvoicing": True}, {"isSelfInvoicing": False}),
    (
        {"form_code": ("FA_RR (1)", "1-1E", "FA_RR"), "invoice_type": "VatRr"},
        {"formType": "FA_RR"},
        {"formType": "FA"},
    ),
    (
        {"form_code": ("PEF (3)", "2-1", "PEF"), "invoice_type": "VatPef"},
        {"formType": "PEF", "invoiceTypes": ["VatPef", "KorPef"]},
        {"formType": "PEF", "invoiceTypes": ["Vat"]},
    ),
    ({"invoice_type": "Kor"}, {"invoiceTypes": ["Kor", "Zal"]}, {"invoiceTypes": ["Vat"]}),
    ({"attachment": True}, {"hasAttachment": True}, {"hasAttachment": False}),
]


@pytest.mark.parametrize(("kwargs", "hit", "miss"), FILTER_CASES)
def test_each_filter_matches_exactly(client, mock, env, kwargs, hit, miss) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    inv = put(env, **kwargs)
    mock.clock.advance(5)
    found = query(client, token(mock), {**since(start), **hit})
    assert found.status_code == 200, found.text
    numbers = [i["ksefNumber"] for i in found.json()["invoices"]]
    assert inv.ksef_number in numbers
    missed = query(client, token(mock), {**since(start), **miss})
    assert inv.ksef_number not in [i["ksefNumber"] for i in missed.json()["invoices"]]


def test_ksef_number_filter(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    first, second = put(env), put(env)
    mock.clock.advance(5)
    resp = query(client, token(mock), {**since(start), "ksefNumber": second.ksef_number})
    assert [i["ksefNumber"] for i in resp.json()["invoices"]] == [second.ksef_number]
    # Only within the date range and the subject type.
    resp = query(
        client,
        token(mock),
        {**since(start + timedelta(seconds=1)), "ksefNumber": first.ksef_number},
    )
    assert resp.json()["invoices"] == []
    resp = query(client, token(mock), {**since(start, "Subject2"), "ksefNumber": first.ksef_number})
    assert resp.json()["invoices"] == []


@pytest.mark.parametrize("date_type", ["Issue", "Invoicing", "PermanentStorage"])
def test_sort_and_page_index(client, mock, env, date_type) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    stored = []
    for i in range(25):
        stored.append(
            put(
                env,
                accepted=start + timedelta(minutes=i),
                issue=date(2026, 1, 1) + timedelta(days=i),
            )
        )
    mock.clock.advance(3600)
    filters = since(start - timedelta(days=90), date_type=date_type)
    asc = [s.ksef_number for s in stored]
    pages = []
    for offset in range(3):
        body = query(client, token(mock), filters, pageOffset=offset, pageSize=10).json()
        pages.append(body)
    assert [i["ksefNumber"] for p in pages for i in p["invoices"]] == asc
    assert [p["hasMore"] for p in pages] == [True, True, False]
    assert not any(p["isTruncated"] for p in pages)
    desc = query(client, token(mock), filters, sortOrder="Desc", pageSize=10).json()
    assert [i["ksefNumber"] for i in desc["invoices"]] == asc[::-1][:10]
    if date_type == "PermanentStorage":
        assert desc["permanentStorageHwmDate"] == format_datetime(mock.clock.now())
    else:
        assert "permanentStorageHwmDate" not in desc


def test_issue_date_range_uses_calendar_days(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    inv = put(env, issue=date(2026, 2, 10))
    put(env, issue=date(2026, 2, 12))
    mock.clock.advance(5)
    filters = {
        "subjectType": "Subject1",
        "dateRange": {
            "dateType": "Issue",
            "from": "2026-02-10T12:00:00+01:00",
            "to": "2026-02-11T00:00:00",  # no offset: Warsaw time
        },
    }
    resp = query(client, token(mock), filters)
    assert [i["ksefNumber"] for i in resp.json()["invoices"]] == [inv.ksef_number]


@pytest.mark.parametrize("size", [9, 251, 0])
def test_page_size_out_of_range_is_21405(client, mock, size) -> None:  # type: ignore[no-untyped-def]
    resp = query(client, token(mock), since(mock.clock.now()), pageSize=size)
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]


def test_date_range_is_capped_at_100_utc_days(client, mock) -> None:  # type: ignore[no-untyped-def]
    base = {"subjectType": "Subject1"}
    ok = {"dateType": "Invoicing", "from": "2026-01-01T00:00:00Z", "to": "2026-04-11T23:59:59Z"}
    assert query(client, token(mock), {**base, "dateRange": ok}).status_code == 200
    too_long = {**ok, "to": "2026-04-12T00:00:00Z"}
    resp = query(client, token(mock), {**base, "dateRange": too_long})
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    # Without "to" the range ends now (2026-03-02): 2025-11-21 is 101 days before.
    resp = query(
        client,
        token(mock),
        {**base, "dateRange": {"dateType": "Issue", "from": "2025-11-21T00:00:00Z"}},
    )
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    backwards = {**ok, "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    resp = query(client, token(mock), {**base, "dateRange": backwards})
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]


def test_restrict_to_hwm_with_from_after_it_is_21183(client, mock) -> None:  # type: ignore[no-untyped-def]
    later = mock.clock.now() + timedelta(hours=1)
    filters = since(later, date_type="PermanentStorage", restrictToPermanentStorageHwmDate=True)
    resp = query(client, token(mock), filters)
    assert resp.status_code == 400 and legacy_codes(resp) == [21183]
    detail = resp.json()["exception"]["exceptionDetailList"][0]
    assert (
        detail["exceptionDescription"] == "Zakres filtrowania wykracza poza dostępny zakres danych."
    )
    assert detail["details"] == [
        "Parametr dateRange.from jest późniejszy niż PermanentStorageHwmDate przy włączonym "
        "restrictToPermanentStorageHwmDate."
    ]
    # Without the flag, a range reaching beyond the HWM is simply empty there.
    filters["dateRange"].pop("restrictToPermanentStorageHwmDate")
    filters["dateRange"]["to"] = format_datetime(later + timedelta(hours=1))
    assert query(client, token(mock), filters).json()["invoices"] == []


def test_hwm_clamps_to_and_never_changes_below_it(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    put(env)
    mock.clock.advance(10)
    filters = since(
        start,
        date_type="PermanentStorage",
        to=format_datetime(start + timedelta(days=1)),
        restrictToPermanentStorageHwmDate=True,
    )
    first = query(client, token(mock), filters).json()
    hwm = parse_datetime(first["permanentStorageHwmDate"])
    assert hwm == mock.clock.now()
    # An invoice whose storage date would fall below the HWM lands just after it.
    late = make_invoice(env, accepted=start, storage_delay=2)
    env.invoices.store(late)
    assert late.permanent_storage_date > hwm
    filters["dateRange"]["to"] = format_datetime(hwm)
    again = query(client, token(mock), filters).json()
    assert again["invoices"] == first["invoices"]


def test_invoice_waiting_for_storage_is_not_listed(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    inv = put(env, storage_delay=60)
    mock.clock.advance(10)
    for date_type in ("Issue", "Invoicing", "PermanentStorage"):
        filters = since(start - timedelta(days=1), date_type=date_type)
        assert query(client, token(mock), filters).json()["invoices"] == []
    mock.clock.advance(60)
    filters = since(start - timedelta(days=1), date_type="Invoicing")
    assert [i["ksefNumber"] for i in query(client, token(mock), filters).json()["invoices"]] == [
        inv.ksef_number
    ]


def test_ten_thousand_record_cap(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    batch = bulk_invoices(env, start, 10_010)
    env.invoices.bulk_store(batch)
    mock.clock.advance(60)
    filters = since(start, date_type="PermanentStorage")
    first = query(client, token(mock), filters, pageSize=250).json()
    assert first["hasMore"] is True and first["isTruncated"] is False
    last = query(client, token(mock), filters, pageSize=250, pageOffset=39).json()
    assert len(last["invoices"]) == 250
    assert last["hasMore"] is True and last["isTruncated"] is True
    assert last["invoices"][-1]["ksefNumber"] == batch[9_999].ksef_number
    beyond = query(client, token(mock), filters, pageSize=250, pageOffset=40)
    assert beyond.status_code == 400 and legacy_codes(beyond) == [21405]
    # The documented continuation: restart from the last record's date.
    restart = {
        **filters,
        "dateRange": {**filters["dateRange"], "from": last["invoices"][-1]["permanentStorageDate"]},
    }
    tail = query(client, token(mock), restart, pageSize=250).json()
    assert [i["ksefNumber"] for i in tail["invoices"]] == [b.ksef_number for b in batch[9_999:]]
    assert tail["hasMore"] is False and tail["isTruncated"] is False
    # With a row filter the cap is applied to the filtered answer too.
    filtered = query(
        client, token(mock), {**filters, "currencyCodes": ["PLN"]}, pageSize=250, pageOffset=39
    ).json()
    assert filtered["isTruncated"] is True and filtered["hasMore"] is True


def test_hwm_sync_returns_every_invoice_exactly_once(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    """The incremental algorithm of §8.4 over many pages and arrivals between runs."""
    start = mock.clock.now()
    expected: list[str] = []
    seen: list[str] = []
    cursor = format_datetime(start - timedelta(days=1))
    for _run in range(6):
        for i in range(37):
            # Storage dates spread out, some arriving late (just under the last HWM).
            inv = put(
                env, accepted=mock.clock.now() - timedelta(seconds=i % 3), storage_delay=0.1 * i
            )
            expected.append(inv.ksef_number)
        mock.clock.advance(30)
        offset = 0
        while True:
            body = query(
                client,
                token(mock),
                {
                    "subjectType": "Subject1",
                    "dateRange": {
                        "dateType": "PermanentStorage",
                        "from": cursor,
                        "restrictToPermanentStorageHwmDate": True,
                    },
                },
                pageOffset=offset,
                pageSize=10,
            ).json()
            seen += [i["ksefNumber"] for i in body["invoices"] if i["ksefNumber"] not in seen]
            if not body["hasMore"]:
                break
            offset += 1
        cursor = body["permanentStorageHwmDate"]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen)) == 6 * 37


def test_nip_vat_ue_context_sees_only_its_eu_buyer(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    mine = put(env, buyer=None, buyer_identifier=("VatUe", "DE123456789"))
    put(env)
    mock.clock.advance(5)
    headers = token(mock, SELLER, context=ContextIdentifier("NipVatUe", f"{SELLER}-DE123456789"))
    for subject in ("Subject1", "Subject2"):
        got = query(client, headers, since(start, subject)).json()["invoices"]
        assert [i["ksefNumber"] for i in got] == [mine.ksef_number]
    assert query(client, headers, since(start, "Subject3")).json()["invoices"] == []


def test_offset_less_times_are_warsaw_time(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    # 09:00 UTC == 10:00 in Warsaw (CET).
    inv = put(env, accepted=datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC))
    mock.clock.advance(60)
    body = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Invoicing", "from": "2026-03-02T10:00:00"},
    }
    assert [i["ksefNumber"] for i in query(client, token(mock), body).json()["invoices"]] == [
        inv.ksef_number
    ]
    body["dateRange"]["from"] = "2026-03-02T10:01:00"
    assert query(client, token(mock), body).json()["invoices"] == []


def test_pascal_case_body_is_accepted(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    start = mock.clock.now()
    inv = put(env)
    mock.clock.advance(5)
    body = {
        "SubjectType": "subject1",
        "DateRange": {"DateType": "Invoicing", "From": format_datetime(start)},
        "InvoiceTypes": ["Vat"],
    }
    resp = query(client, token(mock), body)
    assert resp.status_code == 200, resp.text
    assert [i["ksefNumber"] for i in resp.json()["invoices"]] == [inv.ksef_number]
