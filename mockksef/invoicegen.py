"""FA(3) invoices generated with faker: realistic, valid, deterministic, at any volume.

Two paths share one recipe:

* ``InvoiceGenerator.document(...)`` renders one FA(3) document (bytes) for a
  client to encrypt and send through a session, like a real ERP would;
* ``InvoiceGenerator.stored_invoices(...)`` yields ready ``StoredInvoice`` rows
  for the seeding path (``env.invoices.bulk_store``), a million in well under a
  minute. Their XML is not kept: it is rendered again on read from the row's
  own fields plus a 171-bit *recipe* (line items, sale and due dates, creation
  time, reference number), so a row costs memory for its metadata only.
  ``invoiceHash``, ``invoiceSize`` and the invoice reference number are worked
  out on first read, from the very bytes a download returns.

Parties (sellers, buyers) come from faker's locale data (``pl_PL``): company
or sole-trader names, streets and cities drawn once per generator and combined
with random building numbers, postcodes, e-mail, phone, bank account (NRB with
valid IBAN check digits) and REGON; NIPs carry valid checksums. Amounts
are kept in grosze (integers): each line's net is quantity × unit price, VAT is
computed per rate on the rate's net total (23 %, 8 %, 5 %), and
``P_15 = Σ P_13_x + Σ P_14_x`` exactly, so ``netAmount + vatAmount ==
grossAmount`` for every row.

Determinism: everything is drawn from one ``random.Random`` and one faker
instance, both seeded from the seed given (a ``RandomSource`` or a plain
int/str); same seed, same faker version, same invoices. Nothing reads the
wall clock: dates come from the caller.

Simplifications: only ``RodzajFaktury`` VAT in PLN; every line has a common
sale date (``P_6`` when it differs from the issue date); no ``Zalacznik``,
``Podmiot3`` or corrections (send those through a session instead).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from xml.sax.saxutils import escape

from faker import Faker

from mockksef.crypto import sha256_b64
from mockksef.ids import WARSAW, RandomSource, crc8, with_checksum
from mockksef.models import NIP_RE, ContextIdentifier, nip_checksum_ok
from mockksef.services.invoices.models import StoredInvoice

FA3_NAMESPACE = "http://crd.gov.pl/wzor/2025/06/25/13775/"
FA3_FORM_CODE = ("FA (3)", "1-0E", "FA")
# DataWytworzeniaFa may not be earlier than this (FA(3) XSD minInclusive).
FA3_EARLIEST_CREATION = datetime(2025, 9, 1, tzinfo=UTC)
SYSTEM_INFO = "mockksef"

# VAT rate -> (P_13_x, P_14_x) field suffix; order = the XSD sequence.
_RATE_FIELDS = ((23, "1"), (8, "2"), (5, "3"))

_TRADE_PREFIXES = (
    "F.H.U.",
    "P.H.U.",
    "Usługi Budowlane",
    "Biuro Rachunkowe",
    "Firma Handlowa",
    "Zakład Stolarski",
    "Kancelaria Radcy Prawnego",
    "Usługi Transportowe",
    "Pracownia Projektowa",
)


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    unit: str
    # Typical net unit price in grosze; each line varies it by ±25 %.
    price: int
    rate: int
    max_quantity: int


# Written for mockksef: goods and services a Polish SME invoices, with their usual rate.
PRODUCTS: tuple[Product, ...] = (
    Product("Usługa programistyczna", "godz.", 18000, 23, 160),
    Product("Konsultacje wdrożeniowe", "godz.", 25000, 23, 40),
    Product("Abonament serwisowy", "mies.", 49900, 23, 12),
    Product("Licencja oprogramowania", "szt.", 129900, 23, 10),
    Product("Hosting serwera", "mies.", 19900, 23, 12),
    Product("Papier ksero A4 80 g", "ryza", 2390, 23, 50),
    Product("Toner do drukarki", "szt.", 34900, 23, 6),
    Product("Krzesło biurowe", "szt.", 59900, 23, 8),
    Product("Monitor 27 cali", "szt.", 109900, 23, 5),
    Product("Laptop 14 cali", "szt.", 429900, 23, 3),
    Product("Przegląd techniczny floty", "usł.", 45000, 23, 4),
    Product("Transport towarowy", "km", 450, 23, 900),
    Product("Usługa sprzątania biura", "mies.", 180000, 23, 2),
    Product("Obsługa księgowa", "mies.", 90000, 23, 1),
    Product("Szkolenie BHP", "os.", 12000, 23, 25),
    Product("Energia elektryczna czynna", "kWh", 95, 23, 5000),
    Product("Paliwo ON", "l", 520, 23, 800),
    Product("Materiały budowlane", "kpl.", 150000, 23, 5),
    Product("Roboty remontowe lokalu mieszkalnego", "usł.", 350000, 8, 2),
    Product("Usługa hotelowa", "doba", 32000, 8, 10),
    Product("Przewóz osób", "usł.", 60000, 8, 4),
    Product("Usługa gastronomiczna", "usł.", 8500, 8, 40),
    Product("Woda butelkowana 1,5 l", "zgrz.", 1299, 5, 30),
    Product("Kawa ziarnista 1 kg", "szt.", 6999, 5, 20),
    Product("Pieczywo", "szt.", 450, 5, 60),
    Product("Książka fachowa", "szt.", 8900, 5, 10),
    Product("Prenumerata czasopisma", "szt.", 3500, 5, 12),
)
_PRODUCT_BITS = 5  # 32 slots >= len(PRODUCTS); the index wraps
assert len(PRODUCTS) <= 1 << _PRODUCT_BITS
_LINES_CDF = (0.45, 0.75, 0.9, 0.97, 1.0)  # 1..5 lines, mostly short invoices
_DATE_SHIFT = 115
_REFERENCE_SHIFT = 131
_RECIPE_BITS = 171


def grosze(value: int) -> str:
    """An amount in grosze as the FA decimal text (``1234`` -> ``12.34``)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{value // 100}.{value % 100:02d}"


def vat_of(net: int, rate: int) -> int:
    """VAT on a net amount (grosze), rounded half up as Polish invoices do."""
    return (net * rate + 50) // 100


@dataclass(frozen=True, slots=True)
class Party:
    """A seller or buyer with a Polish address, contact data and bank account."""

    nip: str
    name: str
    street: str
    postcode: str
    city: str
    email: str
    phone: str
    account: str  # NRB, 26 digits
    regon: str
    # Pre-rendered DaneIdentyfikacyjne + Adres + DaneKontaktowe (escaped XML).
    fragment: str

    def as_json(self) -> dict[str, str]:
        return {
            "nip": self.nip,
            "name": self.name,
            "address": f"{self.street}, {self.postcode} {self.city}",
            "email": self.email,
            "phone": self.phone,
            "account": self.account,
        }


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    unit: str
    quantity: int
    unit_price: int  # grosze
    rate: int

    @property
    def net(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything one FA(3) document says; amounts in grosze."""

    seller: Party
    buyer: Party | None  # None: a consumer without an identifier (BrakID)
    number: str
    issue_date: date
    sale_date: date
    created: datetime
    due_date: date
    lines: tuple[Line, ...]

    def totals(self) -> tuple[dict[int, tuple[int, int]], int, int, int]:
        """({rate: (net, vat)}, net, vat, gross) in grosze."""
        by_rate: dict[int, int] = {}
        for line in self.lines:
            by_rate[line.rate] = by_rate.get(line.rate, 0) + line.net
        sums = {rate: (net, vat_of(net, rate)) for rate, net in by_rate.items()}
        net = sum(n for n, _ in sums.values())
        vat = sum(v for _, v in sums.values())
        return sums, net, vat, net + vat


@dataclass(frozen=True, slots=True)
class _Bank:
    """Locale words drawn from faker once per generator (see ``InvoiceGenerator.party``)."""

    last_names: tuple[str, ...]
    first_names: tuple[str, ...]
    suffixes: tuple[str, ...]
    prefixes: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[str, ...]
    tlds: tuple[str, ...]


_STREET_PREFIXES = ("ul.", "ul.", "ul.", "ul.", "al.", "pl.", "os.")
_MAILBOXES = ("biuro", "faktury", "kontakt", "ksiegowosc", "office", "sekretariat")
_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")


def _slug(text: str) -> str:
    """A domain label from a Polish name (``Brzeźniak`` -> ``brzezniak``)."""
    ascii_text = text.translate(_ASCII).lower()
    return "".join(ch for ch in ascii_text if ch.isalnum() or ch == "-").strip("-") or "firma"


def random_nip(rng: random.Random) -> str:
    """A syntactically valid NIP (checksum, no ``00`` after the tax-office digit)."""
    while True:
        nip = str(rng.randint(100_000_000, 999_999_999))
        weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
        check = sum(int(d) * w for d, w in zip(nip, weights, strict=True)) % 11
        if check == 10:
            continue
        nip += str(check)
        if NIP_RE.match(nip):
            return nip


def _seed_int(seed: RandomSource | int | str, stream: str) -> random.Random:
    source = seed if isinstance(seed, RandomSource) else RandomSource(seed, "invoicegen")
    return source.generator(stream)


class InvoiceGenerator:
    """Makes parties, drafts, FA(3) documents and stored rows from one seed.

    Parties are remembered by NIP, so a stored row can render its document again
    later; keep the generator alive as long as its rows (the rows refer to it).
    """

    def __init__(self, seed: RandomSource | int | str = 0, *, locale: str = "pl_PL") -> None:
        self.rng = _seed_int(seed, "invoices")
        self.locale = locale
        self.faker = Faker(locale)
        self.faker.seed_instance(self.rng.getrandbits(64))
        self.parties: dict[str, Party] = {}
        self._bank: _Bank | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Stored with the data (--data, snapshots): faker itself is not data; the
        # words it gave are in the bank, and rows render from parties and recipes.
        state = self.__dict__.copy()
        del state["faker"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.faker = Faker(self.locale)
        self.faker.seed_instance(self.rng.getrandbits(64))

    # -- parties -------------------------------------------------------------------------

    def party(self, nip: str | None = None, name: str | None = None) -> Party:
        """The party with this NIP (made up once, then remembered); a new NIP when None.

        Names, streets and cities come from faker's locale data, drawn once into
        a bank and combined here: faker's own formatters cost ~100 µs a party,
        too much for pools of tens of thousands.
        """
        known = self.parties.get(nip) if nip is not None else None
        if known is not None and (name is None or name == known.name):
            return known
        rng = self.rng
        if nip is None:
            nip = random_nip(rng)
            while nip in self.parties:
                nip = random_nip(rng)
        elif not (NIP_RE.match(nip) and nip_checksum_ok(nip)):
            raise ValueError(f"{nip!r} is not a valid NIP")
        bank = self._bank or self._new_bank()
        choice = rng.choice
        last = choice(bank.last_names)
        if name is None:
            pick = rng.random()
            if pick < 0.35:
                name = f"{last} {choice(bank.suffixes)}"
            elif pick < 0.5:
                name = f"{last}-{choice(bank.last_names)} {choice(bank.suffixes)}"
            elif pick < 0.7:
                name = f"{choice(bank.prefixes)} {last} {choice(bank.suffixes)}"
            else:
                name = f"{choice(_TRADE_PREFIXES)} {choice(bank.first_names)} {last}"
        street = f"{choice(_STREET_PREFIXES)} {choice(bank.streets)} {rng.randint(1, 199)}"
        if rng.random() < 0.3:
            street += f"/{rng.randint(1, 80)}"
        postcode = f"{rng.randint(0, 99):02d}-{rng.randint(0, 999):03d}"
        city = choice(bank.cities)
        domain = f"{_slug(last)}.{choice(bank.tlds)}"
        email = f"{choice(_MAILBOXES)}@{domain}"
        phone = str(rng.randint(500_000_000, 899_999_999))
        bban = f"{rng.randint(10_000_000, 99_999_999)}{rng.getrandbits(53) % 10**16:016d}"
        account = f"{98 - int(bban + '252100') % 97:02d}{bban}"
        regon_body = f"{rng.randint(1, 99_999_999):08d}"
        regon_sum = sum(
            int(d) * w for d, w in zip(regon_body, (8, 9, 2, 3, 4, 5, 6, 7), strict=True)
        )
        regon = regon_body + str(regon_sum % 11 % 10)
        fragment = (
            f"<DaneIdentyfikacyjne><NIP>{nip}</NIP><Nazwa>{escape(name)}</Nazwa>"
            f"</DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>{escape(street)}"
            f"</AdresL1><AdresL2>{postcode} {escape(city)}</AdresL2></Adres><DaneKontaktowe>"
            f"<Email>{escape(email)}</Email><Telefon>{phone}</Telefon></DaneKontaktowe>"
        )
        party = Party(nip, name, street, postcode, city, email, phone, account, regon, fragment)
        self.parties[nip] = party
        return party

    def _new_bank(self) -> _Bank:
        fake = self.faker
        self._bank = _Bank(
            last_names=tuple(fake.last_name() for _ in range(400)),
            first_names=tuple(fake.first_name() for _ in range(200)),
            suffixes=tuple(fake.company_suffix() for _ in range(40)),
            prefixes=tuple(fake.company_prefix() for _ in range(40)),
            streets=tuple(fake.street_name() for _ in range(400)),
            cities=tuple(fake.city() for _ in range(300)),
            tlds=tuple(fake.tld() for _ in range(20)),
        )
        return self._bank

    def parties_for(self, spec: int | Sequence[str] | None) -> list[Party]:
        """A pool: ``n`` new parties, or the parties of the NIPs listed."""
        if spec is None:
            return []
        if isinstance(spec, int):
            return [self.party() for _ in range(spec)]
        return [self.party(nip) for nip in spec]

    # -- recipes ---------------------------------------------------------------------------
    #
    # A recipe is one random integer whose bit fields choose everything a row does not store:
    # bits 0-114 the line items (10 for the count, 21 per line), 115-130 the sale date, due
    # date and creation time, 131-170 the invoice reference number. A row needs no more than
    # this number to be rendered again, and one getrandbits() is the cheapest way to draw it.

    def recipe(self) -> int:
        return self.rng.getrandbits(_RECIPE_BITS)

    @staticmethod
    def lines_of(recipe: int) -> tuple[Line, ...]:
        bits = recipe
        count = bisect_right(_LINES_CDF, (bits & 0x3FF) / 1024.0) + 1
        bits >>= 10
        lines = []
        for _ in range(count):
            chunk = bits & _LINE_MASK
            bits >>= _LINE_BITS
            product = PRODUCTS[(chunk & 0x1F) % len(PRODUCTS)]
            lines.append(
                Line(
                    product.name,
                    product.unit,
                    _QUANTITY[chunk & 0x7FFF],
                    _PRICE[((chunk >> 15) << 5) | (chunk & 0x1F)],
                    product.rate,
                )
            )
        return tuple(lines)

    @staticmethod
    def _dates(recipe: int, issue: date, invoicing: datetime) -> tuple[date, date, datetime]:
        top = recipe >> _DATE_SHIFT
        sale_back = (0, 0, 0, 1, 2, 3, 5, 7)[top & 7]
        due_days = (0, 7, 14, 14, 14, 21, 30, 60)[(top >> 3) & 7]
        created_back = timedelta(seconds=(top >> 6) & 0x3FF)
        created = max(invoicing - created_back, FA3_EARLIEST_CREATION)
        return issue - timedelta(days=sale_back), issue + timedelta(days=due_days), created

    def draft(
        self,
        seller: Party,
        buyer: Party | None,
        number: str,
        issue_date: date,
        invoicing: datetime,
        recipe: int,
    ) -> Draft:
        sale, due, created = self._dates(recipe, issue_date, invoicing)
        return Draft(seller, buyer, number, issue_date, sale, created, due, self.lines_of(recipe))

    # -- rendering ---------------------------------------------------------------------------

    @staticmethod
    def render(draft: Draft) -> bytes:
        """The FA(3) document of a draft (UTF-8, no BOM; valid against the official XSD)."""
        sums, _net, _vat, gross = draft.totals()
        created = draft.created.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        seller, buyer = draft.seller, draft.buyer
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Faktura xmlns="{FA3_NAMESPACE}"><Naglowek>'
            '<KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>'
            f"<WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{created.isoformat()}Z"
            f"</DataWytworzeniaFa><SystemInfo>{SYSTEM_INFO}</SystemInfo></Naglowek>"
            f"<Podmiot1>{seller.fragment}</Podmiot1><Podmiot2>",
            buyer.fragment
            if buyer is not None
            else f"<DaneIdentyfikacyjne><BrakID>1</BrakID><Nazwa>{CONSUMER_NAME}</Nazwa>"
            "</DaneIdentyfikacyjne>",
            "<JST>2</JST><GV>2</GV></Podmiot2>"
            f"<Fa><KodWaluty>PLN</KodWaluty><P_1>{draft.issue_date.isoformat()}</P_1>"
            f"<P_1M>{escape(seller.city)}</P_1M><P_2>{escape(draft.number)}</P_2>",
        ]
        if draft.sale_date != draft.issue_date:
            parts.append(f"<P_6>{draft.sale_date.isoformat()}</P_6>")
        for rate, suffix in _RATE_FIELDS:
            if rate in sums:
                net, vat = sums[rate]
                parts.append(
                    f"<P_13_{suffix}>{grosze(net)}</P_13_{suffix}>"
                    f"<P_14_{suffix}>{grosze(vat)}</P_14_{suffix}>"
                )
        parts.append(
            f"<P_15>{grosze(gross)}</P_15><Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18>"
            "<P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu>"
            "<P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1"
            "</P_PMarzyN></PMarzy></Adnotacje><RodzajFaktury>VAT</RodzajFaktury>"
        )
        for n, line in enumerate(draft.lines, start=1):
            parts.append(
                f"<FaWiersz><NrWierszaFa>{n}</NrWierszaFa><P_7>{escape(line.name)}</P_7>"
                f"<P_8A>{line.unit}</P_8A><P_8B>{line.quantity}</P_8B>"
                f"<P_9A>{grosze(line.unit_price)}</P_9A><P_11>{grosze(line.net)}</P_11>"
                f"<P_12>{line.rate}</P_12></FaWiersz>"
            )
        parts.append(
            f"<Platnosc><TerminPlatnosci><Termin>{draft.due_date.isoformat()}</Termin>"
            "</TerminPlatnosci><FormaPlatnosci>6</FormaPlatnosci><RachunekBankowy>"
            f"<NrRB>{seller.account}</NrRB></RachunekBankowy></Platnosc></Fa>"
            f"<Stopka><Rejestry><REGON>{seller.regon}</REGON></Rejestry></Stopka></Faktura>"
        )
        return "".join(parts).encode("utf-8")

    def document(
        self,
        seller: str | Party | None = None,
        buyer: str | Party | None = None,
        *,
        number: str | None = None,
        issue_date: date | None = None,
        invoicing: datetime | None = None,
        consumer: bool = False,
    ) -> bytes:
        """One FA(3) document for a client to send (random parties and number when not given).

        ``issue_date`` defaults to the Warsaw day of ``invoicing``; ``invoicing``
        (used for ``DataWytworzeniaFa``) defaults to noon UTC of the issue date.
        """
        seller_party = seller if isinstance(seller, Party) else self.party(seller)
        buyer_party: Party | None = None
        if not consumer:
            buyer_party = buyer if isinstance(buyer, Party) else self.party(buyer)
        if invoicing is None:
            day = issue_date or date(2026, 2, 2)
            invoicing = datetime.combine(day, time(12, 0), UTC)
        issue = issue_date or invoicing.astimezone(WARSAW).date()
        number = number or f"FV/{self.rng.randint(1, 99999)}/{issue:%m/%Y}"
        return self.render(
            self.draft(seller_party, buyer_party, number, issue, invoicing, self.recipe())
        )

    # -- stored rows (the seeding path) --------------------------------------------------------

    @staticmethod
    def amounts_of(recipe: int) -> tuple[int, int, int]:
        """(net, vat, gross) in grosze of a recipe's lines, without building them (hot path)."""
        bits = recipe
        count = bisect_right(_LINES_CDF, (bits & 0x3FF) / 1024.0) + 1
        bits >>= 10
        by_rate = [0, 0, 0]
        for _ in range(count):
            chunk = bits & _LINE_MASK
            bits >>= _LINE_BITS
            product = chunk & 0x1F
            by_rate[_RATE_SLOT[product]] += (
                _QUANTITY[chunk & 0x7FFF] * _PRICE[((chunk >> 15) << 5) | product]
            )
        net = by_rate[0] + by_rate[1] + by_rate[2]
        vat = (
            (by_rate[0] * 23 + 50) // 100
            + (by_rate[1] * 8 + 50) // 100
            + (by_rate[2] * 5 + 50) // 100
        )
        return net, vat, net + vat

    def stored_invoices(
        self,
        count: int,
        *,
        sellers: Sequence[Party],
        buyers: Sequence[Party],
        start: datetime,
        end: datetime,
        first_number: Callable[[str], int],
        taken: Callable[[str], bool],
        consumer_share: float = 0.0,
        backdated_share: float = 0.2,
        storage_seconds: tuple[float, float] = (1.0, 4.0),
    ) -> Iterator[GeneratedInvoice]:
        """``count`` accepted invoices, ``invoicingDate`` spread over [start, end) in order.

        Each seller numbers its invoices ``FV/{n}/{MM}/{YYYY}`` from
        ``first_number(nip)`` on (the caller passes how many it already has, so
        numbers never repeat); ``taken(ksef_number)`` tells which KSeF numbers the
        store already holds. Invoices are filed in one online session per seller
        and Warsaw day. ``backdated_share`` of them are issued 1–3 days before they
        were sent. A seller never buys from itself.
        """
        if count <= 0:
            return
        if not sellers:
            raise ValueError("no sellers")
        if not buyers and consumer_share < 1.0:
            raise ValueError("no buyers")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        span = (end - start).total_seconds()
        if span < 0:
            raise ValueError("the date range ends before it starts")
        rng = self.rng
        getrandbits = rng.getrandbits
        rand = rng.random
        step = span / count
        next_number = {p.nip: first_number(p.nip) for p in sellers}
        contexts = {p.nip: ContextIdentifier("Nip", p.nip) for p in sellers}
        buyer_ids = [("Nip", p.nip) for p in buyers]
        no_buyer = ("None", None)
        sessions: dict[str, str] = {}
        ksef_prefix_crc: dict[str, tuple[str, int]] = {}
        seen: set[str] = set()
        n_sellers, n_buyers = len(sellers), len(buyers)
        low_delay, high_delay = storage_seconds
        delay_span = high_delay - low_delay
        hex48 = "{:012X}".format
        amounts_of = self.amounts_of
        one_day = timedelta(days=1)
        # Warsaw day of the current invoice, recomputed only when a day boundary is crossed
        # (rows come in time order; zoneinfo conversions are the slow part otherwise).
        day_end = start
        day = ""
        today = start.date()
        for i in range(count):
            invoicing = start + timedelta(seconds=(i + rand()) * step)
            if invoicing >= day_end:
                local = invoicing.astimezone(WARSAW)
                today = local.date()
                day = f"{today:%Y%m%d}"
                midnight = datetime.combine(today + one_day, time(0), WARSAW)
                day_end = midnight.astimezone(UTC)
                sessions.clear()
                ksef_prefix_crc.clear()
            s_index = int(rand() * n_sellers)
            seller = sellers[s_index]
            nip = seller.nip
            if consumer_share > 0.0 and rand() < consumer_share:
                buyer_id: tuple[str, str | None] = no_buyer
                buyer_name = CONSUMER_NAME
            else:
                b_index = int(rand() * n_buyers)
                buyer = buyers[b_index]
                if buyer.nip == nip:
                    if n_buyers == 1:
                        buyer_id, buyer_name = no_buyer, CONSUMER_NAME
                    else:
                        b_index = (b_index + 1) % n_buyers
                        buyer_id, buyer_name = buyer_ids[b_index], buyers[b_index].name
                else:
                    buyer_id, buyer_name = buyer_ids[b_index], buyer.name
            issue = today
            if backdated_share and rand() < backdated_share:
                issue = today - one_day * (1 + int(rand() * 3))
            seq = next_number[nip]
            next_number[nip] = seq + 1
            recipe = getrandbits(_RECIPE_BITS)
            net, vat, gross = amounts_of(recipe)
            prefix = ksef_prefix_crc.get(nip)
            if prefix is None:
                text = f"{nip}-{day}-"
                prefix = ksef_prefix_crc[nip] = (text, crc8(text.encode("ascii")))
            while True:
                tech = hex48(getrandbits(48))
                body = prefix[0] + tech
                ksef_number = f"{body}-{crc8(tech.encode('ascii'), prefix[1]):02X}"
                if ksef_number not in seen and not taken(ksef_number):
                    seen.add(ksef_number)
                    break
            session = sessions.get(nip)
            if session is None:
                session = sessions[nip] = self._reference("SO", invoicing, getrandbits(40))
            acquisition = invoicing + timedelta(seconds=0.2 + rand())
            yield GeneratedInvoice(
                ksef_number=ksef_number,
                invoice_reference_number="",
                session_reference_number=session,
                sender_context=contexts[nip],
                seller_nip=nip,
                seller_name=seller.name,
                buyer_identifier=buyer_id,
                buyer_name=buyer_name,
                invoice_number=f"FV/{seq}/{issue.month:02d}/{issue.year}",
                invoice_type="Vat",
                form_code=FA3_FORM_CODE,
                issue_date=issue,
                invoicing_date=invoicing,
                acquisition_date=acquisition,
                permanent_storage_date=acquisition
                + timedelta(seconds=low_delay + delay_span * rand()),
                net_amount=net / 100,
                gross_amount=gross / 100,
                vat_amount=vat / 100,
                invoice_hash="",
                xml=None,
            ).attach(self, recipe)

    @staticmethod
    def _reference(type_code: str, when: datetime, tail: int) -> str:
        """A reference number shaped like ``RandomSource.reference_number`` draws it."""
        day = when.astimezone(WARSAW).strftime("%Y%m%d")
        first = f"{int(when.timestamp() * 1000) % 16**7:07X}000"
        return with_checksum(f"{day}-{type_code}-{first}-{tail:010X}")

    def draft_of(self, invoice: StoredInvoice, recipe: int) -> Draft:
        """The draft a generated row was made from (its parties must still be known)."""
        buyer_type, buyer_nip = invoice.buyer_identifier
        buyer = self.parties[buyer_nip] if buyer_type == "Nip" and buyer_nip else None
        return self.draft(
            self.parties[invoice.seller_nip],
            buyer,
            invoice.invoice_number,
            invoice.issue_date,
            invoice.invoicing_date,
            recipe,
        )


CONSUMER_NAME = "Klient detaliczny"
# A line is 21 recipe bits: product slot (5), quantity (10), price factor (6). Everything a
# line's amount needs is looked up by those bits (the hot path does no division).
_LINE_BITS = 21
_LINE_MASK = (1 << _LINE_BITS) - 1
_SLOTS = tuple(PRODUCTS[i % len(PRODUCTS)] for i in range(1 << _PRODUCT_BITS))
_RATE_SLOT = tuple([r for r, _ in _RATE_FIELDS].index(p.rate) for p in _SLOTS)
# index (quantity bits << 5) | slot -> 1 + bits % max_quantity
_QUANTITY = tuple(1 + (i >> 5) % _SLOTS[i & 0x1F].max_quantity for i in range(1 << 15))
# index (factor bits << 5) | slot -> unit price: ±25 % around the typical one, in 1/64 steps
_PRICE = tuple(
    max(1, _SLOTS[i & 0x1F].price * (48 + (i >> 5) * 32 // 63) // 64) for i in range(1 << 11)
)


class GeneratedInvoice(StoredInvoice):
    """A seeded ``StoredInvoice`` whose XML is rendered on read (see the module docstring).

    ``invoice_hash``, ``invoice_size`` and ``invoice_reference_number`` are
    worked out on first read (from the rendered bytes and the recipe) and kept.
    """

    __slots__ = ("generator", "recipe", "_hash", "_size", "_reference")

    generator: InvoiceGenerator
    recipe: int
    _hash: str
    _size: int
    _reference: str

    def attach(self, generator: InvoiceGenerator, recipe: int) -> GeneratedInvoice:
        self.generator = generator
        self.recipe = recipe
        return self

    @property
    def xml(self) -> bytes:
        return self.generator.render(self.generator.draft_of(self, self.recipe))

    def _digest(self) -> None:
        data = self.xml
        self._size = len(data)
        self._hash = sha256_b64(data)

    @property
    def invoice_hash(self) -> str:
        if not self._hash:
            self._digest()
        return self._hash

    @invoice_hash.setter
    def invoice_hash(self, value: str) -> None:
        self._hash = value

    @property
    def invoice_size(self) -> int:
        if not self._size:
            self._digest()
        return self._size

    @invoice_size.setter
    def invoice_size(self, value: int) -> None:
        self._size = value

    @property
    def invoice_reference_number(self) -> str:
        if not self._reference:
            self._reference = InvoiceGenerator._reference(
                "EE", self.invoicing_date, self.recipe >> _REFERENCE_SHIFT
            )
        return self._reference

    @invoice_reference_number.setter
    def invoice_reference_number(self, value: str) -> None:
        self._reference = value

    def compact(self, dictionary: bytes | None) -> None:
        """Nothing to compress: the document is not kept."""
