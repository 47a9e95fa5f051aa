"""Early, clear refusal of configurations that cannot work (nothing is sent)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from ksefclient import (
    DEMO,
    PROD,
    TEST,
    AuthTokens,
    CertificateCredentials,
    ContextIdentifier,
    KsefClient,
    KsefConfigurationError,
    KsefTokenCredentials,
    TokenInfo,
)
from ksefclient.xades import seal_certificate
from mockksef.environments import Env
from mockksef.models import ContextIdentifier as MockContext
from tests.client.support import NIP_A, NIP_B, START, Harness, certificate
from tests.conftest import mint_access_token

TOKEN_A = f"20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-{NIP_A}|" + "ab" * 32


def _no_network() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing may be sent, got {request.method} {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_environments_by_name_have_the_official_urls() -> None:
    assert KsefClient("test", nip=NIP_A).base_url == "https://api-test.ksef.mf.gov.pl/v2"
    assert KsefClient("demo", nip=NIP_A).base_url == "https://api-demo.ksef.mf.gov.pl/v2"
    assert KsefClient("prod", nip=NIP_A).base_url == "https://api.ksef.mf.gov.pl/v2"
    assert KsefClient("TE", nip=NIP_A).environment == TEST
    assert (
        KsefClient(base_url="https://api.ksef.mf.gov.pl/v2", nip=NIP_A).environment.name == "prod"
    )
    assert KsefClient(base_url="http://127.0.0.1:8080/v2", nip=NIP_A).environment.name == "custom"
    # An environment name with a custom URL keeps the environment's checks.
    mock_prod = KsefClient("prod", base_url="http://127.0.0.1:8080/prod/v2", nip=NIP_A)
    assert mock_prod.environment.jwt_issuers == PROD.jwt_issuers
    assert mock_prod.base_url == "http://127.0.0.1:8080/prod/v2"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"environment": "staging"}, "unknown KSeF environment"),
        ({"environment": "demo", "base_url": "https://api.ksef.mf.gov.pl/v2"}, "PROD environment"),
        ({"base_url": "ftp://example.com"}, r"http\(s\) URL"),
        ({"nip": "123"}, "10 digits"),
        ({}, "configure the context"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:
    kwargs.setdefault("nip", None)
    environment = kwargs.pop("environment", None)
    with pytest.raises(KsefConfigurationError, match=message):
        KsefClient(environment, http_client=_no_network(), **kwargs)


@pytest.mark.parametrize(
    "token",
    [
        "5A1E9C3F0B7D4E2A8C6F1B3D5E7A9C0B2D4F6A8C1E3B5D7F9A0C2E4B6D8F0A1C",
        "abcdef0123456789abcdef0123456789",
        "some-token-without-pipes",
    ],
)
def test_ksef_1_0_tokens_are_refused_with_an_explanation(token: str) -> None:
    with pytest.raises(KsefConfigurationError, match="KSeF 1.0"):
        KsefTokenCredentials(token)


def test_malformed_2_0_token_is_refused() -> None:
    with pytest.raises(KsefConfigurationError, match="not a KSeF 2.0 token"):
        KsefTokenCredentials("abc|def|ghi")


def test_token_of_another_context_is_refused() -> None:
    credentials = KsefTokenCredentials(TOKEN_A)
    assert credentials.context == ContextIdentifier("Nip", NIP_A)
    assert "ab" not in repr(credentials)  # the secret stays out of logs
    with pytest.raises(
        KsefConfigurationError, match=f"context Nip {NIP_A}.*configured for Nip {NIP_B}"
    ):
        KsefClient("test", nip=NIP_B, credentials=credentials, http_client=_no_network())


def test_self_signed_certificate_is_refused_outside_test() -> None:
    credentials = CertificateCredentials(certificate(NIP_A))
    assert credentials.is_self_signed
    KsefClient("test", nip=NIP_A, credentials=credentials, http_client=_no_network())
    for env in ("demo", "prod"):
        with pytest.raises(KsefConfigurationError, match="self-signed"):
            KsefClient(env, nip=NIP_A, credentials=credentials, http_client=_no_network())


def test_demo_jwt_is_refused_on_prod(sync_harness: Harness) -> None:
    state = sync_harness.state
    demo_token = mint_access_token(state, nip=NIP_A, env=Env.DEMO)
    tokens = AuthTokens(TokenInfo(demo_token, START + timedelta(minutes=15)), None)
    with pytest.raises(KsefConfigurationError, match="issued by KSeF DEMO.*talks to PROD"):
        KsefClient("prod", nip=NIP_A, tokens=tokens, http_client=_no_network())
    # The same token is fine against DEMO (and against a custom URL, where nothing can tell).
    KsefClient("demo", nip=NIP_A, tokens=tokens, http_client=_no_network())
    KsefClient(
        base_url="http://127.0.0.1:1/v2", nip=NIP_A, tokens=tokens, http_client=_no_network()
    )
    assert DEMO.jwt_issuers == ("ksef-api-tr",)


def test_saved_tokens_of_another_context_are_refused(sync_harness: Harness) -> None:
    token = mint_access_token(sync_harness.state, context=MockContext("Nip", NIP_B))
    tokens = AuthTokens(TokenInfo(token, START + timedelta(minutes=15)), None)
    with pytest.raises(KsefConfigurationError, match="never be used for another context"):
        KsefClient("test", nip=NIP_A, tokens=tokens, http_client=_no_network())


def test_without_credentials_the_client_says_what_is_missing(sync_harness: Harness) -> None:
    client = sync_harness.client(NIP_A, credentials=False)
    with pytest.raises(KsefConfigurationError, match="credentials"):
        client.context_limits()


def test_certificates_load_from_pem_and_pkcs12(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    seal = seal_certificate(nip=NIP_A)
    cert_pem, key_pem = seal.to_pem()
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    loaded = CertificateCredentials.from_files(tmp_path / "c.pem", tmp_path / "k.pem")
    assert loaded.signing.fingerprint == seal.fingerprint
    p12 = pkcs12.serialize_key_and_certificates(
        b"seal", seal.private_key, seal.certificate, None, BestAvailableEncryption(b"secret")
    )
    (tmp_path / "s.p12").write_bytes(p12)
    assert (
        CertificateCredentials.from_files(tmp_path / "s.p12", password="secret").signing.fingerprint
        == seal.fingerprint
    )
    with pytest.raises(KsefConfigurationError, match="PKCS#12"):
        CertificateCredentials.from_pkcs12(p12, b"wrong")
    with pytest.raises(KsefConfigurationError, match="PEM"):
        CertificateCredentials.from_pem(b"nope", key_pem)


def test_jwt_claims_are_kept_per_token_and_handed_out_as_copies() -> None:
    import jwt

    from ksefclient._auth import jwt_claims

    token = jwt.encode({"iss": "ksef-api-te", "cit": "Nip", "civ": NIP_A}, "k" * 32)
    first = jwt_claims(token)
    first["civ"] = "changed by a caller"
    assert jwt_claims(token)["civ"] == NIP_A
    other = jwt.encode({"iss": "ksef-api-te", "civ": NIP_B}, "k" * 32)
    assert jwt_claims(other)["civ"] == NIP_B
    with pytest.raises(KsefConfigurationError):
        jwt_claims("not.a.jwt")
