"""Progress bars for seeding, contract runs and client waits: on a terminal only."""

from __future__ import annotations

import io
import time

from ksefclient._cli import _sleeper
from ksefcontract.harness import Budget
from mockksef import create_app, progress
from mockksef.seeding import add_invoices
from tests.contracts.conftest import mock_harness, mock_state


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _task() -> object:
    bar = progress._active
    assert bar is not None
    return bar.progress.tasks[0]


def test_nothing_is_shown_or_wrapped_off_a_terminal(env) -> None:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    items = [1, 2, 3]
    with progress.shown("seeding", stream):
        assert progress._active is None
        assert progress.counted(items, 3) is items
        progress.step(5, "nobody watches")
        add_invoices(env, 10)
    assert stream.getvalue() == ""
    assert _sleeper(stream) is time.sleep


def test_seeding_counts_every_invoice_on_the_bar(env) -> None:  # type: ignore[no-untyped-def]
    stream = Terminal()
    with progress.shown("seeding", stream):
        add_invoices(env, 2500)
        add_invoices(env, 500, context="5265877635")
        task = _task()
        assert (task.completed, task.total) == (3000, 3000)  # type: ignore[attr-defined]
    assert progress._active is None and "seeding" in stream.getvalue()


def test_a_contract_run_counts_its_flows_and_operations(spec) -> None:  # type: ignore[no-untyped-def]
    state = mock_state(spec)
    app = create_app(state=state)
    harness = mock_harness(app, spec, state, budget=Budget(examples=1, seed=1))
    stream = Terminal()
    with progress.shown("contract", stream):
        report = harness.run(["auth.challenge", "limits.context"], flows=False)
        task = _task()
        assert (task.completed, task.total) == (2, 2)  # type: ignore[attr-defined]
        assert task.description == "contract: limits.context"  # type: ignore[attr-defined]
    assert [op.id for op in report.operations] == ["auth.challenge", "limits.context"]


def test_client_waits_over_two_seconds_show_a_countdown() -> None:
    stream = Terminal()
    sleep = _sleeper(stream)
    started = time.monotonic()
    sleep(0.1)
    assert stream.getvalue() == ""  # short waits pass unannounced
    sleep(2.2)
    assert time.monotonic() - started >= 2.3
    assert "ksefclient: waiting 2 s" in stream.getvalue()
