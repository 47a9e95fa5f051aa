"""The look-up (``mockksef.explain``) and its command-line twin ``mockksef explain``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mockksef.cli import main
from mockksef.errors import CATALOGUE
from mockksef.explain import Explainer, catalogue, explain, fold, format_text, word_match
from mockksef.scenarios import Scenario


def codes(text: str) -> list[tuple[str, str]]:
    return [(h.entry.kind, h.entry.code) for h in explain(text).codes]


def scenarios(text: str) -> list[str]:
    return [h.name for h in explain(text).scenarios]


@pytest.mark.parametrize(
    ("pasted", "kind", "code", "scenario"),
    [
        ("21180", "exception", "21180", None),
        ("21418", "exception", "21418", None),
        ("Nieautoryzowany dostęp", "http", "401", "token-unauthorized"),
        ("Too many requests", "http", "429", "rate-limit-invoices"),
        ("Dostęp zabroniony", "http", "403", "token-write-only"),
        ("Zbyt wiele żądań", "http", "429", "rate-limit-invoices"),
        ("KSeF2 GetInvoicesAsync – Dostęp zabroniony", "http", "403", "token-write-only"),
        ("HTTP 401", "http", "401", "token-unauthorized"),
        ("Token unieważniony", "auth-status", "450", "token-unauthorized"),
        ("Duplikat faktury", "invoice-status", "440", "invoice-rejections"),
        ("503 prace serwisowe", "http", "503", "challenge-unavailable"),
    ],
)
def test_what_support_pastes_finds_the_code_and_the_scenario(pasted, kind, code, scenario):
    result = explain(pasted)
    assert (kind, code) == (result.codes[0].entry.kind, result.codes[0].entry.code)
    if scenario is not None:
        assert scenario in [h.name for h in result.scenarios[:3]]


def test_an_exception_code_comes_with_its_official_text():
    hit = explain("Dostałem błąd 21418 przy pobieraniu").codes[0]
    assert hit.entry.polish == CATALOGUE[21418].description
    assert hit.entry.english == CATALOGUE[21418].english
    # A bare exception code does not drag in every scenario that answers some 400.
    assert explain("21180").scenarios == ()


def test_diacritics_inflection_and_typos_are_forgiven():
    assert fold("Zbyt wiele żądań, Łódź") == "zbyt wiele zadan, lodz"
    assert word_match("zadan", "zadania") and word_match("uprawnien", "uprawnienia")
    assert not word_match("konto", "kontekst")
    assert codes("dostep zabronony")[0] == ("http", "403")
    assert codes("ZBYT WIELE ZADAN")[0] == ("http", "429")


def test_a_pasted_problem_json_finds_the_reason_code_and_the_scenario():
    body = json.dumps(
        {
            "title": "Forbidden",
            "status": 403,
            "detail": "Brak wymaganych uprawnień do wykonania operacji w bieżącym kontekście.",
            "instance": "/v2/invoices/query/metadata",
            "reasonCode": "missing-permissions",
            "security": {"requiredAnyOfPermissions": ["InvoiceRead"]},
            "traceId": "4f1e2d3c4b5a69788796a5b4c3d2e1f0",
        },
        ensure_ascii=False,
    )
    result = explain(body)
    assert result.codes[0].entry.code == "missing-permissions"
    assert ("http", "403") in [(h.entry.kind, h.entry.code) for h in result.codes]
    assert result.scenarios[0].name == "token-write-only"


def test_a_full_official_text_finds_its_code():
    assert codes("Status sesji nie pozwala na wykonanie operacji.")[0] == ("exception", "21180")


def test_noise_matches_nothing():
    assert not explain("blah foo 2026 4f1e2d3c4b5a")
    assert not explain("   ")


def test_the_catalogue_scenarios_all_take_part():
    names = {s.name for s in catalogue()}
    assert {"token-write-only", "rate-limit-invoices", "token-unauthorized"} <= names


def test_an_explainer_over_custom_scenarios_finds_their_explain_block():
    custom = Scenario.from_dict(
        {
            "name": "printer-on-fire",
            "tags": ["hardware"],
            "rules": [],
            "explain": {
                "pl": {"symptom": "Drukarka faktur płonie", "cause": "Toner", "fix": "Gaśnica"},
                "en": {
                    "symptom": "The invoice printer is on fire",
                    "cause": "Toner",
                    "fix": "Extinguisher",
                },
            },
        }
    )
    result = Explainer([custom]).explain("drukarka płonie")
    assert [h.name for h in result.scenarios] == ["printer-on-fire"]


def test_text_report_in_both_languages():
    pl = format_text(explain("Zbyt wiele żądań"), "pl")
    assert "429" in pl and "Przyczyna:" in pl and "rate-limit-invoices" in pl
    en = format_text(explain("Zbyt wiele żądań"), "en")
    assert "Cause:" in en and "Too Many Requests" in en
    assert "Brak dopasowań" in format_text(explain("zzz"), "pl")


def test_cli_explain_prints_codes_scenarios_causes_and_fixes():
    runner = CliRunner()
    result = runner.invoke(main, ["explain", "Dostęp", "zabroniony"])
    assert result.exit_code == 0, result.output
    assert "403" in result.output
    assert "token-write-only" in result.output
    assert "Rozwiązanie:" in result.output
    as_json = runner.invoke(main, ["explain", "--json", "21418"])
    assert json.loads(as_json.output)["codes"][0]["code"] == "21418"
    missing = runner.invoke(main, ["explain", "--lang", "en", "qwertyuiop"])
    assert missing.exit_code == 1 and "No code or scenario matches" in missing.output
