"""State and rules of the sessions area: online and batch sessions, invoice statuses, UPO.

One ``SessionsBackend`` per environment. Entities live in ``models.py``; the
shared state and the rules every operation applies (lookup, settling on the
clock, recording invoices) in ``registry.py``; the operations are split by
entity into collaborators holding that registry: ``online.py`` (open/send/close
online), ``batch.py`` (open/upload/close batch and package processing),
``status.py`` (lists, statuses, UPO). Checks on invoice content are in
``validation.py``.

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


class SessionsBackend:
    """The verbs of the sessions area; each group works on the one shared registry."""

    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self.registry = registry = SessionRegistry(env)
        self.sessions = registry.sessions
        self.urls = registry.urls
        self.arm_fault = registry.arm_fault
        self.disarm_faults = registry.disarm_faults
        self.expire_sessions = registry.expire_sessions
        self.receiver_name = registry.receiver_name
        self.summary = registry.summary

        online = OnlineSessions(registry)
        self.open_online = online.open_online
        self.send_invoice = online.send_invoice
        self.close_online = online.close_online

        batch = BatchSessions(registry)
        self.open_batch = batch.open_batch
        self.upload_part = batch.upload_part
        self.close_batch = batch.close_batch

        reads = SessionReads(registry)
        self.list_sessions = reads.list_sessions
        self.session_status = reads.session_status
        self.session_invoices = reads.session_invoices
        self.invoice_status = reads.invoice_status
        self.invoice_upo_by_ksef = reads.invoice_upo_by_ksef
        self.invoice_upo = reads.invoice_upo
        self.session_upo = reads.session_upo
        self.download = reads.download
