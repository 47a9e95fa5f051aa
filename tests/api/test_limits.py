"""GET /limits/context, /limits/subject and /rate-limits over HTTP, in the official shapes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from mockksef import MockState, create_app
from mockksef.clock import Clock
from mockksef.environments import Env
from mockksef.models import ContextIdentifier, SubjectIdentifier
from tests import kit
from tests.conftest import START, bearer, mint_access_token

NIP = "5265877635"
OTHER_NIP = "7762811692"
PESEL = "15062788702"
FINGERPRINT = "CEB3643BAC2C111ADDE971BDA5A80163441867D65389FC0BC0DFF8B4C1CD4E59"


def schema(spec, path: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return spec.operation("GET", path).raw["responses"]["200"]["content"]["application/json"][
        "schema"
    ]


def test_context_limits_default(client, spec, mock):
    response = client.get("/limits/context", headers=bearer(mint_access_token(mock, nip=NIP)))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == kit.session_limits()
    assert spec.validate_value(schema(spec, "/limits/context"), body).errors == []


def test_context_limits_belong_to_the_context(client, mock):
    mine = bearer(mint_access_token(mock, nip=NIP))
    body = kit.session_limits(online=(0, 0, 0), batch=(5, 10, 100000), collective=2)
    assert (
        client.post("/testdata/limits/context/session", json=body, headers=mine).status_code == 200
    )
    assert client.get("/limits/context", headers=mine).json() == body
    theirs = bearer(mint_access_token(mock, nip=OTHER_NIP))
    assert (
        client.get("/limits/context", headers=theirs).json()["onlineSession"]["maxInvoices"]
        == 10000
    )
    # Same context, other subject: the limits are the context's.
    pesel = bearer(
        mint_access_token(
            mock, subject=SubjectIdentifier("Pesel", PESEL), context=ContextIdentifier("Nip", NIP)
        )
    )
    assert client.get("/limits/context", headers=pesel).json() == body


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (SubjectIdentifier("Nip", NIP), (300, 100)),
        (SubjectIdentifier("Pesel", PESEL), (12, 6)),
        (SubjectIdentifier("Fingerprint", FINGERPRINT), (12, 6)),
    ],
)
def test_subject_limits_by_identifier_type(client, spec, mock, subject, expected):  # type: ignore[no-untyped-def]
    token = bearer(mint_access_token(mock, subject=subject, context=ContextIdentifier("Nip", NIP)))
    response = client.get("/limits/subject", headers=token)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "enrollment": {"maxEnrollments": expected[0]},
        "certificate": {"maxCertificates": expected[1]},
    }
    assert spec.validate_value(schema(spec, "/limits/subject"), body).errors == []


def test_rate_limits_has_17_groups(client, spec, mock):
    response = client.get("/rate-limits", headers=bearer(mint_access_token(mock, nip=NIP)))
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 17
    assert list(body)[:4] == [
        "onlineSession",
        "onlineSessionClose",
        "batchSession",
        "batchSessionClose",
    ]
    assert body["other"] == {"perSecond": 10, "perMinute": 30, "perHour": 120}
    assert body["invoiceExportStatus"] == {"perSecond": 10, "perMinute": 60, "perHour": 600}
    assert body["collectiveIdentifier"] == {"perSecond": 20, "perMinute": 120, "perHour": 240}
    assert body["batchSessionClose"] == {"perSecond": 20, "perMinute": 40, "perHour": 120}
    assert body["anonymous"] == {"perSecond": 60, "perMinute": -1, "perHour": -1}
    assert body["global"] == {"perSecond": -1, "perMinute": -1, "perHour": -1}
    assert spec.validate_value(schema(spec, "/rate-limits"), body).errors == []


def test_rate_limits_multiplier_scales_test_only(config, spec):  # type: ignore[no-untyped-def]
    mock = MockState(
        replace(config, rate_limit_multiplier=10), spec=spec, clock=Clock.virtual(START)
    )
    with TestClient(create_app(state=mock), base_url="http://testserver") as client:
        test = client.get(
            "/test/v2/rate-limits", headers=bearer(mint_access_token(mock, nip=NIP))
        ).json()
        assert test["sessionList"] == {"perSecond": 50, "perMinute": 100, "perHour": 600}
        assert test["global"] == {"perSecond": -1, "perMinute": -1, "perHour": -1}
        prod_token = bearer(mint_access_token(mock, nip=NIP, env=Env.PROD))
        assert client.get("/prod/v2/rate-limits", headers=prod_token).json()["sessionList"] == {
            "perSecond": 5,
            "perMinute": 10,
            "perHour": 60,
        }


def test_limits_need_an_access_token(client, mock):
    for path in ("/limits/context", "/limits/subject", "/rate-limits"):
        response = client.get(path)
        assert (
            response.status_code == 401
            and response.headers["content-type"] == "application/problem+json"
        )
