"""The console's pages over HTTP (in-process): every view, its forms, streams and exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mockksef import MockState

CONSOLE = "/_mock/console"


@pytest.fixture
def web(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def events(text: str) -> list[tuple[str, dict]]:
    """(event, data) of a Server-Sent Events body."""
    out = []
    for block in text.split("\n\n"):
        name = re.search(r"^event: (.+)$", block, re.M)
        data = re.search(r"^data: (.+)$", block, re.M)
        if name and data:
            out.append((name.group(1), json.loads(data.group(1))))
    return out


def test_the_bare_root_points_at_the_console_and_every_view_answers(web: TestClient):
    answer = web.get("/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == CONSOLE + "/"
    for path in ("/", "/environments", "/journal", "/drills", "/scenarios/token-write-only"):
        page = web.get(CONSOLE + path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="pl">' in page.text
    assert web.get(CONSOLE + "/static/console.js").status_code == 200
    assert web.get(CONSOLE + "/scenarios/no-such-thing").status_code == 404


def test_polish_by_default_english_on_a_switch_that_is_remembered(web: TestClient):
    assert "Katalog i wyszukiwarka" in web.get(CONSOLE + "/").text
    english = web.get(CONSOLE + "/?lang=en")
    assert "Catalogue &amp; look-up" in english.text
    assert "Catalogue &amp; look-up" in web.get(CONSOLE + "/journal").text  # the cookie
    assert "Dziennik żądań na żywo" in web.get(CONSOLE + "/journal?lang=pl").text


def test_look_up_by_a_pasted_message_shows_codes_and_scenarios(web: TestClient):
    page = web.get(CONSOLE + "/", params={"q": "KSeF2 GetInvoicesAsync – Dostęp zabroniony"})
    assert 'data-kind="http" data-code="403"' in page.text
    assert 'data-scenario="token-write-only"' in page.text
    assert "InvoiceRead" in page.text  # the fix, in the scenario card
    api = web.get(CONSOLE + "/api/explain", params={"q": "21418"}).json()
    assert api["codes"][0]["code"] == "21418"
    assert api["codes"][0]["polish"] == "Przekazany token kontynuacji ma nieprawidłowy format."
    assert "Brak dopasowań" in web.get(CONSOLE + "/", params={"q": "qwertyuiop"}).text


def test_catalogue_lists_every_scenario_with_its_explanation(web: TestClient):
    page = web.get(CONSOLE + "/").text
    from mockksef.explain import catalogue

    for scenario in catalogue():
        assert f'id="scenario-{scenario.name}"' in page
    detail = web.get(CONSOLE + "/scenarios/rate-limit-invoices?lang=en").text
    assert "Honour Retry-After" in detail and "name: rate-limit-invoices" in detail
    # The setup's KSeF token keeps its public part; the secret is masked.
    assert "20260220-EC-3BF3F51D5D-D279607668-D6|nip-5265877635|dc231d…[masked, 64]" in detail
    assert "dc231d3b1a9cd698" not in detail


def test_activate_and_deactivate_a_catalogue_scenario_on_an_environment(
    web: TestClient, mock: MockState
):
    answer = web.post(CONSOLE + "/environments/test/activate", data={"name": "token-write-only"})
    assert answer.status_code == 200 and "Włączono scenariusz token-write-only." in answer.text
    assert mock.scenarios.active == ["token-write-only"]
    assert mock.scenarios.describe("token-write-only")["environments"] == ["test"]
    page = web.get(CONSOLE + "/environments").text
    env_test = page[page.index('id="env-test"') : page.index('id="env-demo"')]
    assert 'data-scenario="token-write-only"' in env_test
    assert '<td class="count-invoices">40</td>' in env_test  # the scenario's setup
    web.post(CONSOLE + "/scenarios-active/deactivate", data={"name": "token-write-only"})
    assert mock.scenarios.active == []
    # A scenario bound to other environments says so instead of running where it cannot.
    refused = web.post(
        CONSOLE + "/environments/test/activate", data={"name": "demo-reset-overnight"}
    )
    assert refused.status_code == 400 and "runs on demo, not test" in refused.text


def test_uploaded_yaml_is_validated_and_errors_shown_at_their_line(
    web: TestClient, mock: MockState
):
    bad = "name: broken\nrules:\n  - name: r1\n    when: {operation: auth.challenge}\n    then: {respond: 999}\n"
    answer = web.post(CONSOLE + "/environments/demo/activate", data={"yaml": bad})
    assert answer.status_code == 400
    assert 'id="problems"' in answer.text
    assert re.search(r'id="yaml-line-5" class="bad"', answer.text)
    assert mock.scenarios.active == []
    good = (
        "name: custom-502\nrules:\n  - name: down\n    when: {operation: auth.challenge}\n"
        "    then: {server_error: {status: 502}}\n"
    )
    answer = web.post(CONSOLE + "/environments/demo/activate", data={"yaml": good})
    assert answer.status_code == 200, answer.text
    assert mock.scenarios.describe("custom-502")["environments"] == ["demo"]
    assert web.post("/demo/v2/auth/challenge").status_code == 502
    assert web.post("/test/v2/auth/challenge").status_code == 200


def test_clock_and_reset_forms(web: TestClient, mock: MockState):
    before = mock.clock.now()
    web.post(CONSOLE + "/clock", data={"advance": "2h"})
    assert (mock.clock.now() - before).total_seconds() == 7200
    web.post(CONSOLE + "/clock", data={"set": "2026-05-01T08:30"})
    assert mock.clock.now().isoformat().startswith("2026-05-01T08:30")
    assert web.post(CONSOLE + "/clock", data={"advance": "soon"}).status_code == 400
    generation = mock.env("prod").generation
    page = web.post(CONSOLE + "/environments/prod/reset")
    assert "Wyczyszczono dane środowiska PROD." in page.text
    assert mock.env("prod").generation == generation + 1
    assert web.post(CONSOLE + "/environments/nowhere/reset").status_code == 404


def test_journal_stream_and_detail_with_secrets_masked(web: TestClient, mock: MockState):
    web.post(CONSOLE + "/journal/capture", data={"on": "1"})
    challenge = web.post("/v2/auth/challenge")
    assert challenge.status_code == 200
    web.get(
        "/v2/tokens",
        headers={
            "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4eHh4eHgifQ.c2lnbmF0dXJl"
        },
    )
    body = web.get(CONSOLE + "/journal/stream", params={"lifetime": 0, "since": 0}).text
    entries = [data for name, data in events(body) if name == "entry"]
    paths = [(e["method"], e["path"], e["status"]) for e in entries]
    assert ("POST", "/v2/auth/challenge", 200) in paths and ("GET", "/v2/tokens", 401) in paths
    failed = next(e for e in entries if e["status"] == 401)
    assert (
        failed["failed"]
        and failed["lookup"] == "401"
        and failed["statusText"] == "Brak uwierzytelnienia"
    )

    detail = web.get(f"{CONSOLE}/journal/{failed['seq']}").json()
    headers = dict(detail["exchange"]["request"]["headers"])
    assert headers["authorization"].startswith("Bearer eyJhbG…[masked")
    assert "c2lnbmF0dXJl" not in json.dumps(detail)
    assert detail["lookup"] == f"{CONSOLE}/?q=401"
    assert json.loads(detail["exchange"]["response"]["body"])["status"] == 401
    ok = web.get(f"{CONSOLE}/journal/{entries[0]['seq']}").json()
    assert ok["exchange"]["response"]["status"] == 200
    assert web.get(f"{CONSOLE}/journal/99999").status_code == 404

    # Filters: environment, status class, NIP; Last-Event-ID resumes after the last one seen.
    errors_only = web.get(
        CONSOLE + "/journal/stream", params={"lifetime": 0, "since": 0, "status": "err"}
    ).text
    assert {e["status"] for n, e in events(errors_only) if n == "entry"} == {401}
    resumed = web.get(
        CONSOLE + "/journal/stream",
        params={"lifetime": 0},
        headers={"Last-Event-ID": str(failed["seq"])},
    ).text
    assert [e for n, e in events(resumed) if n == "entry"] == []


def test_capture_is_off_until_switched_on(web: TestClient):
    web.post("/v2/auth/challenge")
    entry = [
        e
        for n, e in events(web.get(CONSOLE + "/journal/stream", params={"lifetime": 0}).text)
        if n == "entry"
    ][-1]
    assert web.get(f"{CONSOLE}/journal/{entry['seq']}").json()["exchange"] is None
    assert "Zapis treści wyłączony" in web.get(CONSOLE + "/journal").text


def test_a_whole_drill_over_http(web: TestClient, mock: MockState):
    started = web.post(
        CONSOLE + "/drills",
        data={"title": "Szkolenie", "scenario": ["token-write-only"], "seed": "9"},
        follow_redirects=False,
    )
    assert started.status_code == 303 and started.headers["location"] == f"{CONSOLE}/drills/d1"
    trainer = web.get(CONSOLE + "/drills/d1").text
    assert "token-write-only" in trainer and f"{CONSOLE}/drills/d1/play" in trainer
    # Trainees never see the hidden scenario's name, not even in the journal.
    assert "hidden (drill d1)" in web.get(CONSOLE + "/environments?lang=en").text
    stream = web.get(CONSOLE + "/drills/d1/stream", params={"lifetime": 0}).text
    assert "token-write-only" not in stream

    messages = [
        d["text"]
        for n, d in events(web.get(CONSOLE + "/drills/d1/stream", params={"lifetime": 0.5}).text)
        if n == "message"
    ]
    assert any("HTTP 403 Forbidden" in m for m in messages), messages  # English: the cookie

    join = web.get(CONSOLE + "/drills/d1/play").text
    assert 'id="join-form"' in join
    play = web.get(CONSOLE + "/drills/d1/play", params={"name": "Ola"}).text
    letters = re.findall(r'name="cause-1" value="([A-H])"', play)
    assert letters == ["A", "B", "C", "D"]
    assert "token-write-only" not in play
    question = web.app.state.console.drills.get("d1").questions[0]
    answer = web.post(
        CONSOLE + "/drills/d1/answer",
        data={"name": "Ola", "cause-1": question.right_cause, "fix-1": question.right_fix},
    )
    assert answer.status_code == 200 and 'id="score">2/2</span>' in answer.text
    assert "InvoiceRead" in answer.text  # the explanation
    again = web.post(
        CONSOLE + "/drills/d1/answer", data={"name": "ola", "cause-1": "A", "fix-1": "A"}
    )
    assert again.status_code == 400 and "already answered" in again.text

    exported = web.get(CONSOLE + "/drills/d1/results.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[1].startswith("Ola,")
    printable = web.get(CONSOLE + "/drills/d1/print").text
    assert "Ola" in printable and "token-write-only" in printable

    web.post(CONSOLE + "/drills/d1/finish")
    assert mock.scenarios.active == []
    assert web.get(CONSOLE + "/drills/d9").status_code == 404
    refused = web.post(CONSOLE + "/drills", data={"title": "empty"})
    assert refused.status_code == 400 and "choose at least one scenario" in refused.text


def test_behind_the_admin_guard_a_token_opened_once_serves_every_page():
    from mockksef import MockConfig, create_app

    token = "class-of-monday-0123456789abcdef"
    app = create_app(MockConfig(seed=1, clock_mode="virtual", admin_token=token))
    with TestClient(app, base_url="http://testserver") as browser:
        assert browser.get(CONSOLE + "/").status_code == 401
        opened = browser.get(CONSOLE + f"/journal?token={token}", follow_redirects=False)
        assert opened.status_code == 303 and "token" not in opened.headers["location"]
        # The guard's cookie does the rest: pages, forms, streams; links carry no token.
        page = browser.get(CONSOLE + "/journal")
        assert page.status_code == 200 and token not in page.text
        activated = browser.post(
            CONSOLE + "/environments/test/activate", data={"name": "token-write-only"}
        )
        assert activated.status_code == 200
        assert browser.get(CONSOLE + "/journal/stream", params={"lifetime": 0}).status_code == 200


def test_a_huge_or_garbled_form_and_a_huge_clock_step_answer_4xx_not_500(web: TestClient):
    huge = web.post(CONSOLE + "/environments/demo/activate", data={"yaml": "x" * 300_000})
    assert huge.status_code == 413 and "form too large" in huge.text
    assert web.post(CONSOLE + "/drills", data={"title": "x" * 300_000}).status_code == 413
    garbled = web.post(
        CONSOLE + "/environments/demo/activate",
        content=b"yaml=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert garbled.status_code == 400 and "not UTF-8" in garbled.text
    assert web.post(CONSOLE + "/clock", data={"advance": "99999999999d"}).status_code == 400


@pytest.mark.parametrize(
    "asked, expected", [("nan", 20.0), ("inf", 20.0), ("-1", 0.0), ("x", 20.0)]
)
def test_a_stream_lifetime_is_always_bounded(asked: str, expected: float):
    from starlette.requests import Request

    from mockksef.console.routes import STREAM_SECONDS, _lifetime

    request = Request({"type": "http", "query_string": f"lifetime={asked}".encode()})
    assert _lifetime(request) == min(expected, STREAM_SECONDS)
