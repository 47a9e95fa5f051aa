"""A tiny event bus: the domain says what happened, scenarios listen.

Backends call ``env.events.emit("token.created", reference=...)``; the bus
counts events per environment generation and forwards them to the sinks
registered on the state root (the scenario engine, the journal). With no sink
an emit costs one dict update. Names are listed in ``EVENTS`` (and in the
scenario schema's ``event`` enum).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EVENTS = (
    "auth.challenge",
    "auth.succeeded",
    "auth.failed",
    "auth.redeemed",
    "auth.refreshed",
    "auth.session_revoked",
    "token.created",
    "token.revoked",
    "session.opened",
    "session.closed",
    "invoice.accepted",
    "invoice.rejected",
    "data.reset",
    "clock.moved",
)

# sink(environment name, event name, fields)
Sink = Callable[[str, str, dict[str, Any]], None]


class EventBus:
    def __init__(self, environment: str, sinks: list[Sink]) -> None:
        self.environment = environment
        self.counts: dict[str, int] = {}
        # Shared with the state root, so sinks survive a data reset.
        self._sinks = sinks

    def emit(self, name: str, **fields: Any) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        for sink in self._sinks:
            sink(self.environment, name, fields)
