"""The /_mock control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.conftest import bearer, mint_access_token


@pytest.fixture
def admin(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_health_names_environments_and_spec(admin):
    body = admin.get("/_mock/health").json()
    assert body["status"] == "ok"
    assert body["environments"] == ["test", "demo", "prod"]
    assert body["specVersion"] == "2.7.0"


def test_reset_one_environment_leaves_the_others(admin, mock):
    test_token = mint_access_token(mock)
    demo_token = mint_access_token(mock, env=mock.env("demo").env)
    assert admin.post("/_mock/reset?env=demo").status_code == 200
    assert admin.get("/demo/v2/tokens", headers=bearer(demo_token)).status_code == 401
    assert admin.get("/test/v2/tokens", headers=bearer(test_token)).status_code == 200
    assert admin.post("/_mock/reset?env=mars").status_code == 400
    assert admin.post("/_mock/reset").json() == {"reset": "all"}
    assert admin.get("/test/v2/tokens", headers=bearer(test_token)).status_code == 401


def test_clock_read_set_advance_and_bad_input(admin, mock):
    assert admin.get("/_mock/clock").json()["mode"] == "virtual"
    moved = admin.post("/_mock/clock", json={"set": "2026-06-01T10:00:00Z"}).json()
    assert moved["now"].startswith("2026-06-01T10:00:00")
    moved = admin.post("/_mock/clock", json={"advance": 3600}).json()
    assert moved["now"].startswith("2026-06-01T11:00:00")
    assert admin.post("/_mock/clock", json={"advance": -5}).status_code == 400
    assert admin.post("/_mock/clock", json={"set": "yesterday"}).status_code == 400
    assert admin.post("/_mock/clock", content=b"{").status_code == 400
    # Past the end of the calendar: the caller's error, and the clock stays put.
    for far in ("99999999999d", 1e308):
        answer = admin.post("/_mock/clock", json={"advance": far})
        assert answer.status_code == 400 and "cannot move that far" in answer.json()["error"]
    assert admin.get("/_mock/clock").json()["now"].startswith("2026-06-01T11:00:00")


def test_state_summary_counts(admin, mock):
    admin.post(
        "/test/v2/testdata/person",
        json={
            "nip": "7980332920",
            "pesel": "30112206276",
            "description": "Komornik",
            "isBailiff": True,
        },
    )
    state = admin.get("/_mock/state").json()
    assert state["environments"]["test"]["subjects"]["persons"] == 1
    assert state["environments"]["demo"]["subjects"]["persons"] == 0


def test_key_rotation_lists_old_and_new_then_emergency_withdraws(admin):
    before = admin.get("/test/v2/security/public-key-certificates").json()
    old = next(k for k in before if "SymmetricKeyEncryption" in k["usage"])
    rotated = admin.post(
        "/_mock/keys?env=test", json={"action": "rotate", "usage": "SymmetricKeyEncryption"}
    ).json()
    ids = [k["publicKeyId"] for k in rotated if "SymmetricKeyEncryption" in k["usage"]]
    assert old["publicKeyId"] in ids and len(ids) == 2
    admin.post(
        "/_mock/keys?env=test", json={"action": "withdraw", "publicKeyId": old["publicKeyId"]}
    )
    after = admin.get("/test/v2/security/public-key-certificates").json()
    assert old["publicKeyId"] not in [k["publicKeyId"] for k in after]
    assert admin.post("/_mock/keys", json={"action": "explode"}).status_code == 400
    assert (
        admin.post("/_mock/keys", json={"action": "withdraw", "publicKeyId": "nope"}).status_code
        == 400
    )


def test_unknown_admin_path_is_404(admin):
    assert admin.get("/_mock/nothing").status_code == 404
