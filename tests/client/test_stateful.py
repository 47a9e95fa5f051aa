"""The state machines of ``machines.py``: sync and async, in-process and over a socket.

The last tests inject bugs — a client that retries without checking, one that
forgets orphaned tokens, a mock that breaks its HWM guarantee — and show that
the same properties fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from ksefclient._areas import online, tokens
from mockksef.config import MockConfig
from mockksef.server import ThreadedServer
from mockksef.services.invoices.store import InvoiceStore
from tests.client.machines import (
    SETTINGS,
    CredentialsMachine,
    InvoiceMachine,
    hunting,
    with_kind,
)
from tests.client.support import NIP_A, Fault, Harness, invoice

TestCredentialsSync = with_kind(CredentialsMachine, "sync").TestCase
TestCredentialsAsync = with_kind(CredentialsMachine, "async").TestCase
TestInvoicesSync = with_kind(InvoiceMachine, "sync").TestCase
TestInvoicesAsync = with_kind(InvoiceMachine, "async").TestCase

for _case in (TestCredentialsSync, TestCredentialsAsync, TestInvoicesSync, TestInvoicesAsync):
    _case.settings = SETTINGS
del _case  # or pytest would collect the last class a second time under this name

# Finding an injected bug must not depend on luck: fixed seed, no shrinking needed.
HUNT = settings(
    SETTINGS,
    max_examples=150,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture(scope="module")
def socket_server() -> Iterator[ThreadedServer]:
    from mockksef import MockState, create_app
    from mockksef.clock import Clock
    from tests.client.support import START, share_ministry_keys, spec

    config = MockConfig(seed=7, clock_mode="virtual", rate_limits_enabled=False)
    state = MockState(config, spec=spec(), clock=Clock.virtual(START))
    share_ministry_keys(state)
    with ThreadedServer(create_app(state=state)) as server:
        server.state = state  # type: ignore[attr-defined]
        yield server


@pytest.mark.server
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    "machine", [CredentialsMachine, InvoiceMachine], ids=["credentials", "invoices"]
)
def test_machines_over_a_real_socket(
    socket_server: ThreadedServer, machine: type, kind: str
) -> None:
    lane = settings(SETTINGS, max_examples=max(3, SETTINGS.max_examples // 4))
    run_state_machine_as_test(with_kind(machine, kind, socket_server), settings=lane)


def _no_lookup(core, session_reference, invoice_hash):  # type: ignore[no-untyped-def]
    return None
    yield  # a flow that finds nothing


def test_retrying_without_idempotency_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that re-sends after a lost answer without looking first sends twice."""
    monkeypatch.setattr(online, "find_in_session", _no_lookup)
    with pytest.raises(AssertionError, match="twice"):
        run_state_machine_as_test(hunting(with_kind(InvoiceMachine, "sync")), settings=HUNT)


def test_the_double_send_trap_directly(
    monkeypatch: pytest.MonkeyPatch, sync_harness: Harness
) -> None:
    """The same bug, one scripted step: a lost answer, then a blind retry."""
    machine = with_kind(InvoiceMachine, "sync")()
    machine.harness.close()
    machine.harness = sync_harness
    machine.clients = {NIP_A: sync_harness.client(NIP_A)}
    client = machine.clients[NIP_A]
    session = client.open_online_session()
    lost = [Fault("lost")]
    only_sends = lambda r: r.method == "POST" and r.url.path.endswith("/invoices")  # noqa: E731
    sync_harness.plan.load(lost, target=only_sends)
    client.send_invoice(session, invoice(NIP_A, "FV/trap"))
    machine.no_invoice_is_submitted_twice_in_a_session()  # the real client: fine
    monkeypatch.setattr(online, "find_in_session", _no_lookup)
    sync_harness.plan.load(lost, target=only_sends)
    client.send_invoice(session, invoice(NIP_A, "FV/trap-2"))
    with pytest.raises(AssertionError, match="twice"):
        machine.no_invoice_is_submitted_twice_in_a_session()


def test_forgetting_orphaned_tokens_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that retries token generation without cleaning up leaves a live token behind."""

    def nothing_known(core, description):  # type: ignore[no-untyped-def]
        return set()
        yield

    monkeypatch.setattr(tokens, "references", nothing_known)
    with pytest.raises(AssertionError, match="orphaned"):
        run_state_machine_as_test(hunting(with_kind(CredentialsMachine, "sync")), settings=HUNT)


def test_a_mock_breaking_its_hwm_guarantee_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """If invoices could appear below a reported HWM, incremental import would miss them."""
    original = InvoiceStore._admit

    def late_and_low(self, invoice):  # type: ignore[no-untyped-def]
        original(self, invoice)
        invoice.permanent_storage_date -= timedelta(minutes=5)

    monkeypatch.setattr(InvoiceStore, "_admit", late_and_low)
    with pytest.raises(AssertionError, match="imported"):
        run_state_machine_as_test(hunting(with_kind(InvoiceMachine, "sync")), settings=HUNT)
