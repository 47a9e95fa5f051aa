"""End-to-end authentication flows, over any httpx-like client (in-process or socket).

These go through the real endpoints (challenge -> XAdES or KSeF token -> poll ->
redeem), unlike ``conftest.mint_access_token`` which bypasses auth.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ksefclient.xades import (
    SigningCredentials,
    auth_token_request,
    personal_certificate,
    sign_auth_token_request,
)
from ksefcontract.client_hook import validating
from mockksef.clock import parse_datetime


def _validated(flow: Callable[..., Any]) -> Callable[..., Any]:
    """Every request the flow sends is checked against the official spec first
    (``ksefcontract.client_hook``): a flow that drifts from the contract fails here."""

    @functools.wraps(flow)
    def run(client: Any, *args: Any, **kwargs: Any) -> Any:
        with validating(client):
            return flow(client, *args, **kwargs)

    return run


@dataclass
class Session:
    reference_number: str
    operation_token: str
    access_token: str
    refresh_token: str
    status: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def _wait_for_status(client: Any, reference: str, operation_token: str) -> dict[str, Any]:
    response = client.get(
        f"/auth/{reference}", headers={"Authorization": f"Bearer {operation_token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@_validated
def xades_login(
    client: Any,
    nip: str,
    credentials: SigningCredentials | None = None,
    *,
    context_type: str = "Nip",
    context_value: str | None = None,
    version: str = "2.0",
    params: dict[str, str] | None = None,
) -> Session:
    challenge = client.post("/auth/challenge")
    assert challenge.status_code == 200, challenge.text
    # The server's clock may be virtual: date the certificate and signature by its time.
    server_now = parse_datetime(challenge.json()["timestamp"])
    credentials = credentials or personal_certificate(
        nip=nip, not_before=server_now - timedelta(days=1)
    )
    xml = auth_token_request(
        challenge.json()["challenge"], context_type, context_value or nip, version=version
    )
    signed = sign_auth_token_request(xml, credentials, signing_time=server_now)
    init = client.post(
        "/auth/xades-signature",
        content=signed,
        headers={"Content-Type": "application/xml"},
        params=params or {},
    )
    assert init.status_code == 202, init.text
    return _finish(client, init.json())


def _finish(client: Any, init: dict[str, Any]) -> Session:
    reference = init["referenceNumber"]
    operation_token = init["authenticationToken"]["token"]
    status = _wait_for_status(client, reference, operation_token)
    assert status["status"]["code"] == 200, status
    redeemed = client.post(
        "/auth/token/redeem", headers={"Authorization": f"Bearer {operation_token}"}
    )
    assert redeemed.status_code == 200, redeemed.text
    tokens = redeemed.json()
    return Session(
        reference,
        operation_token,
        tokens["accessToken"]["token"],
        tokens["refreshToken"]["token"],
        status,
    )


@_validated
def token_key(client: Any) -> tuple[x509.Certificate, str]:
    keys = client.get("/security/public-key-certificates").json()
    entry = next(k for k in keys if "KsefTokenEncryption" in k["usage"])
    return x509.load_der_x509_certificate(base64.b64decode(entry["certificate"])), entry[
        "publicKeyId"
    ]


def encrypt_token(certificate: x509.Certificate, token: str, timestamp_ms: int) -> str:
    ciphertext = certificate.public_key().encrypt(  # type: ignore[union-attr]
        f"{token}|{timestamp_ms}".encode(),
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )
    return base64.b64encode(ciphertext).decode()


@_validated
def token_login_init(
    client: Any,
    token: str,
    nip: str,
    *,
    context_type: str = "Nip",
    context_value: str | None = None,
) -> dict[str, Any]:
    certificate, key_id = token_key(client)
    challenge = client.post("/auth/challenge").json()
    body = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": context_type, "value": context_value or nip},
        "encryptedToken": encrypt_token(certificate, token, challenge["timestampMs"]),
        "publicKeyId": key_id,
    }
    init = client.post("/auth/ksef-token", json=body)
    assert init.status_code == 202, init.text
    return init.json()  # type: ignore[no-any-return]


@_validated
def token_login(client: Any, token: str, nip: str) -> Session:
    return _finish(client, token_login_init(client, token, nip))


@_validated
def create_ksef_token(
    client: Any, session: Session, permissions: list[str], description: str = "Token testowy"
) -> dict[str, Any]:
    response = client.post(
        "/tokens",
        json={"permissions": permissions, "description": description},
        headers=session.headers,
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]
