"""The harness against mockksef itself: in-process and over a real socket, zero failures.

Authenticated for real (a self-signed XAdES login as the Owner of a NIP on
TEST), so protected operations are exercised, not only their 401. Every
official operation the registry says is implemented runs its positive and
negative phases; the others are skipped with the registry's reason.
"""

from __future__ import annotations

import pytest

from ksefcontract import stateful
from ksefcontract.harness import (
    METHODS_FLOW,
    Budget,
    Credentials,
    Harness,
    Target,
    registry_operations,
)
from ksefcontract.report import render_text
from mockksef import create_app, operations
from tests.contracts.conftest import (
    MOCK_DEVIATIONS,
    SEED,
    SOCKET_EXAMPLES,
    mock_harness,
    mock_state,
)

IMPLEMENTED = registry_operations()
REGISTRY_REASONS = (
    "not implemented by the server (operation registry)",
    "not in the official OpenAPI document the harness reads",
)


@pytest.fixture(scope="module")
def harness(spec):  # type: ignore[no-untyped-def]
    state = mock_state(spec)
    harness = mock_harness(create_app(state=state), spec, state)
    login = harness.login()
    assert not login.skipped and not login.failures, login
    return harness


# Every operation of the official document the harness reads (API 2.7.0); the
# one operation added later (collective.invoices) has no schema there and is
# covered by tests/api/test_collective.py instead.
SPEC_OPERATIONS = [op.id for op in operations.OPERATIONS if not op.newer_than_spec]


@pytest.mark.parametrize("op_id", SPEC_OPERATIONS)
def test_operation_conforms_in_process(harness, op_id):  # type: ignore[no-untyped-def]
    assert op_id in IMPLEMENTED, f"{op_id} is not implemented"
    report = harness.run([op_id], flows=False)
    result = report.operation(op_id)
    assert result is not None
    assert not result.skipped, result.skipped
    assert sum(p.cases for p in result.phases) > 0
    assert report.ok, render_text(report)


def test_stateful_flows_in_process(harness):  # type: ignore[no-untyped-def]
    report = harness.run([], flows=True)
    assert report.operations == []
    # The stateful flows, then the undeclared-method probes.
    assert [f.name for f in report.flows] == [*(f.name for f in stateful.FLOWS), METHODS_FLOW]
    for flow, definition in zip(report.flows, stateful.FLOWS, strict=False):
        needs = set(definition.requires)
        if needs <= IMPLEMENTED:
            assert flow.skipped is None, flow.skipped
            assert flow.steps and all(s.outcome != "failed" for s in flow.steps)
        else:
            assert flow.skipped and "not implemented per the registry" in flow.skipped
    assert report.ok, render_text(report, verbose=True)


@pytest.mark.server
def test_whole_suite_over_a_socket(server, spec):  # type: ignore[no-untyped-def]
    harness = Harness(
        Target.url(server.url + "/v2"),
        spec=spec,
        credentials=Credentials.self_signed("5265877635"),
        budget=Budget(examples=SOCKET_EXAMPLES, seed=SEED),
        sleep=server.state.clock.advance,
        tolerated_codes=MOCK_DEVIATIONS,
    )
    report = harness.run()
    assert report.ok, render_text(report, verbose=True)
    # The registry was found through /_mock/health: implemented operations ran.
    ran = {op.id for op in report.operations if not op.skipped}
    expected = {
        op.id for op in operations.OPERATIONS if op.id in IMPLEMENTED and not op.newer_than_spec
    }
    assert ran == expected
    assert report.flow("auth") is not None and not report.flow("auth").skipped  # type: ignore[union-attr]
