"""The mock KSeF certification authority of one environment (mixed into CertificatesBackend).

Each environment has its own CA, created lazily on first use. Certificates it
issues authenticate through XAdES on every environment (``authenticationMethod``
``InternalCertificate``); the auth area asks ``issued_by_ca`` about a presented
certificate. It lives apart from ``backend.py`` because the project splits a
backend by entity before it passes ~500 lines.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mockksef import crypto

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

CA_VALIDITY = timedelta(days=30 * 365)


class AuthorityMixin:
    """The CA half of ``CertificatesBackend`` (the backend's constructor sets the state used here)."""

    env: EnvironmentState
    _lock: threading.RLock
    _ca_key: ec.EllipticCurvePrivateKey | None
    _ca_cert: x509.Certificate | None

    if TYPE_CHECKING:

        @staticmethod
        def _serial_int(hex16: str) -> int: ...

    def _ensure_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        with self._lock:
            if self._ca_key is None or self._ca_cert is None:
                now = self.env.clock.now()
                key = ec.generate_private_key(ec.SECP256R1())
                name = self._ca_name()
                cert = crypto.issue_certificate(
                    name,
                    key.public_key(),
                    name,
                    key,
                    # A day of slack so that certificates issued "now" lie inside the CA's validity.
                    now - timedelta(days=1),
                    now + CA_VALIDITY,
                    self._serial_int(self.env.rng.hex(16)),
                    ca=True,
                    path_length=0,
                    usage=("digital_signature", "key_cert_sign", "crl_sign"),
                    subject_key_id=True,
                )
                self._ca_key, self._ca_cert = key, cert
            return self._ca_key, self._ca_cert

    def _ca_name(self) -> x509.Name:
        return x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"KSeF mock CA {self.env.env.value.upper()}")]
        )

    @property
    def ca_certificate(self) -> x509.Certificate:
        """This environment's mock KSeF CA certificate (self-signed, "CN=KSeF mock CA <ENV>")."""
        return self._ensure_ca()[1]

    def issued_by_ca(self, cert: x509.Certificate) -> bool:
        """True when ``cert`` names the mock CA as issuer and its signature verifies with the CA key."""
        if cert.issuer != self._ca_name():
            # Most logins present a self-signed certificate: no CA is made for them (a
            # key and a signature, ~0.6 ms of a fresh state's first login; issue 17).
            return False
        try:
            cert.verify_directly_issued_by(self.ca_certificate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return False
        return True
