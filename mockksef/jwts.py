"""Signed JWTs (PyJWT, HS256) checked against the injectable Clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt

from mockksef.clock import Clock, to_millis

_VERIFIED_MAX = 10_000


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
        # token -> verified claims. PyJWT's checks cost ~100 µs per token (it walks the
        # Base64 in Python) and a client sends the same token on every request; the
        # clock-dependent expiry check still runs on every call.
        self._verified: dict[str, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Kept with the data (--data): the secret, not the cache of verified tokens,
        # which held a third of a busy environment's pickle and rebuilds on use.
        state = self.__dict__.copy()
        state["_verified"] = {}
        return state

    def rotate(self, secret: bytes) -> None:
        """A new secret: every JWT issued before fails verification (scenario ``expire_tokens``)."""
        self._secret = secret
        self._verified = {}

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
        # Read both once: a rotation meanwhile must not file an old token as verified.
        verified, secret = self._verified, self._secret
        claims = verified.get(token)
        if claims is None:
            claims = self._verify(token, secret)
            if len(verified) >= _VERIFIED_MAX:
                verified.clear()
            verified[token] = claims
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self.clock.timestamp():
            raise InvalidJwt("token expired")
        return dict(claims)

    def _verify(self, token: str, secret: bytes) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=self.issuer,
                issuer=self.issuer,
                # Time claims are checked in decode() against the Clock, not the wall clock.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat"],
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidJwt(str(exc)) from exc
        return claims
