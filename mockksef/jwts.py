"""Signed JWTs (PyJWT, HS256) checked against the injectable Clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt

from mockksef.clock import Clock, to_millis


class InvalidJwt(Exception):
    pass


class JwtSigner:
    """Issues and verifies the environment's operation, access and refresh tokens.

    The secret is drawn from the environment's seeded random source when the
    environment is (re)built, so a data reset makes every earlier JWT invalid.
    """

    def __init__(self, secret: bytes, issuer: str, clock: Clock) -> None:
        self._secret = secret
        self.issuer = issuer
        self.clock = clock

    def issue(
        self, claims: dict[str, Any], lifetime: timedelta, now: datetime | None = None
    ) -> tuple[str, datetime]:
        now = now or self.clock.now()
        expires = now + lifetime
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": self.issuer,
            "iat": to_millis(now) // 1000,
            "exp": to_millis(expires) // 1000,
        }
        token = jwt.encode(payload, self._secret, algorithm="HS256")
        # validUntil must equal exp, which has one-second resolution.
        return token, datetime.fromtimestamp(payload["exp"], tz=now.tzinfo)

    def decode(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=self.issuer,
                issuer=self.issuer,
                # Time claims are checked below against the mock's Clock, not the wall clock.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat"],
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidJwt(str(exc)) from exc
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self.clock.timestamp():
            raise InvalidJwt("token expired")
        return claims
