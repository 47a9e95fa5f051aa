"""Mock Ministry of Finance public keys (``KsefTokenEncryption``, ``SymmetricKeyEncryption``).

Each environment has its own RSA-2048 key pairs with real X.509 certificates
(``CN=Ministerstwo Finansów``), one key per usage, generated lazily on first
use. The key material lives in the state root's durable store, so a data reset
(``MockState.reset``) does not rotate the Ministry's keys, as a DEMO reset does
not; only the explicit rotation verbs below do.

Lifecycle of a key (reference A §3):

* **re-certification** (``recertify``): same key, new certificate. ``publicKeyId``
  is unchanged; ``certificate``, ``certificateId`` and the validity change.
* **planned rotation** (``rotate``): a new key pair is published; the old one
  stays listed for ``overlap_days`` and stays *accepted* until it is withdrawn.
* **emergency rotation** (``rotate(..., emergency=True)``) or ``withdraw``: the
  old key leaves the list and its ``publicKeyId`` is rejected with 21470.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from mockksef import crypto
from mockksef.clock import format_datetime_seconds
from mockksef.errors import KsefError

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

KSEF_TOKEN_ENCRYPTION = "KsefTokenEncryption"
SYMMETRIC_KEY_ENCRYPTION = "SymmetricKeyEncryption"
USAGES: tuple[str, ...] = (KSEF_TOKEN_ENCRYPTION, SYMMETRIC_KEY_ENCRYPTION)

# Certificates start a month back so that a client with a slightly different
# clock still sees them valid; real ones are issued for two years.
_BACKDATE = timedelta(days=30)
_VALIDITY_DAYS = 730
_DURABLE_KEY = "public_keys"


# (environment, usage, ordinal) -> RSA key pair, for the whole process. Generating an
# RSA-2048 pair takes 50-150 ms and every fresh MockState needed two on its first key
# listing: most of the time of a short end-to-end test (bench/suite_speed.py). The
# certificates are still issued per state; only the key material is shared, so a new
# state in the same process publishes the same publicKeyIds, and a rotation within a
# state still gets a key that state has not used.
_KEY_PAIRS: dict[tuple[object, str, int], rsa.RSAPrivateKey] = {}
_KEY_PAIRS_LOCK = threading.Lock()
# (environment, usage, ordinal, issued at) -> the first certificate of that key, for the
# whole process: two RSA signatures (~2 ms) per fresh state otherwise (issue 17). Its
# serial comes from the same four, so every state issuing it at the same instant (the
# suite's virtual clocks) publishes the same certificate, as the real Ministry does.
_FIRST_CERTIFICATES: dict[tuple[object, str, int, datetime], x509.Certificate] = {}
_FIRST_CERTIFICATES_KEPT = 64


def _key_pair(env: object, usage: str, ordinal: int) -> rsa.RSAPrivateKey:
    with _KEY_PAIRS_LOCK:
        key = _KEY_PAIRS.get((env, usage, ordinal))
        if key is None:
            key = _KEY_PAIRS[(env, usage, ordinal)] = crypto.new_rsa_key(2048)
        return key


def unsupported_key(key_id: str) -> KsefError:
    return KsefError(21470, f"Klucz o identyfikatorze {key_id} nie jest wspierany.")


@dataclass
class MinistryKey:
    """One key pair of one usage and its current certificate."""

    usage: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    created: datetime
    # Listed in GET /security/public-key-certificates until then (None = for good).
    listed_until: datetime | None = None
    # False once withdrawn: its publicKeyId gives 21470.
    accepted: bool = True
    # Derived values, cached with the object they come from: recomputed only when
    # ``private_key`` or ``certificate`` is replaced (DER export, hashing and base64
    # were most of the cost of GET /security/public-key-certificates).
    _id_cache: tuple[object, str] | None = field(default=None, init=False, repr=False)
    _json_cache: tuple[object, dict[str, Any]] | None = field(default=None, init=False, repr=False)

    @property
    def public_key_id(self) -> str:
        cached = self._id_cache
        if cached is None or cached[0] is not self.private_key:
            cached = (self.private_key, crypto.public_key_id(self.private_key.public_key()))
            self._id_cache = cached
        return cached[1]

    @property
    def certificate_id(self) -> str:
        return crypto.cert_sha256_b64(self.certificate)

    @property
    def valid_from(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def valid_to(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def listed_at(self, now: datetime) -> bool:
        return self.accepted and (self.listed_until is None or now < self.listed_until)

    def as_json(self) -> dict[str, Any]:
        cached = self._json_cache
        if cached is None or cached[0] is not self.certificate:
            body = {
                "certificate": crypto.cert_b64(self.certificate),
                "certificateId": self.certificate_id,
                "publicKeyId": self.public_key_id,
                "validFrom": format_datetime_seconds(self.valid_from),
                "validTo": format_datetime_seconds(self.valid_to),
            }
            cached = (self.certificate, body)
            self._json_cache = cached
        return {**cached[1], "usage": [self.usage]}


class PublicKeysBackend:
    """The environment's Ministry keys: listing, lookup by ``publicKeyId``, rotation.

    Simplifications (moto-style): the certificates are self-signed by the mock
    "Ministerstwo Finansów" instead of being issued by a qualified CA; only RSA
    keys are published (the clients' EC variant is never needed); the key pairs
    are generated once per process and environment and reused by every state in
    that process (a restarted server has new ones).
    """

    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()

    # -- storage -----------------------------------------------------------------------

    @property
    def _keys(self) -> dict[str, list[MinistryKey]]:
        """Keys by usage, oldest first, created on first use and kept across resets."""
        durable = self.env.root.durable
        slot = (self.env.env, _DURABLE_KEY)
        with self._lock:
            keys = durable.get(slot)
            if keys is None:
                now = self.env.clock.now()
                keys = {usage: [self._new_key(usage, now, 0)] for usage in USAGES}
                durable[slot] = keys
            return keys

    def _certificate(
        self, key: rsa.RSAPrivateKey, now: datetime, serial: int | None = None
    ) -> x509.Certificate:
        subject = crypto.name(
            common_name="Ministerstwo Finansów", organization="Ministerstwo Finansów", country="PL"
        )
        # Drawn even when ``serial`` is given, so a seed's later identifiers replay as before.
        drawn = int.from_bytes(self.env.rng.bytes(16), "big") >> 1 or 1
        return crypto.self_signed(
            key,
            subject,
            now - _BACKDATE,
            _VALIDITY_DAYS,
            serial or drawn,
            # Signing too: the SymmetricKeyEncryption key also seals UPOs (``upo_seal``), and
            # verifiers such as .NET's SignedXml check the signer's key usage.
            usage=(
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
            ),
        )

    def _new_key(self, usage: str, now: datetime, ordinal: int) -> MinistryKey:
        key = _key_pair(self.env.env, usage, ordinal)
        slot = (self.env.env, usage, ordinal, now)
        with _KEY_PAIRS_LOCK:
            certificate = _FIRST_CERTIFICATES.get(slot)
        if certificate is None:
            digest = hashlib.sha256(repr(slot).encode()).digest()[:16]
            certificate = self._certificate(key, now, int.from_bytes(digest, "big") >> 1 or 1)
            with _KEY_PAIRS_LOCK:
                if len(_FIRST_CERTIFICATES) >= _FIRST_CERTIFICATES_KEPT:  # wall clocks: all differ
                    _FIRST_CERTIFICATES.clear()
                certificate = _FIRST_CERTIFICATES.setdefault(slot, certificate)
        else:
            self.env.rng.bytes(16)  # the serial's draw, so a seed's later identifiers replay
        return MinistryKey(usage, key, certificate, now)

    @staticmethod
    def _check_usage(usage: str) -> None:
        if usage not in USAGES:
            raise ValueError(f"unknown public key usage {usage!r}; expected one of {USAGES}")

    # -- reading -------------------------------------------------------------------------

    def keys(self, usage: str) -> list[MinistryKey]:
        """Every key of a usage (withdrawn ones included), oldest first."""
        self._check_usage(usage)
        with self._lock:
            return list(self._keys[usage])

    def current(self, usage: str, now: datetime | None = None) -> MinistryKey:
        """The key clients pick: accepted, valid now, the latest ``validFrom``."""
        self._check_usage(usage)
        now = now or self.env.clock.now()
        with self._lock:
            keys = self._keys[usage]
            candidates = [k for k in keys if k.accepted and k.valid_from <= now < k.valid_to]
            if not candidates:
                candidates = [k for k in keys if k.accepted] or keys
            # Ties (same validFrom) go to the key published last.
            return max(candidates, key=lambda k: (k.valid_from, keys.index(k)))

    def listing(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """The body of ``GET /security/public-key-certificates``."""
        now = now or self.env.clock.now()
        with self._lock:
            return [
                key.as_json() for usage in USAGES for key in self._keys[usage] if key.listed_at(now)
            ]

    def upo_seal(self, now: datetime | None = None) -> MinistryKey:
        """The key that signs UPOs: the current ``SymmetricKeyEncryption`` one.

        The mock has no seal of its own; this certificate is published and every
        client that sends invoices downloads it, so a UPO can be verified against it.
        After a rotation, UPOs downloaded again are signed by the new key.
        """
        return self.current(SYMMETRIC_KEY_ENCRYPTION, now)

    def private_key_for(self, usage: str, public_key_id: str | None) -> rsa.RSAPrivateKey:
        """The private key for a ``publicKeyId`` sent by a client (None = the current key).

        Unknown ids, ids of a withdrawn key and ids of the other usage's key are
        400 21470 "Klucz o identyfikatorze {keyId} nie jest wspierany.".
        """
        self._check_usage(usage)
        if public_key_id is None:
            return self.current(usage).private_key
        with self._lock:
            for key in self._keys[usage]:
                if key.accepted and key.public_key_id == public_key_id:
                    return key.private_key
        raise unsupported_key(public_key_id)

    def public_key(self, usage: str) -> rsa.RSAPublicKey:
        """The current public key of a usage (what a client would encrypt with)."""
        return self.current(usage).private_key.public_key()

    # -- lifecycle (admin API, scenarios, tests) --------------------------------------------

    def rotate(
        self,
        usage: str,
        now: datetime | None = None,
        overlap_days: float = 14.0,
        emergency: bool = False,
    ) -> MinistryKey:
        """Publish a new key pair for ``usage``.

        Planned rotation: the previous keys stay listed for ``overlap_days`` and
        stay accepted until ``withdraw``. Emergency rotation: they are withdrawn
        at once (their ids then give 21470).
        """
        self._check_usage(usage)
        now = now or self.env.clock.now()
        with self._lock:
            keys = self._keys[usage]
            for old in keys:
                if not old.accepted:
                    continue
                if emergency:
                    old.accepted = False
                elif old.listed_until is None or old.listed_until > now + timedelta(
                    days=overlap_days
                ):
                    old.listed_until = now + timedelta(days=overlap_days)
            fresh = self._new_key(usage, now, len(keys))
            keys.append(fresh)
            return fresh

    def withdraw(self, public_key_id: str) -> None:
        """Stop accepting (and listing) a key; it then gives 21470."""
        with self._lock:
            for usage in USAGES:
                for key in self._keys[usage]:
                    if key.public_key_id == public_key_id:
                        key.accepted = False
                        return
        raise KeyError(public_key_id)

    def recertify(self, usage: str, now: datetime | None = None) -> MinistryKey:
        """Issue a new certificate for the current key: same publicKeyId, new certificateId."""
        now = now or self.env.clock.now()
        with self._lock:
            key = self.current(usage, now)
            key.certificate = self._certificate(key.private_key, now)
            return key

    def summary(self) -> dict[str, Any]:
        with self._lock:
            keys = self.env.root.durable.get((self.env.env, _DURABLE_KEY)) or {}
            return {
                usage: {"keys": len(items), "accepted": sum(1 for k in items if k.accepted)}
                for usage, items in keys.items()
            }
