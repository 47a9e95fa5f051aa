"""``mockksef cert``: test certificates that log in, run as the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ksefclient import CertificateCredentials, KsefClient
from ksefclient.xades import SigningCredentials
from mockksef.seeding import add_certificate
from tests.conftest import Served, mockksef_serve

NIP = "5265877635"
MOCKKSEF = str(Path(sys.executable).with_name("mockksef"))


def cert(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MOCKKSEF, "cert", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    # A catalogue scenario on its own clock (2026-03-02 onwards), as a user starts it.
    with mockksef_serve("--scenario", "dataset-small") as running:
        yield running


def login(base: str, credentials: CertificateCredentials) -> tuple[str, ...]:
    with KsefClient(base_url=base, nip=NIP, credentials=credentials) as client:
        return client.authenticate().permissions


@pytest.mark.server
def test_a_self_signed_seal_logs_in_on_test_under_a_catalogue_scenario(
    served: Served, tmp_path: Path
) -> None:
    made = cert("--nip", NIP, "--format", "both", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert "seal certificate for NIP 5265877635, EC P-256, self-signed" in made.stdout
    pem, key, pfx = (
        tmp_path / f"nip-{NIP}-seal{suffix}" for suffix in (".pem", ".key.pem", ".pfx")
    )
    assert (key.stat().st_mode & 0o777, pfx.stat().st_mode & 0o777) == (0o600, 0o600)
    from_pem = SigningCredentials.from_pem(pem.read_bytes(), key.read_bytes())
    assert isinstance(from_pem.private_key, ec.EllipticCurvePrivateKey)
    assert SigningCredentials.from_pkcs12(pfx.read_bytes()).fingerprint == from_pem.fingerprint
    # Dated before the scenario's start: valid on its clock, not "not yet valid" (460).
    assert login(served.base + "/v2", CertificateCredentials.from_files(pem, key)) == ("Owner",)


@pytest.mark.server
def test_demo_certificates_come_from_the_mock_ca_of_the_running_server(
    served: Served, tmp_path: Path
) -> None:
    args = ["--nip", NIP, "--env", "demo", "--url", served.base, "--key", "rsa"]
    made = cert(*args, "--format", "pfx", "--password", "hasło-testowe", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert f"issued by the DEMO mock CA of {served.base}" in made.stdout
    pfx = tmp_path / f"nip-{NIP}-seal.pfx"
    loaded = SigningCredentials.from_pkcs12(pfx.read_bytes(), "hasło-testowe".encode())
    assert isinstance(loaded.private_key, rsa.RSAPrivateKey)
    assert loaded.certificate.issuer.rfc4514_string() == "CN=KSeF mock CA DEMO"
    credentials = CertificateCredentials.from_files(pfx, None, "hasło-testowe")
    assert login(served.base + "/demo/v2", credentials) == ("Owner",)
    # PROD trusts its own CA only: the same file is refused there, as a KSeF answer (exit 1).
    refused = subprocess.run(
        [str(Path(sys.executable).with_name("ksefclient")), "--base-url", served.base + "/prod/v2"]
        + ["--nip", NIP, "--cert", str(pfx), "authenticate"],
        env={**os.environ, "KSEF_PASSWORD": "hasło-testowe"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1 and "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the owner: --nip NIP or --pesel PESEL"),
        (("--nip", "123"), "--nip 123: not a NIP"),
        (("--pesel", "8504120802"), "--pesel 8504120802: not a PESEL"),
        (("--pesel", "85041208026", "--seal"), "--seal is a company's"),
        (("--nip", NIP, "--password", "x"), "--password encrypts the PFX"),
        (("--nip", NIP, "--valid-from", "yesterday"), "--valid-from yesterday: not an ISO"),
        (("--nip", NIP, "--key", "dsa"), "'dsa' is not one of 'ec', 'rsa'"),
    ],
)
def test_wrong_arguments_are_one_line_and_exit_2(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    result = cert(*args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_mock_ca_signs_a_request_and_keeps_no_key(env) -> None:  # type: ignore[no-untyped-def]
    from mockksef.credentials import certificate_request, new_certificate

    made = new_certificate(pesel="85041208026", valid_from=env.clock.now())
    seeded = add_certificate(env, {"pesel": "85041208026"}, csr=certificate_request(made))
    assert seeded.private_key is None and "privateKey" not in seeded.as_json()
    assert seeded.certificate.public_key() == made.certificate.public_key()
    assert seeded.certificate.subject == made.certificate.subject
    assert env.certificates.issued_by_ca(seeded.certificate)
    with pytest.raises(ValueError, match="csr: not a PEM or DER"):
        add_certificate(env, {"pesel": "85041208026"}, csr="-----BEGIN nonsense")
