"""``ksefclient import-new`` as integrators run it: many invoices, rate limits, interruptions."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from ksefclient import RetryPolicy
from ksefclient._cli import main
from mockksef import MockConfig, MockState, create_app
from mockksef.scenarios import resolve
from tests.conftest import mockksef_serve

BIN = Path(sys.executable).parent
NIP = "5265877635"


def _token(scenario: str) -> str:
    return str(resolve(scenario).setup["tokens"][0]["value"])


def _import_new(base: str, token: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ksefclient"), "--base-url", base, "import-new"]
        + ["--checkpoint", str(folder / "checkpoint.json"), "--out", str(folder / "xml")],
        env={**os.environ, "KSEF_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.server
def test_import_new_fetches_the_whole_small_dataset_then_nothing(tmp_path: Path) -> None:
    # Default rate limits: 150 invoices are more than the hour's 64 downloads.
    with mockksef_serve("--scenario", "dataset-small") as served:
        first = _import_new(served.base + "/v2", _token("dataset-small"), tmp_path)
        assert first.returncode == 0, first.stderr
        files = sorted((tmp_path / "xml").glob("*.xml"))
        assert len(files) == 150
        summary = json.loads(first.stdout.splitlines()[-1])
        assert summary["imported"] == 150 and summary["complete"] is True
        assert set(summary["checkpoint"]["checkpoints"]) == {"Subject1", "Subject2"}
        second = _import_new(served.base + "/v2", _token("dataset-small"), tmp_path)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout.splitlines()[-1])["imported"] == 0
        assert sorted((tmp_path / "xml").glob("*.xml")) == files
        journal = httpx.get(f"{served.base}/_mock/journal?operation=invoices.*", timeout=10)
    used = [e["operation"] for e in journal.json()["entries"]]
    # One export per subject type instead of 150 downloads; nothing refused.
    assert used.count("invoices.export") == 2 and "invoices.download" not in used
    assert all(e["status"] < 400 for e in journal.json()["entries"])


def test_a_rate_limit_beyond_the_wait_keeps_every_invoice_stored_so_far(
    spec, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # The hour's download budget is spent 1 invoice in; KSeF asks for 120 s, more than we wait.
    state = MockState(MockConfig(seed=5, clock_mode="virtual"), spec=spec)
    state.scenarios.activate("rate-limit-invoices", clock="virtual")
    argv = ["--base-url", "http://testserver/v2", "--token", _token("rate-limit-invoices")]
    argv += ["import-new", "--subject-type", "Subject1", "--since", "2026-02-01T00:00:00Z"]
    argv += ["--checkpoint", str(tmp_path / "checkpoint.json"), "--out", str(tmp_path / "xml")]

    def run(retry: RetryPolicy) -> tuple[int, list[dict[str, object]], str]:
        out, err = io.StringIO(), io.StringIO()
        with TestClient(create_app(state=state)) as http:
            code = main(
                argv,
                stdout=out,
                stderr=err,
                http_client=http,
                clock=state.clock.timestamp,
                sleep=state.clock.advance,
                retry=retry,
            )
        return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()

    code, lines, error = run(RetryPolicy(max_retry_after=60))
    assert code == 3
    assert (
        error == "ksefclient: KSeF's rate limit: it asks to wait 120 s (HTTP 429); run again then\n"
    )
    assert lines[-1]["imported"] == 1 and lines[-1]["complete"] is False
    stored = {p.stem for p in (tmp_path / "xml").glob("*.xml")}
    assert stored == {lines[0]["ksefNumber"]}
    saved = json.loads((tmp_path / "checkpoint.json").read_text())["checkpoints"]["Subject1"]
    assert saved["boundary"] == [lines[0]["ksefNumber"]]

    state.clock.advance(300)  # past the scenario's window: the budget is back
    # Downloads paced within 8 a second and 16 a minute: no 429, no escalating block.
    code, lines, error = run(RetryPolicy())
    assert code == 0, error
    again = [line["ksefNumber"] for line in lines if "ksefNumber" in line]
    assert lines[-1]["imported"] == len(again) > 0 and lines[0]["ksefNumber"] not in stored
    assert {p.stem for p in (tmp_path / "xml").glob("*.xml")} == stored | set(again)
    last = run(RetryPolicy())[1][-1]
    assert (last["imported"], last["complete"]) == (0, True)
    refused = state.journal.entries(kind="request", operation="invoices.download", status=429)
    assert [e["rule"] for e in refused] == ["rate-limit-invoices/download-429"]
