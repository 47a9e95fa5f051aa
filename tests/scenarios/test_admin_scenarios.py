"""The admin plane verbs for scenarios, seeding, KSeF 1.0 handling and the clock."""

from __future__ import annotations

import sys
import types

import pytest
from starlette.testclient import TestClient

YAML = "name: via-admin\nrules:\n  - {name: r, when: {operation: auth.challenge}, then: {maintenance: true}}\nrequire_all_fired: true\n"


@pytest.fixture
def admin(app):  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


def test_load_activate_deactivate_and_unload(admin, mock):
    loaded = admin.post(
        "/_mock/scenarios?activate=false",
        content=YAML,
        headers={"Content-Type": "application/yaml"},
    )
    assert loaded.status_code == 201 and loaded.json()["active"] is False
    assert admin.post("/v2/auth/challenge").status_code == 200
    active = admin.post("/_mock/scenarios/via-admin/activate", json={"seed": 3}).json()
    assert active["active"] is True and active["seed"] == 3
    assert admin.get("/_mock/scenarios/check").status_code == 409
    assert admin.post("/v2/auth/challenge").status_code == 503
    check = admin.get("/_mock/scenarios/check")
    assert check.status_code == 200 and check.json() == {"ok": True, "unfired": {}}
    described = admin.get("/_mock/scenarios/via-admin").json()
    assert described["rules"][0]["fired"] == 1 and described["calls"] == 1
    listing = admin.get("/_mock/scenarios").json()
    assert listing["active"] == ["via-admin"] and listing["legacy"] == "not_found"
    assert "dataset-small" in listing["catalogue"]
    assert admin.post("/_mock/scenarios/via-admin/deactivate").json()["active"] is False
    assert admin.post("/v2/auth/challenge").status_code == 200
    assert admin.post("/_mock/scenarios/via-admin/deactivate").status_code == 404
    assert admin.delete("/_mock/scenarios/via-admin").json() == {"unloaded": "via-admin"}
    assert admin.get("/_mock/scenarios/via-admin").status_code == 404
    assert admin.post("/_mock/scenarios/nope/activate").status_code == 404


def test_load_by_catalogue_name_json_yaml_or_dict(admin, mock):
    by_yaml = admin.post("/_mock/scenarios", json={"yaml": YAML})
    assert by_yaml.status_code == 201 and by_yaml.json()["active"] is True
    as_dict = {"name": "d", "rules": [{"then": {"pass": True}}]}
    assert admin.post("/_mock/scenarios", json={"scenario": as_dict}).json()["name"] == "d"
    assert admin.post("/_mock/scenarios", json=as_dict).json()["name"] == "d"
    by_name = admin.post("/_mock/scenarios", json={"name": "legacy-api-retired"})
    assert by_name.status_code == 201 and by_name.json()["name"] == "legacy-api-retired"
    assert mock.scenarios.active == ["via-admin", "d", "legacy-api-retired"]


def test_activation_can_freeze_a_scenario_that_runs_on_its_own_clock(admin, mock):
    mock.clock.set_mode("real")
    admin.post("/_mock/scenarios?activate=false", json={"name": "token-write-only"})
    bogus = admin.post("/_mock/scenarios/token-write-only/activate", json={"clock": "stopped"})
    assert bogus.status_code == 400 and "stopped" in bogus.text
    assert mock.clock.mode == "real" and mock.scenarios.active == []
    admin.post("/_mock/scenarios/token-write-only/activate", json={"clock": "virtual"})
    assert mock.clock.describe() == {
        "mode": "virtual",
        "now": "2026-03-02T09:00:00.0000000+00:00",
        "offsetSeconds": None,
    }
    admin.post("/_mock/scenarios/token-write-only/activate")
    assert mock.clock.mode == "offset"


def test_invalid_scenarios_answer_400_with_the_problems(admin):
    bad = admin.post(
        "/_mock/scenarios",
        content="name: x\nrules:\n  - then: {error: abc}\n",
        headers={"Content-Type": "text/yaml"},
    )
    assert bad.status_code == 400
    assert bad.json()["problems"] == [
        "<string>:3: /rules/0/then/error: 'abc' is not of type 'integer', nor of type 'object'"
    ]
    unknown = admin.post("/_mock/scenarios", json={"name": "no-such-scenario"})
    assert unknown.status_code == 400 and "no such scenario" in unknown.json()["problems"][0]


def test_seed_runs_a_setup_section(admin, monkeypatch):
    fake = types.ModuleType("mockksef.seeding")
    fake.SETUP_KINDS = {
        "subjects": lambda env, item, rng: {"nip": item["nip"], "env": env.env.value}
    }  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mockksef.seeding", fake)
    seeded = admin.post(
        "/_mock/seed", json={"environment": "demo", "setup": {"subjects": [{"nip": "5265877635"}]}}
    )
    assert seeded.status_code == 201
    assert seeded.json() == {
        "seeded": {"demo": {"subjects": [{"nip": "5265877635", "env": "demo"}]}}
    }
    bad = admin.post("/_mock/seed", json={"setup": {"subjects": [{"nip": "12"}]}})
    assert bad.status_code == 400 and bad.json()["problems"][0].startswith(
        "seed: /setup/subjects/0/nip:"
    )


def test_legacy_mode_and_clock_modes(admin, mock):
    assert admin.get("/_mock/legacy").json() == {"mode": "not_found"}
    assert admin.post("/_mock/legacy", json={"mode": "gone"}).json() == {"mode": "gone"}
    assert admin.post("/api/online/Session/AuthorisationChallenge").status_code == 410
    assert admin.post("/_mock/legacy", json={"mode": "teapot"}).status_code == 400
    assert (
        admin.post("/_mock/clock", json={"advance": "2h"})
        .json()["now"]
        .startswith("2026-03-02T11:00")
    )
    assert admin.post("/_mock/clock", json={"mode": "offset"}).json()["mode"] == "offset"
    real = admin.post("/_mock/clock", json={"mode": "real"}).json()
    assert real["mode"] == "real" and real["offsetSeconds"] == 0
    assert admin.post("/_mock/clock", json={"mode": "virtual"}).json()["mode"] == "virtual"
    assert admin.post("/_mock/clock", json={"mode": "sideways"}).status_code == 400


def test_clock_moves_through_the_admin_api_trigger_scheduled_resets(admin, mock):
    mock.scenarios.activate("demo-reset-overnight", clock="virtual")
    generation = mock.env("demo").generation
    admin.post("/_mock/clock", json={"advance": "1d"})
    assert mock.env("demo").generation == generation + 1
