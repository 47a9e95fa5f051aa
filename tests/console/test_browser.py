"""The console in a real browser (Chromium via Playwright) against a real server."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest

from mockksef import MockState
from mockksef.server import ThreadedServer
from tests.console.conftest import need_a_browser

pytestmark = pytest.mark.server

Server = tuple[ThreadedServer, MockState]


def test_look_up_a_pasted_error_message(page: Any, console_server: Server) -> None:
    server, _ = console_server
    page.goto(server.url + "/")  # the bare root leads to the console
    assert page.url.endswith("/_mock/console/")
    page.fill("#lookup-q", "KSeF2 GetInvoicesAsync – Dostęp zabroniony")
    page.click("#lookup-go")
    hit = page.locator('tr.code-hit[data-kind="http"][data-code="403"]')
    assert "Dostęp zabroniony" in hit.inner_text()
    card = page.locator('article.scenario-hit[data-scenario="token-write-only"]')
    assert "InvoiceRead" in card.locator("dd.fix").inner_text()
    # The English switch shows the same answer in English.
    page.click("#lang-en")
    assert "Forbidden" in page.locator('tr.code-hit[data-code="403"]').inner_text()
    assert "Generate a new token" in card.locator("dd.fix").inner_text()


def test_activate_a_scenario_and_see_a_yaml_error_at_its_line(
    page: Any, console_server: Server
) -> None:
    server, state = console_server
    page.goto(server.url + "/_mock/console/environments")
    page.select_option("#activate-test", "token-write-only")
    page.click("#activate-test-go")
    assert "token-write-only" in page.inner_text("#notice")
    assert page.locator(
        '#env-test li.active-scenario[data-scenario="token-write-only"]'
    ).is_visible()
    assert page.inner_text("#env-test .count-invoices") == "40"
    assert state.scenarios.active == ["token-write-only"]

    page.click("#env-demo details.upload summary")
    page.fill(
        "#yaml-demo",
        "name: broken\nrules:\n  - name: r\n    when: {operation: nope.nope}\n    then: {pass: true}\n",
    )
    page.click("#upload-demo-go")
    assert page.locator("#problems").is_visible()
    assert page.locator("#yaml-line-4.bad").is_visible()
    assert state.scenarios.active == ["token-write-only"]


def test_a_client_request_appears_in_the_live_journal_within_a_second(
    page: Any, console_server: Server
) -> None:
    server, _ = console_server
    page.goto(server.url + "/_mock/console/journal")
    page.click("#capture-toggle")  # show headers and bodies on click
    page.wait_for_selector("body[data-live='1']")
    with httpx.Client(base_url=server.url) as client:
        sent = time.monotonic()
        assert (
            client.get(
                "/v2/tokens",
                headers={
                    "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJ4IjoieHh4eHgifQ.c2lnbmF0dXJl"
                },
            ).status_code
            == 401
        )
    row = page.wait_for_selector('tr.entry[data-path="/v2/tokens"]', timeout=1000)
    seen = time.monotonic() - sent
    assert seen < 1.0, f"the entry took {seen:.2f} s"
    assert "401" in row.inner_text() and "Brak uwierzytelnienia" in row.inner_text()
    row.click()
    page.wait_for_selector("#detail[open]")
    request_headers = page.inner_text("#detail-request-headers")
    assert "Bearer eyJhbG…[masked" in request_headers and "c2lnbmF0dXJl" not in request_headers
    assert '"status": 401' in page.inner_text("#detail-response-body")


def test_a_whole_drill_from_start_to_score_and_export(
    page: Any, browser: Any, console_server: Server
) -> None:
    server, state = console_server
    page.goto(server.url + "/_mock/console/drills")
    page.fill("#drill-title", "Poniedziałek: wsparcie KSeF")
    page.check("#pick-token-write-only")
    page.click("#drill-start")
    page.wait_for_url("**/_mock/console/drills/d1")
    page.wait_for_selector("#connector li.level-error")
    assert "Dostęp zabroniony" in page.inner_text("#connector")
    question = server.app.state.console.drills.get("d1").questions[0]

    trainees = browser.new_context(locale="pl-PL")
    try:
        for name, right in (("Ala Kowalska", True), ("Jan Nowak", False)):
            trainee = trainees.new_page()
            trainee.goto(page.inner_text("#trainee-link"))
            trainee.fill("#trainee-name", name)
            trainee.click("#join")
            trainee.wait_for_selector("#connector li.level-error")
            assert "token-write-only" not in trainee.content()  # hidden until the end
            cause = (
                question.right_cause
                if right
                else next(c.letter for c in question.causes if c.letter != question.right_cause)
            )
            trainee.check(f'input[name="cause-1"][value="{cause}"]')
            trainee.check(f'input[name="fix-1"][value="{question.right_fix}"]')
            trainee.click("#send-answer")
            assert trainee.inner_text("#score") == ("2/2" if right else "1/2")
            assert "InvoiceRead" in trainee.inner_text("#result")  # the explanation
    finally:
        trainees.close()

    page.wait_for_function("document.querySelectorAll('#answers tbody tr').length === 2")
    assert "Ala Kowalska" in page.inner_text("#answers")
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [r[0] for r in rows[1:]] == ["Ala Kowalska", "Jan Nowak"]
    assert [r[2] for r in rows[1:]] == ["2", "1"]
    page.click("#print")
    assert "Jan Nowak" in page.inner_text("#print-answers")
    page.go_back()
    page.click("#finish")
    page.wait_for_selector("#drill-status.finished")
    assert state.scenarios.active == []


def test_the_screenshot_script_photographs_every_view(browser: Any, tmp_path: Any) -> None:
    shots = need_a_browser().take(tmp_path, browser)
    names = sorted(p.name for p in shots)
    assert names == sorted(
        f"console-{n}.png"
        for n in (
            "lookup",
            "environments",
            "journal",
            "journal-detail",
            "drill-trainee",
            "drill-score",
            "drill-trainer",
        )
    )
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
