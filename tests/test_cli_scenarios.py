"""``mockksef scenario list|show|validate|schema`` and ``mockksef serve --scenario``."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from mockksef.cli import main
from mockksef.scenarios import catalogue_names
from tests.conftest import mockksef_serve


def test_schema_prints_the_shipped_json_schema():
    result = CliRunner().invoke(main, ["scenario", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "mockksef scenario"


def test_list_shows_the_catalogue_with_descriptions():
    result = CliRunner().invoke(main, ["scenario", "list"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == catalogue_names() and "legacy-api-retired" in names


def test_show_explains_a_scenario_in_both_languages():
    runner = CliRunner()
    english = runner.invoke(main, ["scenario", "show", "legacy-api-retired"])
    assert english.exit_code == 0
    assert english.output.startswith("legacy-api-retired — ")
    assert "  symptom: " in english.output and "  rule old-paths-gone: gone" in english.output
    polish = runner.invoke(main, ["scenario", "show", "legacy-api-retired", "--lang", "pl"])
    assert "Ścieżki KSeF 1.0 zostały wyłączone." in polish.output
    source = runner.invoke(main, ["scenario", "show", "legacy-api-retired", "--yaml"])
    assert source.output.startswith("name: legacy-api-retired\n")
    missing = runner.invoke(main, ["scenario", "show", "nope-nope"])
    assert missing.exit_code == 2 and "no such scenario" in missing.output


def test_validate_files_and_the_catalogue(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nrules:\n  - then: {pass: true}\n", encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nrules:\n  - when: {nth: 0}\n    then: {pass: true}\n", encoding="utf-8"
    )
    runner = CliRunner()
    ok = runner.invoke(main, ["scenario", "validate", str(good)])
    assert ok.exit_code == 0 and ok.output == f"ok  {good} (good, 1 rules)\n"
    failed = runner.invoke(main, ["scenario", "validate", str(good), str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:3: /rules/0/when/nth: " in failed.output
    assert "1 of 2 invalid" in failed.output
    catalogue = runner.invoke(main, ["scenario", "validate"])
    assert catalogue.exit_code == 0, catalogue.output
    assert len(catalogue.output.splitlines()) == len(catalogue_names())


def test_serve_refuses_an_invalid_scenario(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules: 5\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", "--scenario", str(bad), "--port", "1"])
    assert result.exit_code == 2
    assert f"{bad}:2: /rules: 5 is not of type 'array'" in result.output


@pytest.mark.server
def test_serve_activates_scenarios_at_start(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "name: extra\nseed: 9\nrules:\n  - {when: {operation: tokens.list}, then: {maintenance: {retry_after: 60}}}\n",
        encoding="utf-8",
    )
    with mockksef_serve(
        "--scenario", "legacy-api-retired", "--scenario", str(extra), "--clock", "virtual"
    ) as served:
        base = served.base
        listing = httpx.get(f"{base}/_mock/scenarios").json()
        assert listing["active"] == ["legacy-api-retired", "extra"]
        assert httpx.get(f"{base}/v2/tokens").status_code == 503
        assert httpx.post(f"{base}/api/online/Session/AuthorisationChallenge").status_code == 410
        with pytest.raises(httpx.ReadError):
            httpx.post(f"{base}/v2/auth/challenge", headers={"Host": "ksef-test.mf.gov.pl"})
        journal = httpx.get(f"{base}/_mock/journal", params={"fired": "true"}).json()["entries"]
        assert [e["rule"] for e in journal] == [
            "extra/rule-1",
            "legacy-api-retired/old-paths-gone",
            "legacy-api-retired/old-host-refused",
        ]
    output = served.output
    assert "scenario: legacy-api-retired" in output and "scenario: extra" in output
