"""Schemathesis, driven by the official OpenAPI, against the mock in-process.

Authenticated for real: a self-signed XAdES login as the Owner of a random NIP
on TEST, so protected operations are exercised, not only their 401. Every
response of every implemented operation must be declared by the spec (status
code, content type, headers, body schema) and no answer may be a server error.

Each operation is driven through its own Hypothesis strategy (schemathesis'
``as_strategy``) rather than schemathesis' pytest plugin, so that the suite
does not depend on the plugin's pytest internals.
"""

from __future__ import annotations

import os
import random

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from starlette.testclient import TestClient

from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.services import all_routes
from tests.conftest import START
from tests.flows import xades_login

IMPLEMENTED = sorted((next(iter(r.methods - {"HEAD"})), r.path) for r in all_routes())  # type: ignore[attr-defined]
# The default keeps CI fast and repeatable; MOCKKSEF_CONTRACT_EXAMPLES=500 (and
# MOCKKSEF_CONTRACT_RANDOM=1 for fresh examples) runs the harness at depth.
MAX_EXAMPLES = int(os.environ.get("MOCKKSEF_CONTRACT_EXAMPLES", "12"))
DERANDOMIZE = os.environ.get("MOCKKSEF_CONTRACT_RANDOM", "") != "1"
# Not `positive_data_acceptance`: KSeF answers a well-formed but unknown resource
# with 400 and a specific exception code (never 404), which the spec documents.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def _random_nip(rng: random.Random) -> str:
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


@pytest.fixture(scope="module")
def harness(spec):
    state = MockState(
        MockConfig(seed=7, clock_mode="virtual"), spec=spec, clock=Clock.virtual(START)
    )
    app = create_app(state=state)
    with TestClient(app, base_url="http://testserver/v2") as client:
        session = xades_login(client, _random_nip(random.Random(7)))
    schema = schemathesis.openapi.from_dict(spec.data)
    schema.app = app
    schema.config.update(base_url="http://testserver/v2")
    return schema, {"Authorization": f"Bearer {session.access_token}"}


# The 2.7.1 operation is not in the 2.7.0 document the harness reads.
CASES = [op for op in IMPLEMENTED if op[1] != "/collective-identifiers/invoices"]
IDS = [f"{m} {p}" for m, p in CASES]
# Negative phase: schema-violating requests must be refused with a declared 4xx
# in the official shape (never a 5xx, never an undeclared status).
NEGATIVE_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


def _run(harness, method, path, mode, selected):  # type: ignore[no-untyped-def]
    schema, headers = harness
    operation = schema[path][method]

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=DERANDOMIZE,
        database=None,
    )
    @hypothesis.given(data=st.data())
    def run(data):  # type: ignore[no-untyped-def]
        case = data.draw(operation.as_strategy(generation_mode=mode))
        if mode is GenerationMode.NEGATIVE:
            hypothesis.assume(_meaningful_negative(case))
        case.call_and_validate(headers=headers, checks=selected)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Only operations without any mutable input (no body, no parameters
        # besides the bearer) may have no meaningful negative case.
        assert mode is GenerationMode.NEGATIVE
        assert not operation.body and not [
            p for p in operation.iter_parameters() if p.location != "header"
        ], path


def _meaningful_negative(case) -> bool:  # type: ignore[no-untyped-def]
    """Leave out the mutations a faithful KSeF server does not reject.

    The harness sends its own bearer, so a case whose negative part is a
    missing ``Authorization`` header cannot be tested this way; and unknown
    query parameters are ignored by the real server (ASP.NET binds by name).
    """
    meta = case.meta
    if meta is None:
        return True
    negative = {
        str(loc.value)
        for loc, info in meta.components.items()
        if info.mode is GenerationMode.NEGATIVE
    }
    if "header" in negative:
        return False
    description = str(getattr(meta.phase.data, "description", "") or "")
    return not (negative <= {"query"} and "additionalProperties" in description)


@pytest.mark.parametrize(("method", "path"), CASES, ids=IDS)
def test_implemented_operation_conforms(harness, method, path):  # type: ignore[no-untyped-def]
    _run(harness, method, path, GenerationMode.POSITIVE, CHECKS)


@pytest.mark.parametrize(("method", "path"), CASES, ids=IDS)
def test_implemented_operation_rejects_bad_input(harness, method, path):  # type: ignore[no-untyped-def]
    _run(harness, method, path, GenerationMode.NEGATIVE, NEGATIVE_CHECKS)
