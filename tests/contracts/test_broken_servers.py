"""The harness catches a server that breaks the contract.

Each test breaks one rule on an otherwise faithful mockksef (``Rewrite`` around
``create_app``) or serves a tiny Starlette app, runs the harness on the
operations concerned, and asserts which check reports the failure.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from ksefcontract.harness import Budget, Credentials, Harness, HarnessError, Target
from ksefcontract.report import render_text
from tests.contracts.conftest import NIP, mock_harness
from tests.contracts.faulty import Answer, Rewrite, drop_request_header, json_body, on_path

SMALL = Budget(examples=3, seed=3)
POSITIVE_ONLY = Budget(examples=3, seed=3, phases=("positive",))


def _run(app, spec, state, ops, **options):  # type: ignore[no-untyped-def]
    options.setdefault("credentials", Credentials.none())
    options.setdefault("budget", SMALL)
    harness = mock_harness(app, spec, state, **options)
    return harness.run(ops, flows=False)


def _checks(report) -> set[str]:  # type: ignore[no-untyped-def]
    return report.checks_failed()


# -- wrapped mockksef -----------------------------------------------------------------------


def test_faithful_mock_passes_the_same_runs(make_mock, spec):
    app, state = make_mock()
    report = _run(
        app, spec, state, ["certificates.public_keys", "auth.challenge", "testdata.create_subject"]
    )
    assert report.ok, render_text(report)


def test_wrong_type_in_a_200_body(make_mock, spec):
    app, state = make_mock()

    def break_key_ids(keys):  # type: ignore[no-untyped-def]
        return [{**k, "publicKeyId": 12345} for k in keys]

    faulty = Rewrite(
        app, response=on_path("/security/public-key-certificates", json_body(break_key_ids))
    )
    report = _run(faulty, spec, state, ["certificates.public_keys"])
    assert "response_schema_conformance" in _checks(report), render_text(report)


def test_missing_field_in_a_200_body(make_mock, spec):
    app, state = make_mock()

    def rename(body):  # type: ignore[no-untyped-def]
        body["challange"] = body.pop("challenge")
        return body

    faulty = Rewrite(app, response=on_path("/auth/challenge", json_body(rename)))
    report = _run(faulty, spec, state, ["auth.challenge"])
    assert "response_schema_conformance" in _checks(report)
    failure = next(f for f in report.failures if f.check == "response_schema_conformance")
    assert "challenge" in failure.message and failure.operation == "auth.challenge"


def test_undeclared_status(make_mock, spec):
    app, state = make_mock()

    def created(answer: Answer) -> Answer:
        answer.status = 201
        return answer

    faulty = Rewrite(app, response=on_path("/auth/challenge", created))
    report = _run(faulty, spec, state, ["auth.challenge"])
    assert "status_code_conformance" in _checks(report)


def test_undocumented_exception_code(make_mock, spec):
    app, state = make_mock()

    def wrong_code(body):  # type: ignore[no-untyped-def]
        for entry in (body.get("exception") or {}).get("exceptionDetailList") or []:
            entry["exceptionCode"] = 21164  # a real KSeF code, documented for downloads only
        for entry in body.get("errors") or []:
            entry["code"] = 21164
        return body

    faulty = Rewrite(app, response=on_path("/testdata/subject", json_body(wrong_code)))
    report = _run(faulty, spec, state, ["testdata.create_subject"])
    assert "documented_exception_codes" in _checks(report)
    failure = next(f for f in report.failures if f.check == "documented_exception_codes")
    assert "21164" in failure.message


def test_legacy_body_when_problem_details_was_asked(make_mock, spec):
    app, state = make_mock()
    # The server never sees the header, so it answers in the legacy format.
    faulty = Rewrite(app, request=drop_request_header("X-Error-Format"))
    report = _run(faulty, spec, state, ["testdata.create_subject"], error_format="problem-details")
    assert "error_format_follows_header" in _checks(report), render_text(report)


def test_problem_details_without_the_header(make_mock, spec):
    app, state = make_mock()

    def always_problem(scope):  # type: ignore[no-untyped-def]
        scope["headers"] = [*scope["headers"], (b"x-error-format", b"problem-details")]
        return scope

    faulty = Rewrite(app, request=always_problem)
    report = _run(faulty, spec, state, ["testdata.create_subject"], error_format="legacy")
    assert "error_format_follows_header" in _checks(report)


def test_401_in_the_legacy_format(make_mock, spec):
    app, state = make_mock()

    def legacy_401(scope, answer: Answer) -> Answer:  # type: ignore[no-untyped-def]
        if answer.status == 401:
            answer.set_header("content-type", "application/json")
        return answer

    faulty = Rewrite(app, response=legacy_401)
    report = _run(faulty, spec, state, ["limits.context"])
    assert "error_format_follows_header" in _checks(report)


def test_server_error(make_mock, spec):
    app, state = make_mock()

    def crash(answer: Answer) -> Answer:
        return Answer(500, [(b"content-type", b"text/plain")], b"boom")

    faulty = Rewrite(app, response=on_path("/auth/challenge", crash))
    report = _run(faulty, spec, state, ["auth.challenge"])
    assert "not_a_server_error" in _checks(report)


def test_429_without_retry_after(make_mock, spec):
    app, state = make_mock()

    def throttle(answer: Answer) -> Answer:
        body = {"status": {"code": 429, "description": "Too Many Requests", "details": ["x"]}}
        return Answer(429, [(b"content-type", b"application/json")], json.dumps(body).encode())

    faulty = Rewrite(app, response=on_path("/security/public-key-certificates", throttle))
    report = _run(faulty, spec, state, ["certificates.public_keys"])
    assert _checks(report) == {"retry_after_on_429"}, render_text(report)


def _429(retry_after: str) -> Answer:
    body = {"status": {"code": 429, "description": "Too Many Requests", "details": ["x"]}}
    return Answer(
        429,
        [(b"content-type", b"application/json"), (b"retry-after", retry_after.encode())],
        json.dumps(body).encode(),
    )


def test_429_is_waited_out_within_the_budget(make_mock, spec):
    app, state = make_mock()
    left = [3]

    def throttle_thrice(answer: Answer) -> Answer:
        if left[0] == 0:
            return answer
        left[0] -= 1
        return _429("2")

    slept: list[float] = []
    faulty = Rewrite(app, response=on_path("/security/public-key-certificates", throttle_thrice))
    report = _run(faulty, spec, state, ["certificates.public_keys"], sleep=slept.append)
    assert report.ok, render_text(report)
    assert slept == [2.0, 2.0, 2.0]
    assert report.operation("certificates.public_keys").phases[0].throttled == 3  # type: ignore[union-attr]


def test_retry_after_beyond_the_budget_stops_the_operation(make_mock, spec):
    app, state = make_mock()

    def throttle(answer: Answer) -> Answer:
        return _429("3600")

    slept: list[float] = []
    faulty = Rewrite(app, response=on_path("/security/public-key-certificates", throttle))
    report = _run(faulty, spec, state, ["certificates.public_keys"], sleep=slept.append)
    assert report.ok and slept == []
    phase = report.operation("certificates.public_keys").phases[0]  # type: ignore[union-attr]
    assert phase.budget_exhausted and "Retry-After" in phase.notes[0]


@pytest.mark.slow
def test_mock_rate_limits_are_honoured(make_mock, spec):
    """The real limiter (virtual clock): the harness waits out each 429 and still passes."""
    app, state = make_mock(rate_limits_enabled=True)
    harness = mock_harness(
        app, spec, state, budget=Budget(examples=45, seed=1, phases=("positive",), max_wait=3600)
    )
    report = harness.run(["limits.context"], flows=False)
    assert report.ok, render_text(report)
    phase = report.operation("limits.context").phases[0]  # type: ignore[union-attr]
    # 30 a minute pass; each 429 is checked, then waited out on the virtual clock.
    assert phase.throttled > 0 and phase.statuses == {"200": 45}


def test_broken_link_in_the_login_flow(make_mock, spec):
    app, state = make_mock()

    def refuse(answer: Answer) -> Answer:
        body = json.loads(answer.body)
        body["accessToken"] = None
        answer.body = json.dumps(body).encode()
        return answer

    faulty = Rewrite(app, response=on_path("/auth/token/redeem", refuse))
    harness = mock_harness(faulty, spec, state, budget=SMALL)
    login = harness.login()
    assert login.failures and harness.tokens is None
    assert {f.check for f in login.failures} >= {"response_schema_conformance"}


def test_login_status_that_never_finishes(make_mock, spec):
    app, state = make_mock()

    def stuck(body):  # type: ignore[no-untyped-def]
        body["status"] = {"code": 100, "description": "Uwierzytelnianie w toku"}
        return body

    faulty = Rewrite(app, response=on_path(r"/auth/\d{8}-AU-[^/]+", json_body(stuck), method="GET"))
    harness = mock_harness(
        faulty, spec, state, budget=Budget(examples=1, poll_timeout=5, poll_interval=1)
    )
    login = harness.login()
    assert [f.check for f in login.failures] == ["stateful_link"]
    assert "still not final" in login.failures[0].title


# -- tiny servers of the XML documents --------------------------------------------------------

UPO_EXAMPLE = "faktury/upo/przyklady/v4-3/kontekst-nip/upo-faktura-kontekst-id-nip.xml"


def _upo_server(spec, body: bytes, *, hash_value: str | None = "right") -> Starlette:  # type: ignore[no-untyped-def]
    def upo(request):  # type: ignore[no-untyped-def]
        headers = {}
        if hash_value == "right":
            headers["x-ms-meta-hash"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
        elif hash_value is not None:
            headers["x-ms-meta-hash"] = hash_value
        return Response(body, media_type="application/xml", headers=headers)

    return Starlette(routes=[Route("/v2/sessions/{ref}/upo/{upo}", upo, methods=["GET"])])


def _upo_run(spec, app):  # type: ignore[no-untyped-def]
    harness = Harness(
        Target.in_process(app, implemented=frozenset({"sessions.session_upo"})),
        spec=spec,
        budget=POSITIVE_ONLY,
    )
    return harness.run(["sessions.session_upo"], flows=False)


def _official(spec, relative: str) -> bytes:  # type: ignore[no-untyped-def]
    return (Path(spec.source).parent / relative).read_bytes()


def test_official_upo_example_passes(spec):
    report = _upo_run(spec, _upo_server(spec, _official(spec, UPO_EXAMPLE)))
    assert report.ok, render_text(report)


def test_upo_without_meta_hash(spec):
    report = _upo_run(spec, _upo_server(spec, _official(spec, UPO_EXAMPLE), hash_value=None))
    assert _checks(report) == {"meta_hash_matches_body"}


def test_upo_with_a_wrong_meta_hash(spec):
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    report = _upo_run(spec, _upo_server(spec, _official(spec, UPO_EXAMPLE), hash_value=wrong))
    assert _checks(report) == {"meta_hash_matches_body"}


def test_upo_that_breaks_the_xsd(spec):
    broken = _official(spec, UPO_EXAMPLE).replace(b"<TrybWysylki>Online</TrybWysylki>", b"")
    report = _upo_run(spec, _upo_server(spec, broken))
    assert _checks(report) == {"documents_match_official_xsd"}
    assert "TrybWysylki" in report.failures[0].message


def test_invoice_served_as_a_upo(spec):
    invoice = _official(spec, "sample-invoices/invoice-template-fa-3.xml")
    report = _upo_run(spec, _upo_server(spec, invoice))
    assert _checks(report) == {"documents_match_official_xsd"}
    assert "namespace" in report.failures[0].message


def test_harness_refuses_production(spec):
    with pytest.raises(HarnessError, match="production"):
        Harness(Target.url("https://api.ksef.mf.gov.pl/v2"), spec=spec)
    with pytest.raises(HarnessError, match="TEST only"):
        Harness(
            Target.url("https://api-demo.ksef.mf.gov.pl/v2"),
            spec=spec,
            credentials=Credentials.self_signed(NIP),
        )


def test_unknown_operation_filter(make_mock, spec):
    app, state = make_mock()
    with pytest.raises(HarnessError, match="no.such"):
        _run(app, spec, state, ["no.such"])
