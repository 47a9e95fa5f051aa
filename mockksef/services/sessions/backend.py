"""State and rules of the sessions area: online and batch sessions, invoice statuses, UPO.

One ``SessionsBackend`` per environment. Entities live in ``models.py``; the
shared state and the rules every operation applies (lookup, settling on the
clock, recording invoices) in ``registry.py``; the operations are split by
entity into groups that hold that registry (``SessionOperations``): ``online.py``
(open/send/close online), ``batch.py`` (open/upload/close batch and package
processing), ``status.py`` (lists, statuses, UPO). Checks on invoice content are
in ``validation.py``.

Timing (moto-style note): outcomes are decided when the request that makes them
possible arrives and are filed in the invoice store at once, dated on the clock
``MockConfig.*_seconds`` ahead; reads show each status only from its instant
on (100 -> 150 -> final for invoices, 100 -> 170 -> final for online sessions,
100 -> 150 -> final for batch sessions). No background tasks.

Fault injection for the statuses the mock cannot otherwise reach (invoice 500,
550, 405; session 500; HTTP 21184): ``arm_fault``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockksef.services.sessions.batch import BatchSessions
from mockksef.services.sessions.online import OnlineSessions
from mockksef.services.sessions.registry import SessionRegistry
from mockksef.services.sessions.status import SessionReads

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


class SessionsBackend(OnlineSessions, BatchSessions, SessionReads):
    """The verbs of the sessions area: the three operation groups on one shared
    registry, plus the registry's own verbs (fault injection, expiry, counts)."""

    def __init__(self, env: EnvironmentState) -> None:
        super().__init__(SessionRegistry(env))
        self.sessions = self.registry.sessions
        self.arm_fault = self.registry.arm_fault
        self.disarm_faults = self.registry.disarm_faults
        self.expire_sessions = self.registry.expire_sessions
        self.summary = self.registry.summary
