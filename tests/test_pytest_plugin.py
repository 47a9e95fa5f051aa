"""The pytest plugin as a project sees it: fixtures and ``@pytest.mark.mockksef``, run by pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

PROJECT_TESTS = """
import httpx
import pytest
from starlette.testclient import TestClient


def test_plain_fixtures_are_frozen_and_empty(ksef_app):
    state = ksef_app.state.mock
    assert state.clock.mode == "virtual" and state.scenarios.active == []
    assert state.seed == 0 and state.config.default_env.value == "test"


@pytest.mark.mockksef(scenario="dataset-small")
def test_a_scenario_is_active_and_frozen_at_its_start(ksef_app):
    state = ksef_app.state.mock
    assert state.scenarios.active == ["dataset-small"]
    assert state.clock.describe()["now"] == "2026-03-02T09:00:00.0000000+00:00"
    assert state.env("test").invoices.count() == 150
    with TestClient(ksef_app) as client:
        challenge = client.post("/v2/auth/challenge").json()
    assert challenge["timestamp"].startswith("2026-03-02T09:00:00")


@pytest.mark.mockksef(scenario="token-write-only", clock="offset")
def test_the_clock_can_run_from_the_scenario_start(ksef_app):
    clock = ksef_app.state.mock.clock
    assert clock.mode == "offset" and clock.now().date().isoformat() == "2026-03-02"


@pytest.mark.mockksef(env="demo", clock="2026-05-01T10:00:00Z", seed=7)
def test_environment_instant_and_seed_reach_the_server(ksef_server):
    answer = httpx.post(ksef_server.url + "/v2/auth/challenge", timeout=10)
    assert answer.json()["timestamp"].startswith("2026-05-01T10:00:00")
    state = ksef_server.state
    assert state.config.default_env.value == "demo" and state.seed == 7


@pytest.mark.mockksef(scenario=["token-write-only", "legacy-api-retired"], env="demo")
def test_scenarios_set_up_in_the_chosen_environment(ksef_app):
    state = ksef_app.state.mock
    assert state.scenarios.active == ["token-write-only", "legacy-api-retired"]
    assert state.env("demo").tokens.summary() != state.env("test").tokens.summary()


@pytest.mark.mockksef(scenario="dataset-small")
def test_the_sync_client_fixture_talks_to_the_same_app(ksef_http):
    assert ksef_http.app.state.mock.scenarios.active == ["dataset-small"]
    challenge = ksef_http.post("/auth/challenge")
    assert challenge.status_code == 200
    assert challenge.json()["timestamp"].startswith("2026-03-02T09:00:00")


@pytest.mark.mockksef(clock="sideways")
def test_wrong_clock(ksef_app):
    pass


@pytest.mark.mockksef(scenario="no-such-scenario")
def test_wrong_scenario(ksef_app):
    pass


@pytest.mark.mockksef("dataset-small", envs="demo")
def test_wrong_arguments(ksef_app):
    pass
"""


def test_the_marker_is_registered_with_its_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.mockksef(scenario=None, env=None, clock='virtual', seed=0): *"]
    )
    assert result.ret == 0


def test_the_marker_sets_up_both_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_project=PROJECT_TESTS)
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.mockksef: clock='sideways' is not one of real, offset, virtual *",
            "*@pytest.mark.mockksef: no-such-scenario: no such scenario in the catalogue*",
            "*@pytest.mark.mockksef: takes scenario=, env=, clock=, seed= (got envs)*",
        ]
    )
    assert "Traceback" not in result.stdout.str() and "During handling" not in result.stdout.str()


def test_fresh_certificates_are_ecdsa_and_reuse_the_key_of_a_nip(ksef_certificate) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    first = ksef_certificate(nip="5265877635")
    second = ksef_certificate(nip="5265877635")
    assert isinstance(first.private_key, ec.EllipticCurvePrivateKey)
    assert first.private_key is second.private_key  # one key per NIP in a session
    assert first.certificate != second.certificate  # a fresh certificate every time
    other = ksef_certificate(nip="7010002137", seal=True)
    assert other.private_key is not first.private_key
    assert isinstance(
        ksef_certificate(nip="5265877635", key_type="rsa").private_key, rsa.RSAPrivateKey
    )


def test_a_project_session_freezes_what_it_loads_once(pytester: pytest.Pytester) -> None:
    # Issue 17: once the plugin has parsed the spec, the collector's full passes no
    # longer walk it (nor imports, schemas) in every test; later objects are still
    # collected. In a subprocess: this suite's own fixtures freeze too.
    pytester.makepyfile(
        test_frozen="""
import gc

def test_nothing_frozen_before():
    assert gc.get_freeze_count() == 0

def test_frozen_after_the_plugin_fixture(ksef_app):
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=2)
