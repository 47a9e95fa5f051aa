"""Credentials for a client outside the process.

* ``new_certificate`` – what ``mockksef cert`` makes for a NIP or PESEL: a personal
  certificate or a company seal, EC P-256 (the default) or RSA 2048, built by
  ``ksefclient.xades``'s self-signed builders (TEST accepts those as qualified);
  ``certificate_request`` turns one into a CSR for an environment's mock CA (DEMO
  and PROD accept only what that CA issued: ``POST /_mock/seed`` with ``csr``).
* ``planned`` / ``issued`` – the tokens and certificates a scenario sets up for a
  connector: from its YAML before it runs (``scenario show``), from its activation
  report once it runs (``serve --scenario``); ``write_credentials`` puts them into
  files (token text, PEM certificate and key, PKCS#12) and ``describe`` says what
  and where in a few lines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

if TYPE_CHECKING:
    from ksefclient.xades import SigningCredentials
    from mockksef.scenarios import Scenario

CertificateKind = Literal["seal", "personal"]
KeyType = Literal["ec", "rsa"]
VALID_DAYS = 730


def new_certificate(
    *,
    nip: str | None = None,
    pesel: str | None = None,
    kind: CertificateKind | None = None,
    key_type: KeyType = "ec",
    name: str | None = None,
    valid_from: datetime,
    days: int = VALID_DAYS,
) -> SigningCredentials:
    """A self-signed certificate: a seal for a NIP (default), a personal one for a NIP or PESEL."""
    from ksefclient import xades

    if (nip is None) == (pesel is None):
        raise ValueError("give exactly one of a NIP or a PESEL")
    kind = kind or ("seal" if nip else "personal")
    if kind == "seal":
        if nip is None:
            raise ValueError("a company seal is for a NIP; a PESEL gets a personal certificate")
        return xades.seal_certificate(
            nip=nip,
            organization_name=name or f"Firma testowa {nip}",
            key_type=key_type,
            not_before=valid_from,
            valid_days=days,
        )
    return xades.personal_certificate(
        nip=nip,
        pesel=pesel,
        common_name=name,
        key_type=key_type,
        not_before=valid_from,
        valid_days=days,
    )


def certificate_request(credentials: SigningCredentials) -> bytes:
    """A PEM CSR with the certificate's subject and key, for a mock CA to sign."""
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(credentials.certificate.subject)
        .sign(credentials.private_key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def pkcs12_bytes(
    certificate: x509.Certificate, key: Any, label: str, password: str | None = None
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(label.encode(), key, certificate, None, encryption)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, data: bytes) -> Path:
    """Write a secret (key, token, PKCS#12) readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


def write_certificate(
    directory: Path,
    stem: str,
    certificate: x509.Certificate,
    key: Any,
    formats: Sequence[str] = ("pem", "pfx"),
    password: str | None = None,
) -> list[Path]:
    """``stem.pem`` + ``stem.key.pem`` and/or ``stem.pfx`` in ``directory``."""
    written: list[Path] = []
    if "pem" in formats:
        path = directory / f"{stem}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        written += [path, write_private(directory / f"{stem}.key.pem", key_pem(key))]
    if "pfx" in formats:
        data = pkcs12_bytes(certificate, key, stem, password)
        written.append(write_private(directory / f"{stem}.pfx", data))
    return written


# -- what a scenario sets up --------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioToken:
    id: str
    environment: str | None  # None: where the scenario runs (its default environment)
    context: str
    permissions: tuple[str, ...]
    value: str | None  # None: drawn when the scenario starts


@dataclass(frozen=True)
class ScenarioCertificate:
    id: str
    environment: str | None
    owner: str  # "NIP 5265877635" / "PESEL 85041208026"
    context: str | None
    certificate_pem: str | None = None  # known once the scenario runs
    private_key_pem: str | None = None


@dataclass(frozen=True)
class Credentials:
    scenario: str
    tokens: tuple[ScenarioToken, ...] = ()
    certificates: tuple[ScenarioCertificate, ...] = ()
    files: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.tokens or self.certificates)


def _owner(value: Any) -> str:
    if isinstance(value, Mapping):
        if "type" in value and "value" in value:  # the activation report's shape
            return f"{str(value['type']).upper()} {value['value']}"
        ((kind, number),) = value.items()
        return f"{str(kind).upper()} {number}"
    return f"NIP {value}"


def _item_id(item: Mapping[str, Any], kind: str, index: int) -> str:
    return str(item.get("id") or f"{kind}-{index + 1}")


def planned(scenario: Scenario) -> Credentials:
    """What the scenario's setup promises, read from its YAML (nothing runs)."""
    tokens = tuple(
        ScenarioToken(
            _item_id(item, "token", i),
            _environment(item),
            str(item["context"]),
            tuple(item.get("permissions") or ()),
            item.get("value"),
        )
        for i, item in enumerate(scenario.setup.get("tokens", ()))
    )
    certificates = tuple(
        ScenarioCertificate(
            _item_id(item, "certificate", i),
            _environment(item),
            _owner(item["owner"]),
            item.get("context"),
        )
        for i, item in enumerate(scenario.setup.get("certificates", ()))
    )
    return Credentials(scenario.name, tokens, certificates)


def _environment(item: Mapping[str, Any]) -> str | None:
    chosen = item.get("environment")
    if isinstance(chosen, list):
        return ",".join(str(e) for e in chosen)
    return str(chosen) if chosen else None


def issued(scenario: Scenario, report: Mapping[str, Any]) -> Credentials:
    """What the activation report says was set up (token values, certificate PEMs)."""
    plan = {t.id: t for t in planned(scenario).tokens}
    tokens: list[ScenarioToken] = []
    certificates: list[ScenarioCertificate] = []
    for environment, kinds in (report.get("setup") or {}).items():
        for i, item in enumerate(kinds.get("tokens", ())):
            token_id = _item_id(item, "token", i)
            promised = plan.get(token_id)
            tokens.append(
                ScenarioToken(
                    token_id,
                    environment,
                    str(item.get("context", "")),
                    promised.permissions if promised else (),
                    item.get("token"),
                )
            )
        for i, item in enumerate(kinds.get("certificates", ())):
            certificates.append(
                ScenarioCertificate(
                    _item_id(item, "certificate", i),
                    environment,
                    _owner(item["owner"]),
                    item.get("context"),
                    item.get("certificate"),
                    item.get("privateKey"),
                )
            )
    return Credentials(scenario.name, tuple(tokens), tuple(certificates))


def write_credentials(directory: Path, credentials: Credentials) -> Credentials:
    """Files under ``directory/<scenario>/``: ``<env>-<id>.token``, ``.pem``, ``.key.pem``, ``.pfx``."""
    folder = directory / credentials.scenario
    files: dict[str, tuple[Path, ...]] = {}
    for token in credentials.tokens:
        if token.value is not None:
            stem = f"{token.environment}-{token.id}"
            files[stem] = (write_private(folder / f"{stem}.token", token.value.encode() + b"\n"),)
    for item in credentials.certificates:
        if item.certificate_pem is None or item.private_key_pem is None:
            continue
        stem = f"{item.environment}-{item.id}"
        certificate = x509.load_pem_x509_certificate(item.certificate_pem.encode())
        key = serialization.load_pem_private_key(item.private_key_pem.encode(), None)
        files[stem] = tuple(write_certificate(folder, stem, certificate, key))
    return Credentials(credentials.scenario, credentials.tokens, credentials.certificates, files)


def describe(credentials: Credentials, *, indent: str = "  ") -> list[str]:
    """A few lines per token and certificate: what a client is configured with."""
    lines: list[str] = []
    for token in credentials.tokens:
        where = f" on {token.environment.upper()}" if token.environment else ""
        rights = f" ({', '.join(token.permissions)})" if token.permissions else ""
        lines.append(f"{indent}token {token.id}{where}: context NIP {token.context}{rights}")
        lines.append(f"{indent}  {token.value or 'drawn when the scenario starts'}")
        for path in credentials.files.get(f"{token.environment}-{token.id}", ()):
            lines.append(f"{indent}  file: {path}")
    for item in credentials.certificates:
        where = f" on {item.environment.upper()}" if item.environment else ""
        context = f", context NIP {item.context}" if item.context else ""
        lines.append(f"{indent}certificate {item.id}{where}: {item.owner}{context}")
        paths = credentials.files.get(f"{item.environment}-{item.id}", ())
        if paths:
            lines.append(f"{indent}  files: {', '.join(str(p) for p in paths)}")
        elif item.certificate_pem is None:
            lines.append(f"{indent}  issued when the scenario starts")
    return lines


def default_valid_from(now: datetime) -> datetime:
    """An hour before the earlier of ``now`` and the first catalogue scenario's start.

    The official clients' builders date a certificate an hour back (clock skew);
    reaching back to the catalogue's earliest start as well makes a fresh
    certificate valid on the real TEST today and on every catalogue scenario's
    clock (a certificate dated later than the clock is "not yet valid": 460).
    """
    from mockksef.scenarios import ScenarioError, catalogue_names, resolve

    starts = [now]
    for name in catalogue_names():
        try:
            start = resolve(name).clock_start
        except ScenarioError:
            continue
        if start is not None:
            starts.append(start)
    return min(starts) - timedelta(hours=1)
