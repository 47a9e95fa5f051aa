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

import random

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import checks
from starlette.testclient import TestClient

from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.services import all_routes
from tests.conftest import START
from tests.flows import xades_login

IMPLEMENTED = sorted((next(iter(r.methods - {"HEAD"})), r.path) for r in all_routes())  # type: ignore[attr-defined]
MAX_EXAMPLES = 12
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


@pytest.mark.parametrize(
    ("method", "path"),
    [op for op in IMPLEMENTED if op[1] != "/collective-identifiers/invoices"],
    ids=[f"{m} {p}" for m, p in IMPLEMENTED if p != "/collective-identifiers/invoices"],
)
def test_implemented_operation_conforms(harness, method, path):
    schema, headers = harness
    operation = schema[path][method]

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
        database=None,
    )
    @hypothesis.given(data=st.data())
    def run(data):
        case = data.draw(operation.as_strategy())
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
