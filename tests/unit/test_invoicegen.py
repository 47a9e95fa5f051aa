"""The FA(3) invoice generator: valid documents, consistent amounts, deterministic rows."""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mockksef.ids import WARSAW
from mockksef.invoicegen import (
    PRODUCTS,
    Draft,
    GeneratedInvoice,
    InvoiceGenerator,
    Line,
    grosze,
    random_nip,
    vat_of,
)
from mockksef.models import NIP_RE, nip_checksum_ok
from mockksef.services.invoices.store import is_valid_ksef_number
from mockksef.xml import xsd
from mockksef.xml.extract import extract
from tests.conftest import OFFICIAL

FA3 = xsd.find_form("FA (3)", "1-0E", "FA")
START = datetime(2026, 2, 1, tzinfo=UTC)
END = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def schema():  # type: ignore[no-untyped-def]
    assert FA3 is not None
    return xsd.invoice_schema(OFFICIAL, FA3)


def check(document: bytes, schema) -> None:  # type: ignore[no-untyped-def]
    errors = xsd.validate(xsd.parse_document(document), schema)
    assert errors == [], errors


def rows(generator: InvoiceGenerator, count: int = 300, **kwargs) -> list[GeneratedInvoice]:  # type: ignore[no-untyped-def]
    sellers = kwargs.pop("sellers") if "sellers" in kwargs else generator.parties_for(5)
    buyers = kwargs.pop("buyers") if "buyers" in kwargs else generator.parties_for(30)
    options = {
        "sellers": sellers,
        "buyers": buyers,
        "start": START,
        "end": END,
        "first_number": lambda nip: 1,
        "taken": lambda number: False,
    }
    options.update(kwargs)
    return list(generator.stored_invoices(count, **options))


# -- documents ------------------------------------------------------------------------------------


def test_documents_are_valid_fa3_for_many_seeds(schema) -> None:  # type: ignore[no-untyped-def]
    for seed in range(40):
        generator = InvoiceGenerator(seed)
        check(generator.document(consumer=seed % 7 == 0), schema)


def test_stored_rows_render_valid_documents_that_say_what_the_row_says(schema) -> None:  # type: ignore[no-untyped-def]
    generated = rows(InvoiceGenerator(3), 200, consumer_share=0.1)
    assert FA3 is not None
    for row in generated[::7]:
        document = row.xml
        check(document, schema)
        facts = extract(xsd.parse_document(document), FA3)
        assert facts.seller_nip == row.seller_nip
        assert facts.seller_name == row.seller_name
        assert facts.invoice_number == row.invoice_number
        assert facts.invoice_type == row.invoice_type == "Vat"
        assert facts.issue_date == row.issue_date
        assert facts.buyer_identifier == row.buyer_identifier
        assert facts.buyer_name == row.buyer_name
        assert facts.net_amount == Decimal(str(row.net_amount)).quantize(Decimal("0.01"))
        assert facts.vat_amount == Decimal(str(row.vat_amount)).quantize(Decimal("0.01"))
        assert facts.gross_amount == Decimal(str(row.gross_amount)).quantize(Decimal("0.01"))
        assert row.invoice_hash == base64.b64encode(hashlib.sha256(document).digest()).decode()
        assert row.invoice_size == len(document)
    assert any(r.buyer_identifier == ("None", None) for r in generated)


def test_amounts_are_consistent_in_grosze() -> None:
    generator = InvoiceGenerator(11)
    for _ in range(2000):
        recipe = generator.recipe()
        lines = generator.lines_of(recipe)
        assert 1 <= len(lines) <= 5
        by_rate: dict[int, int] = {}
        for line in lines:
            assert line.net == line.quantity * line.unit_price > 0
            by_rate[line.rate] = by_rate.get(line.rate, 0) + line.net
        net = sum(by_rate.values())
        vat = sum(vat_of(n, r) for r, n in by_rate.items())
        assert generator.amounts_of(recipe) == (net, vat, net + vat)


def test_rendered_sums_match_the_lines(schema) -> None:  # type: ignore[no-untyped-def]
    generator = InvoiceGenerator(5)
    seller, buyer = generator.party(), generator.party()
    lines = (
        Line("Usługa programistyczna", "godz.", 10, 18000, 23),
        Line("Usługa hotelowa", "doba", 3, 33333, 8),
        Line("Książka fachowa", "szt.", 1, 8999, 5),
    )
    draft = Draft(
        seller,
        buyer,
        "FV/1/03/2026",
        date(2026, 3, 2),
        date(2026, 3, 1),
        START,
        date(2026, 3, 16),
        lines,
    )
    document = generator.render(draft)
    check(document, schema)
    text = document.decode()
    assert "<P_13_1>1800.00</P_13_1><P_14_1>414.00</P_14_1>" in text
    assert "<P_13_2>999.99</P_13_2><P_14_2>80.00</P_14_2>" in text
    assert "<P_13_3>89.99</P_13_3><P_14_3>4.50</P_14_3>" in text
    assert "<P_15>3388.48</P_15>" in text
    assert "<P_6>2026-03-01</P_6>" in text
    assert grosze(-5) == "-0.05" and grosze(123456) == "1234.56"


def test_names_are_escaped(schema) -> None:  # type: ignore[no-untyped-def]
    generator = InvoiceGenerator(1)
    seller = generator.party("5265877635", 'Kowalski & Syn <"Hurt">')
    document = generator.document(seller, number="FV/<1>&")
    check(document, schema)
    assert b"Kowalski &amp; Syn &lt;" in document


# -- parties -------------------------------------------------------------------------------------


def test_parties_have_valid_nips_and_polish_data() -> None:
    generator = InvoiceGenerator(2)
    parties = generator.parties_for(100)
    assert len({p.nip for p in parties}) == 100
    for party in parties:
        assert NIP_RE.match(party.nip) and nip_checksum_ok(party.nip)
        assert party.name and party.city and party.street
        assert len(party.postcode) == 6 and party.postcode[2] == "-"
        assert len(party.account) == 26 and party.account.isdigit()
        # NRB check digits: PL IBAN mod 97 == 1
        iban = party.account[2:] + "2521" + party.account[:2]
        assert int(iban) % 97 == 1
    assert generator.party(parties[0].nip) is parties[0]
    with pytest.raises(ValueError, match="not a valid NIP"):
        generator.party("1234567890")


def test_random_nip_is_always_valid() -> None:
    rng = random.Random(0)
    for _ in range(500):
        nip = random_nip(rng)
        assert NIP_RE.match(nip) and nip_checksum_ok(nip)


# -- rows -----------------------------------------------------------------------------------------


def test_rows_are_ordered_numbered_and_carry_valid_ksef_numbers() -> None:
    generator = InvoiceGenerator(4)
    sellers = generator.parties_for(3)
    first = {sellers[0].nip: 41, sellers[1].nip: 1, sellers[2].nip: 7}
    generated = rows(generator, 500, sellers=sellers, first_number=first.__getitem__)
    times = [r.invoicing_date for r in generated]
    assert times == sorted(times) and START <= times[0] and times[-1] < END
    numbers: dict[str, list[int]] = {}
    for row in generated:
        assert is_valid_ksef_number(row.ksef_number)
        nip, day, _, _ = row.ksef_number.split("-")
        assert nip == row.seller_nip
        assert day == row.invoicing_date.astimezone(WARSAW).strftime("%Y%m%d")
        assert row.invoicing_date < row.acquisition_date < row.permanent_storage_date
        assert row.issue_date <= row.invoicing_date.astimezone(WARSAW).date()
        assert row.issue_date >= row.invoicing_date.astimezone(WARSAW).date() - timedelta(days=3)
        assert row.buyer_identifier[1] != row.seller_nip
        assert round(row.net_amount + row.vat_amount, 2) == row.gross_amount
        numbers.setdefault(row.seller_nip, []).append(int(row.invoice_number.split("/")[1]))
        assert row.invoice_reference_number[9:11] == "EE"
    for nip, seqs in numbers.items():
        assert seqs == list(range(first[nip], first[nip] + len(seqs)))
    assert len({r.ksef_number for r in generated}) == 500
    # One session per seller and Warsaw day.
    sessions = {
        (r.seller_nip, r.ksef_number.split("-")[1]): r.session_reference_number for r in generated
    }
    assert len(set(sessions.values())) == len(sessions)


def test_taken_ksef_numbers_are_skipped() -> None:
    first_draw = rows(InvoiceGenerator(8), 1)[0].ksef_number
    again = rows(InvoiceGenerator(8), 1, taken=lambda number: number == first_draw)[0]
    assert again.ksef_number != first_draw


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    def fingerprint(seed: int) -> list[tuple]:  # type: ignore[type-arg]
        return [
            (r.ksef_number, r.invoice_number, r.seller_name, r.gross_amount, r.invoice_hash)
            for r in rows(InvoiceGenerator(seed), 50)
        ]

    assert fingerprint(21) == fingerprint(21)
    assert fingerprint(21) != fingerprint(22)
    assert InvoiceGenerator(3).document() == InvoiceGenerator(3).document()


def test_lazy_fields_are_computed_once_and_documents_are_not_kept() -> None:
    row = rows(InvoiceGenerator(6), 1)[0]
    assert row.xml_blob == b"\x00"  # nothing stored
    digest = row.invoice_hash
    assert digest and row.invoice_hash is digest
    assert row.invoice_reference_number == row.invoice_reference_number
    row.compact(None)
    assert row.xml_blob == b"\x00"
    assert row.metadata()["invoiceHash"] == digest


def test_consumer_only_and_argument_errors() -> None:
    generator = InvoiceGenerator(9)
    only = rows(generator, 20, buyers=[], consumer_share=1.0)
    assert {r.buyer_identifier for r in only} == {("None", None)}
    seller = generator.party()
    with pytest.raises(ValueError, match="no sellers"):
        rows(generator, 1, sellers=[])
    with pytest.raises(ValueError, match="ends before"):
        rows(generator, 1, sellers=[seller], start=END, end=START)
    with pytest.raises(ValueError, match="aware"):
        rows(generator, 1, start=datetime(2026, 1, 1), end=END)


def test_a_seller_never_buys_from_itself() -> None:
    generator = InvoiceGenerator(10)
    me = generator.party()
    other = generator.party()
    generated = rows(generator, 200, sellers=[me], buyers=[me, other])
    assert {r.buyer_identifier for r in generated} == {("Nip", other.nip)}
    alone = rows(generator, 5, sellers=[me], buyers=[me])
    assert {r.buyer_identifier for r in alone} == {("None", None)}


def test_product_catalogue_rates_are_the_ones_rendered() -> None:
    assert {p.rate for p in PRODUCTS} == {23, 8, 5}
    assert len(PRODUCTS) <= 32
