"""Harness mechanics: selection, budget, environments, credentials, XSD handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksefcontract.harness import Budget, Credentials, Harness, Target, environment_of, random_nip
from ksefcontract.xsd import DocumentSchemas
from tests.contracts.conftest import mock_harness


class FakeTime:
    """Each reading moves time on, so a time limit is reached deterministically."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize(
    ("url", "env"),
    [
        ("https://api-test.ksef.mf.gov.pl/v2", "test"),
        ("https://api-demo.ksef.mf.gov.pl/v2", "demo"),
        ("https://ksef.mf.gov.pl/api/v2", "prod"),
        ("http://127.0.0.1:8080/demo/v2", "demo"),
        ("http://127.0.0.1:8080/v2", None),
    ],
)
def test_environment_of(url, env):  # type: ignore[no-untyped-def]
    assert environment_of(url) == env


def test_selection_by_id_area_and_exclusion(make_mock, spec):
    app, state = make_mock()
    harness = mock_harness(app, spec, state, credentials=Credentials.none())
    chosen = harness._select(["limits", "tokens.get"], ["limits.subject"])
    assert [r.id for r in chosen] == ["tokens.get", "limits.context", "limits.rate_limits"]
    assert harness._select([], ()) == []
    everything = harness._select(None, ())
    # The resets and the self-revocation run last, after what they undo.
    assert [r.id for r in everything][-1] == "auth.revoke_current_session"


def test_testdata_is_left_out_on_demo(make_mock, spec):
    app, state = make_mock()
    harness = Harness(Target.in_process(app, "http://testserver/demo/v2"), spec=spec)
    result = harness._select(["testdata.create_subject"], ())[0]
    assert result.skipped == "TEST-only operation"


def test_time_limit_is_shared_and_respected(make_mock, spec):
    app, state = make_mock()
    clock = FakeTime(step=0.05)
    harness = mock_harness(
        app,
        spec,
        state,
        budget=Budget(examples=50, time_limit=3, seed=1),
        monotonic=clock,
    )
    report = harness.run(["limits", "certificates.limits", "peppol"], flows=False)
    assert report.ok
    ran = [op for op in report.operations if not op.skipped]
    assert len(ran) == 5 and all(sum(p.cases for p in op.phases) > 0 for op in ran)
    assert any(p.budget_exhausted for op in ran for p in op.phases)
    assert report.duration <= 3.5
    assert report.notes and "time limit" in report.notes[0]


def test_error_format_alternates_unless_forced(make_mock, spec):
    app, state = make_mock()
    both = mock_harness(app, spec, state)
    assert [both.request_headers(i) for i in range(2)] == [
        {},
        {"X-Error-Format": "problem-details"},
    ]
    forced = mock_harness(app, spec, state, error_format="problem-details")
    assert forced.request_headers(0) == {"X-Error-Format": "problem-details"}
    with pytest.raises(Exception, match="error_format"):
        mock_harness(app, spec, state, error_format="xml")


def test_credentials_never_show_secrets():
    credentials = Credentials.ksef_token("20251010-EC-1|nip-5265877635|secret", "5265877635")
    assert "secret" not in credentials.describe() and "secret" not in repr(credentials)


def test_ksef_token_login_on_the_mock(make_mock, spec):
    """The harness logs in with a KSeF token the way a user on TEST would."""
    app, state = make_mock()
    owner = mock_harness(app, spec, state)
    assert not owner.login().failures
    report = owner.run([], flows=["ksef-token"])
    assert report.ok and report.flows[-1].name == "ksef-token"
    # A fresh harness with that kind of credential: generate one through the API.
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://testserver/v2") as client:
        headers = {"Authorization": f"Bearer {owner.tokens.access_token}"}  # type: ignore[union-attr]
        created = client.post(
            "/tokens",
            json={"permissions": ["InvoiceRead"], "description": "harness test"},
            headers=headers,
        ).json()
    user = mock_harness(
        app,
        spec,
        state,
        credentials=Credentials.ksef_token(created["token"], owner.credentials.nip),  # type: ignore[arg-type]
    )
    login = user.login()
    assert not login.failures and user.tokens is not None
    assert [s.name for s in login.steps][:3] == [
        "challenge",
        "public keys",
        "authenticate (KSeF token)",
    ]


def test_random_nip_is_valid_and_seeded():
    import random

    a, b = random_nip(random.Random(1)), random_nip(random.Random(1))
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    assert a == b and len(a) == 10
    assert sum(int(d) * w for d, w in zip(a, weights, strict=False)) % 11 == int(a[9])


def test_official_invoice_samples_are_valid(spec):
    documents = DocumentSchemas(Path(spec.source).parent)
    sample = (
        Path(spec.source).parent / "sample-invoices" / "invoice-template-fa-3.xml"
    ).read_bytes()
    filled = sample.replace(b"#nip#", b"5265877635").replace(b"#invoice_number#", b"1")
    assert documents.validate(filled, documents.invoice_namespaces()) == []
    assert [p.kind for p in documents.validate(b"<not-closed>")] == ["xml"]
    assert [p.kind for p in documents.validate(b"<a xmlns='urn:x'/>")] == ["namespace"]


def test_signed_upo_with_a_test_environment_name_is_valid(spec):
    """Real UPOs carry the Ministry's enveloped signature and, on TEST, a suffixed name."""
    documents = DocumentSchemas(Path(spec.source).parent)
    upo = (
        Path(spec.source).parent
        / "faktury/upo/przyklady/v4-3/kontekst-nip/upo-sesja-kontekst-id-nip.xml"
    ).read_bytes()
    signed = upo.replace(
        b"</Potwierdzenie>",
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></Potwierdzenie>',
    )
    assert documents.validate(signed) == []
    renamed = upo.replace("środowisko testowe (TE)".encode(), b"gdzies indziej")
    assert [p.kind for p in documents.validate(renamed)] == ["schema"]
