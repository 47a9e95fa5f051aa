"""``mockksef contract``: against a URL (the mock on a 127.0.0.1 socket), three report formats, exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from mockksef import create_app
from mockksef.cli import main
from mockksef.server import ThreadedServer
from tests.contracts.conftest import NIP, mock_state
from tests.contracts.faulty import Answer, Rewrite, json_body, on_path


@pytest.fixture
def mock_server(spec):  # type: ignore[no-untyped-def]
    with ThreadedServer(create_app(state=mock_state(spec)), host="127.0.0.1") as srv:
        yield srv


def contract(base_url: str, options: str, junit: Path, report: Path) -> Any:
    """``mockksef contract`` against ``base_url`` with ``options``, writing both reports."""
    return CliRunner().invoke(
        main,
        ["contract", "--base-url", base_url, *options.split()]
        + ["--junit", str(junit), "--json", str(report)],
    )


@pytest.mark.server
def test_contract_passes_against_the_mock_and_writes_three_reports(mock_server, tmp_path):
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    result = contract(
        f"{mock_server.url}/v2",
        f"--self-signed-nip {NIP} --examples 2 --operation certificates --operation tokens.list",
        junit,
        report,
    )
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output and "GET /certificates/limits" in result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["ok"] is True and data["base_url"] == f"{mock_server.url}/v2"
    assert {o["id"] for o in data["operations"]} >= {"certificates.query", "tokens.list"}
    assert data["flows"][0]["name"] == "auth" and not data["flows"][0]["failures"]
    suites = ET.parse(junit).getroot()
    assert suites.tag == "testsuites" and suites.get("failures") == "0"
    names = [case.get("name") for case in suites.iter("testcase")]
    assert "GET /tokens [positive]" in names and "auth" in names


@pytest.mark.server
def test_contract_fails_with_exit_code_1_against_a_broken_server(spec, tmp_path):
    state = mock_state(spec)

    def undeclared(answer: Answer) -> Answer:
        answer.status = 202
        return answer

    app = Rewrite(create_app(state=state), response=on_path("/auth/challenge", undeclared))
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    with ThreadedServer(app, host="127.0.0.1") as srv:  # type: ignore[arg-type]
        result = contract(
            f"{srv.url}/v2",
            "--operation auth.challenge --no-flows --examples 2 --problem-details",
            junit,
            report,
        )
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "status_code_conformance" in result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["ok"] is False and data["error_format"] == "problem-details"
    assert data["summary"]["failures"] >= 1
    failing = [
        c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None
    ]
    assert [c.get("name") for c in failing] == ["POST /auth/challenge [positive]"]


@pytest.mark.server
def test_known_deviations_can_be_tolerated(spec):  # type: ignore[no-untyped-def]
    def wrong_code(body):  # type: ignore[no-untyped-def]
        for entry in (body.get("exception") or {}).get("exceptionDetailList") or []:
            entry["exceptionCode"] = 21164
        for entry in body.get("errors") or []:
            entry["code"] = 21164
        return body

    app = Rewrite(
        create_app(state=mock_state(spec)),
        response=on_path("/testdata/subject", json_body(wrong_code)),
    )
    args = ["--operation", "testdata.create_subject", "--no-flows", "--examples", "2"]
    with ThreadedServer(app, host="127.0.0.1") as srv:  # type: ignore[arg-type]
        base = ["contract", "--base-url", f"{srv.url}/v2", *args]
        strict = CliRunner().invoke(main, base)
        tolerant = CliRunner().invoke(main, [*base, "--tolerate", "testdata.create_subject=21164"])
    assert strict.exit_code == 1 and "documented_exception_codes" in strict.output
    assert tolerant.exit_code == 0, tolerant.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "x"], "--nip"),
        (["--token", "x", "--nip", NIP, "--self-signed-nip", NIP], "one of"),
        (["--operation", "nope.nothing"], "unknown operation"),
        (["--tolerate", "auth.challenge=x"], "OPERATION=CODE"),
    ],
)
def test_contract_usage_errors_exit_2(args, message, mock_server):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["contract", "--base-url", f"{mock_server.url}/v2", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_contract_against_an_unreachable_address_exits_2():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(main, ["contract", "--base-url", f"http://127.0.0.1:{port}/v2"])
    assert result.exit_code == 2
    assert "cannot reach" in result.output


@pytest.mark.parametrize(
    ("url", "args", "message"),
    [
        ("https://api.ksef.mf.gov.pl/v2", [], "production"),
        ("https://api-demo.ksef.mf.gov.pl/v2", ["--self-signed-nip", NIP], "TEST only"),
    ],
)
def test_contract_refuses_before_any_request(url, args, message, monkeypatch):  # type: ignore[no-untyped-def]
    import httpx

    def no_network(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("no request may be sent")

    monkeypatch.setattr(httpx.Client, "send", no_network)
    result = CliRunner().invoke(main, ["contract", "--base-url", url, *args])
    assert result.exit_code == 2
    assert message in result.output


def _harness_without(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next ``import ksefcontract.harness`` runs afresh and finds ``module`` missing."""
    import sys

    monkeypatch.delitem(sys.modules, "ksefcontract.harness")
    monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("missing", ["hypothesis", "schemathesis"])
def test_contract_without_the_extra_names_the_pip_command(missing, monkeypatch):  # type: ignore[no-untyped-def]
    _harness_without(missing, monkeypatch)
    result = CliRunner().invoke(main, ["contract", "--base-url", "http://127.0.0.1:9/v2"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"mockksef contract needs the contract extra (no module {missing!r}): "
        "pip install 'mockksef[contract]'"
    ]


def test_contract_does_not_hide_a_broken_install_behind_the_hint(monkeypatch):  # type: ignore[no-untyped-def]
    _harness_without("ksefcontract.checks", monkeypatch)
    result = CliRunner().invoke(main, ["contract", "--base-url", "http://127.0.0.1:9/v2"])
    assert isinstance(result.exception, ModuleNotFoundError)
    assert "pip install" not in result.output
