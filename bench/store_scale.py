"""How the invoice store scales: insert rate, memory per invoice, query latency.

Not a test: prints numbers. Run from the project root:

    python -m bench.store_scale [N]      # N invoices, default 100 000

Invoices are FA(3) documents built from the official sample (read at run time)
with varied sellers, buyers, numbers and amounts: 1 000 sellers, one of them
big (a fifth of all invoices), 20 000 buyers, a third subject on every tenth.
Figures:

1. ``bulk_store`` and single ``store`` rates;
2. RSS growth per stored invoice (the XML bytes built for the run are freed first);
3. latency (p50/p99) of metadata queries through the backend and through the
   ASGI app: a small seller's month, the big seller with a selective row filter,
   HWM pages (PermanentStorage, restrict, pageSize 250) deep into the big
   seller's 10 000-record window, a buyer's view, and a download.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from starlette.testclient import TestClient

from bench._common import rss_kb
from mockksef import MockConfig, MockState, create_app, official
from mockksef.clock import Clock, format_datetime
from mockksef.models import ContextIdentifier
from mockksef.services.invoices.models import StoredInvoice
from tests.conftest import auth_headers

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=90)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   (n={len(ordered)})"


def nip(i: int) -> str:
    return f"{1_110_000_000 + i * 7919:010d}"


class Generator:
    def __init__(self, env, n: int) -> None:  # type: ignore[no-untyped-def]
        self.env = env
        self.n = n
        self.rng = random.Random(7)
        template = (official.locate() / "sample-invoices" / "invoice-template-fa-3.xml").read_text(
            encoding="utf-8"
        )
        self.template = template.replace("<NIP>1111111111</NIP>", "<NIP>#buyer#</NIP>")
        self.sellers = [nip(i) for i in range(1000)]
        self.buyers = [nip(10_000 + i) for i in range(20_000)]
        self.base = START - SPAN
        # Sessions and contexts are shared objects, as in a real run.
        self.sessions = [env.rng.reference_number("SO", START) for _ in range(500)]
        self.contexts = {s: ContextIdentifier("Nip", s) for s in self.sellers}

    def invoice(self, i: int) -> StoredInvoice:
        rng = self.rng
        seller = self.sellers[0] if rng.random() < 0.2 else rng.choice(self.sellers)
        buyer = rng.choice(self.buyers)
        accepted = self.base + SPAN * (i / self.n) + timedelta(microseconds=rng.randint(0, 999))
        issue = (accepted - timedelta(days=rng.randint(0, 5))).date()
        number = f"FV/{i}/{issue.month:02d}/2026"
        gross = round(rng.uniform(10, 50_000), 2)
        text = (
            self.template.replace("#nip#", seller)
            .replace("#buyer#", buyer)
            .replace("FA/GRQMB-#invoice_number#/05/2025", number)
            .replace("<P_1>2025-09-01</P_1>", f"<P_1>{issue.isoformat()}</P_1>")
            .replace("<P_15>53.63</P_15>", f"<P_15>{gross:.2f}</P_15>")
        )
        xml = text.encode("utf-8")
        third = (("Nip", rng.choice(self.buyers), "Faktor", 1),) if i % 10 == 0 else ()
        return StoredInvoice(
            ksef_number=self.env.invoices.next_ksef_number(seller, accepted),
            invoice_reference_number=self.env.rng.reference_number("EE", accepted),
            session_reference_number=self.sessions[i % len(self.sessions)],
            sender_context=self.contexts[seller],
            seller_nip=seller,
            seller_name="Elektrownia S.A.",
            buyer_identifier=("Nip", buyer),
            buyer_name="F.H.U. Jan Kowalski",
            third_subjects=third,
            invoice_number=number,
            invoice_type="Vat",
            issue_date=issue,
            invoicing_date=accepted,
            acquisition_date=accepted + timedelta(milliseconds=200),
            permanent_storage_date=accepted + timedelta(seconds=1),
            net_amount=round(gross / 1.23, 2),
            gross_amount=gross,
            vat_amount=round(gross - gross / 1.23, 2),
            currency="EUR" if i % 50 == 0 else "PLN",
            invoice_hash=base64.b64encode(hashlib.sha256(xml).digest()).decode(),
            xml=xml,
        )


def token(mock: MockState, seller: str) -> dict[str, str]:
    return auth_headers(mock, seller, lifetime=timedelta(hours=10))


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    config = replace(MockConfig(seed=1, clock_mode="virtual"), rate_limits_enabled=False)
    mock = MockState(config, clock=Clock.virtual(START))
    env = mock.env("TEST")
    gen = Generator(env, n)
    gc.collect()
    before = rss_kb()

    t0 = time.perf_counter()
    # A generator, as a seeding job would feed it: each document is compacted as it
    # arrives, so the raw bytes never pile up.
    env.invoices.bulk_store(gen.invoice(i) for i in range(n - 1000))
    t1 = time.perf_counter()
    singles = [gen.invoice(i) for i in range(n - 1000, n)]
    t2 = time.perf_counter()
    for inv in singles:
        env.invoices.store(inv)
    t3 = time.perf_counter()
    print(f"invoices: {env.invoices.count():,}")
    print(f"bulk_store (incl. building each invoice): {(t1 - t0) / (n - 1000) * 1e6:8.1f} µs each")
    print(
        f"store one by one (last 1 000):            {(t3 - t2) / len(singles) * 1e6:8.1f} µs each"
    )
    sample_xml = singles[0].xml
    del singles
    gc.collect()
    grown = rss_kb() - before
    print(f"RSS growth: {grown / 1024:,.1f} MiB = {grown * 1024 / n:,.0f} B per invoice")
    if "--freeze" in sys.argv:
        gc.freeze()
        print("gc.freeze() after loading")
    blob = env.invoices.invoices.row(n // 2).xml_blob
    print(f"XML kept: {len(blob)} B compressed of ~{len(sample_xml)} B")

    mock.clock.set(START + timedelta(minutes=5))
    backend = env.invoices
    big = gen.sellers[0]
    small = gen.sellers[17]
    month = {
        "subjectType": "Subject1",
        "dateRange": {
            "dateType": "Invoicing",
            "from": format_datetime(START - timedelta(days=30)),
            "to": format_datetime(START),
        },
    }
    selective = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Issue", "from": format_datetime(START - timedelta(days=40))},
        "currencyCodes": ["EUR"],
        "amount": {"type": "Brutto", "from": 1000},
    }
    hwm = {
        "subjectType": "Subject1",
        "dateRange": {
            "dateType": "PermanentStorage",
            "from": format_datetime(START - timedelta(days=60)),
            "restrictToPermanentStorageHwmDate": True,
        },
    }
    buyer_view = {
        "subjectType": "Subject2",
        "dateRange": {"dateType": "PermanentStorage", "from": format_datetime(START - SPAN)},
    }
    rng = random.Random(3)
    cases = [
        (
            "small seller, one month, page 10",
            ContextIdentifier("Nip", small),
            month,
            lambda: (0, 10),
        ),
        (
            "big seller, EUR >= 1000 (row filters)",
            ContextIdentifier("Nip", big),
            selective,
            lambda: (0, 100),
        ),
        (
            "big seller, HWM page of 250 at random offset",
            ContextIdentifier("Nip", big),
            hwm,
            lambda: (rng.randint(0, 39), 250),
        ),
        (
            "a buyer, 90 days, page 10",
            ContextIdentifier("Nip", gen.buyers[5]),
            buyer_view,
            lambda: (0, 10),
        ),
    ]
    print("\nbackend (no HTTP):")
    for label, context, filters, paging in cases:
        samples = []
        for _ in range(300):
            offset, size = paging()
            t = time.perf_counter()
            backend.query_metadata(context, filters, offset, size)
            samples.append(time.perf_counter() - t)
        print(f"  {label:<46} {percentiles(samples)}")
    numbers = [backend.invoices.row(rng.randrange(n)).ksef_number for _ in range(300)]
    samples = []
    for number in numbers:
        t = time.perf_counter()
        _ = backend.get(number).xml  # type: ignore[union-attr]
        samples.append(time.perf_counter() - t)
    print(f"  {'get + decompress':<46} {percentiles(samples)}")

    print("\nthrough the ASGI app (in-process, HTTP + JSON):")
    app = create_app(state=mock)
    with TestClient(app, base_url="http://testserver/v2") as client:
        for label, context, filters, paging in cases:
            headers = token(mock, context.value)
            samples = []
            for _ in range(200):
                offset, size = paging()
                t = time.perf_counter()
                resp = client.post(
                    "/invoices/query/metadata",
                    headers=headers,
                    json=filters,
                    params={"pageOffset": offset, "pageSize": size},
                )
                samples.append(time.perf_counter() - t)
                assert resp.status_code == 200, resp.text
            print(f"  {label:<46} {percentiles(samples)}")
        headers = token(mock, big)
        samples = []
        for _ in range(200):
            inv = backend.invoices.row(rng.randrange(n))
            auth = token(mock, inv.seller_nip) if inv.seller_nip != big else headers
            t = time.perf_counter()
            resp = client.get(f"/invoices/ksef/{inv.ksef_number}", headers=auth)
            samples.append(time.perf_counter() - t)
            assert resp.status_code == 200
        print(f"  {'download':<46} {percentiles(samples)}")
    _ = date


if __name__ == "__main__":
    main()
