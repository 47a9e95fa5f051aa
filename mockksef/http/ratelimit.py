"""The rate-limit step of the ``@endpoint`` pipeline (reference A §7, C §4.1).

Runs for every operation right after the caller is known and before the body
is read: the operation id names the counter and its group, the access token's
context and the client IP name the budget (the IP alone for the unauthenticated
``anonymous`` group and for calls without a context). Thresholds and counters
live in the limits area (``env.limits.charge``), which raises
``TooManyRequests``; the error renderer gives both official 429 formats with
``Retry-After``.

The client IP is the socket peer, or the first ``X-Forwarded-For`` address when
``config.trusted_proxy`` is set (``endpoint.client_ip``). In-process tests set
the peer with ``httpx.ASGITransport(app=app, client=("1.2.3.4", 123))`` or
``TestClient(app, client=("1.2.3.4", 123))``.

``config.rate_limits_enabled=False`` (``mockksef serve --no-rate-limits``)
turns the step off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockksef.models import Principal
    from mockksef.state import EnvironmentState


def enforce(env: EnvironmentState, op_id: str, principal: Principal | None, ip: str) -> None:
    """Count this request against its budget or raise ``TooManyRequests``."""
    if not env.config.rate_limits_enabled:
        return
    context = principal.context if principal is not None else None
    env.limits.charge(op_id, context, ip, env.clock.now())
