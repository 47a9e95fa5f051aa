"""Authentication sessions of the context: listing and revoking them (``/auth/sessions``).

Authenticating and refreshing belong to the core (``_core.py``, with the flow
in ``_auth.py``): any call of any area may need them.
"""

from __future__ import annotations

from ksefclient._auth import AuthTokens
from ksefclient._core import Flow, ProtocolCore, segment
from ksefclient._models import AuthenticationStatus

__all__ = ["list_auth_sessions", "revoke_auth_session"]


def list_auth_sessions(core: ProtocolCore) -> Flow[list[AuthenticationStatus]]:
    return core.paged("/auth/sessions", "items", AuthenticationStatus.from_json, {"pageSize": 100})


def revoke_auth_session(core: ProtocolCore, reference_number: str | None = None) -> Flow[None]:
    """Revoke an authentication session; the current one by default."""
    path = (
        f"/auth/sessions/{segment(reference_number)}"
        if reference_number
        else "/auth/sessions/current"
    )
    yield from core.call("DELETE", path, expected=(200, 204))
    tokens = core.tokens
    if tokens is not None and (
        reference_number is None or tokens.reference_number == reference_number
    ):
        # The refresh token is dead now; the access token lives until it expires.
        core.tokens = AuthTokens(tokens.access_token, None, tokens.reference_number)
