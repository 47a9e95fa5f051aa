"""Deterministic identifiers: one seeded random source per environment.

Secrets are the exception: ``secret_bytes`` draws from the OS, never from a
seed, because a seed is printed (banner, ``/_mock/health``) so that a run can
be replayed, and anything derived from it could be recomputed by anyone.

Reference numbers follow KSeF's ``YYYYMMDD-TT-HHHHHHHHHH-HHHHHHHHHH-CC`` with the
CRC-8 (poly 0x07) checksum over the first 33 characters, the same CRC the
official docs prescribe for KSeF invoice numbers.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from random import Random
from typing import TypeVar
from zoneinfo import ZoneInfo

WARSAW = ZoneInfo("Europe/Warsaw")

_T = TypeVar("_T")

REFERENCE_RE = re.compile(r"^\d{8}-[A-Z]{2}-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}$")


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8, polynomial 0x07, init 0, no reflection, no final XOR (table-driven).

    ``crc`` continues a checksum: ``crc8(b, crc8(a)) == crc8(a + b)``.
    """
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def with_checksum(body: str) -> str:
    return f"{body}-{crc8(body.encode('ascii')):02X}"


def is_reference_number(value: str) -> bool:
    return bool(REFERENCE_RE.match(value)) and with_checksum(value[:33]) == value


# type code -> (UTC hour start, its end, "YYYYMMDD-TT-", CRC of that prefix). Warsaw's
# offset is a whole hour, so its day is constant within a UTC hour: the time-zone
# conversion and most of the checksum run once an hour instead of once a number.
_PREFIXES: dict[str, tuple[datetime, datetime, str, int]] = {}
_HOUR = timedelta(hours=1)


def _day_prefix(type_code: str, when: datetime) -> tuple[str, int]:
    cached = _PREFIXES.get(type_code)
    if cached is not None and cached[0] <= when < cached[1]:
        return cached[2], cached[3]
    local = when.astimezone(WARSAW)
    prefix = f"{local.year:04d}{local.month:02d}{local.day:02d}-{type_code}-"
    start = when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    crc = crc8(prefix.encode("ascii"))
    _PREFIXES[type_code] = (start, start + _HOUR, prefix, crc)
    return prefix, crc


def fresh_seed() -> int:
    """A seed for a server started without one: different on every start.

    63 bits fit every integer parser (``--seed N`` replays the run) and make two
    starts sharing a seed, and so their identifiers, practically impossible.
    """
    return secrets.randbits(63)


def secret_bytes(n: int) -> bytes:
    """Key material (JWT and URL signing): from the OS, whatever the seed."""
    return secrets.token_bytes(n)


# Draws from any RandomSource so far (``--data``: a read that drew an identifier,
# such as a UPO page numbered or a certificate issued when a status is first read,
# made something a restart cannot rebuild, so it commits like a write).
_DRAWN = [0]


def draws() -> int:
    return _DRAWN[0]


class RandomSource:
    """The seeded random source. Same seed, same sequence of identifiers."""

    def __init__(self, seed: int | str, stream: str = "") -> None:
        self.seed = seed
        self.stream = stream
        digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
        self._rng = Random(int.from_bytes(digest, "big"))
        self._lock = threading.Lock()

    def child(self, stream: str) -> RandomSource:
        return RandomSource(self.seed, f"{self.stream}/{stream}")

    def bytes(self, n: int) -> bytes:
        with self._lock:
            _DRAWN[0] += 1
            return self._rng.getrandbits(8 * n).to_bytes(n, "big") if n else b""

    def hex(self, n_chars: int, upper: bool = True) -> str:
        if n_chars > 0 and n_chars % 2 == 0:
            # The same digits as the bytes' hex below, from the same random bits, in
            # one format call (reference numbers draw this on every request).
            with self._lock:
                _DRAWN[0] += 1
                bits = self._rng.getrandbits(4 * n_chars)
            return f"{bits:0{n_chars}X}" if upper else f"{bits:0{n_chars}x}"
        text = self.bytes((n_chars + 1) // 2).hex()[:n_chars]
        return text.upper() if upper else text

    def randint(self, low: int, high: int) -> int:
        with self._lock:
            _DRAWN[0] += 1
            return self._rng.randint(low, high)

    def random(self) -> float:
        with self._lock:
            _DRAWN[0] += 1
            return self._rng.random()

    def choice(self, items: Sequence[_T]) -> _T:
        with self._lock:
            _DRAWN[0] += 1
            return self._rng.choice(items)

    def generator(self, stream: str) -> Random:
        """A private ``random.Random`` for a hot loop (no lock), seeded from this source.

        Same seed and stream, same sequence; drawing from it does not advance this
        source. For bulk generators (seeding a million invoices), where the
        locked methods above would cost more than the work itself.
        """
        digest = hashlib.sha256(f"{self.seed}:{self.stream}/{stream}".encode()).digest()
        return Random(int.from_bytes(digest, "big"))

    def uuid(self) -> str:
        h = self.hex(32, upper=False)
        # Version 4 layout so that strict GUID parsers accept it.
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"

    def trace_id(self) -> str:
        return self.hex(32, upper=False)

    def reference_number(self, type_code: str, when: datetime) -> str:
        """A KSeF reference number; the date part is the Europe/Warsaw day."""
        prefix, crc = _day_prefix(type_code, when)
        # The first group looks time-derived in real numbers (ends in 000).
        rest = f"{int(when.timestamp() * 1000) % 16**7:07X}000-{self.hex(10)}"
        return f"{prefix}{rest}-{crc8(rest.encode('ascii'), crc):02X}"
