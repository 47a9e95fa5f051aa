"""Entities of the collective-identifier area (identyfikatory zbiorcze, part C §2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from mockksef.ids import crc8
from mockksef.models import ContextIdentifier

NUMBER_RE = re.compile(r"^[0-9]{10}-IZ[0-9]{4}(0[1-9]|1[0-2])-[0-9A-F]{12}-[0-9A-F]{2}$")
MAX_PER_INVOICE_IN_CONTEXT = 132
MAX_NUMBERS_PER_QUERY = 10
MAX_CREATED_RANGE_DAYS = 100


def make_number(seller_nip: str, created: datetime, tech: str) -> str:
    """``NIP-IZYYYYMM-12HEX-CC``: CRC-8 (poly 0x07, init 0) of the first 32 chars."""
    body = f"{seller_nip}-IZ{created.strftime('%Y%m')}-{tech.upper()}"
    return f"{body}-{crc8(body.encode('ascii')):02X}"


def is_valid_number(number: str) -> bool:
    return bool(NUMBER_RE.match(number)) and make_number_check(number)


def make_number_check(number: str) -> bool:
    return f"{crc8(number[:32].encode('ascii')):02X}" == number[33:]


@dataclass(slots=True, frozen=True)
class CollectiveItem:
    ksef_number: str
    amount: float | None = None
    currency: str | None = None
    description: str | None = None

    @property
    def has_details(self) -> bool:
        return self.amount is not None or self.description is not None


@dataclass(slots=True, frozen=True)
class CollectiveIdentifier:
    number: str
    creator: ContextIdentifier
    seller_nip: str
    date_created: datetime
    items: tuple[CollectiveItem, ...]

    @property
    def invoice_count(self) -> int:
        return len(self.items)
