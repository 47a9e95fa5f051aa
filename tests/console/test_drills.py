"""The drill domain (``mockksef.console.drills``): questions, the connector's day, scores, CSV."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from mockksef import MockState
from mockksef.console import connector
from mockksef.console.drills import DrillBook, DrillError, Pick, build_questions
from mockksef.explain import catalogue
from mockksef.scenarios import resolve


@pytest.fixture
def book(mock: MockState, app) -> DrillBook:  # type: ignore[no-untyped-def]
    return DrillBook(mock, app)


def test_questions_hold_the_right_cause_and_fix_among_seeded_distractors():
    scenario = resolve("token-write-only")
    first = build_questions([scenario], catalogue(), seed=5)
    again = build_questions([scenario], catalogue(), seed=5)
    other = build_questions([scenario], catalogue(), seed=6)
    assert first == again  # same seed, same choices in the same order
    assert first != other
    (question,) = first
    assert [c.letter for c in question.causes] == ["A", "B", "C", "D"]
    right = question.choice("causes", question.right_cause)
    assert right is not None and right.scenario == "token-write-only"
    assert "InvoiceWrite" in right.text("en")
    distractors = {c.scenario for c in question.causes} - {"token-write-only"}
    assert len(distractors) == 3
    # Datasets explain nothing that fails: never a distractor.
    assert not any(resolve(name).tags and "dataset" in resolve(name).tags for name in distractors)


def test_two_hidden_scenarios_make_two_questions_without_each_other_as_distractors():
    chosen = [resolve("token-write-only"), resolve("rate-limit-invoices")]
    questions = build_questions(chosen, catalogue(), seed=1, distractors=2)
    assert [q.scenario for q in questions] == ["token-write-only", "rate-limit-invoices"]
    for q in questions:
        assert len(q.causes) == 3
        others = {c.scenario for c in q.causes + q.fixes} - {q.scenario}
        assert not others & {"token-write-only", "rate-limit-invoices"}


def test_a_scenario_without_cause_and_fix_cannot_be_drilled(book: DrillBook):
    bare = resolve("token-write-only").__class__.from_dict({"name": "bare", "rules": []})
    with pytest.raises(DrillError, match="no explain block"):
        book.start([bare], pool=catalogue())
    with pytest.raises(DrillError, match="at least one"):
        book.start([], pool=catalogue())


def test_a_drill_hides_its_scenarios_runs_the_connector_and_scores(
    mock: MockState, book: DrillBook
):
    drill = book.start(
        [resolve("token-write-only")], pool=catalogue(), title="Poniedziałek", seed=3
    )
    assert mock.scenarios.active == ["token-write-only"]
    assert book.hidden_scenarios() == {"token-write-only"}
    assert drill.login is not None and drill.login.label.startswith("token-write-only/write-only")

    asyncio.run(book.run_connector(drill))
    assert drill.status == "ready"
    texts = [m.pl for m in drill.messages]
    assert texts[0].startswith("Łączenie z KSeF (TEST)")
    assert any("Zalogowano (uprawnienia: InvoiceWrite)" in t for t in texts)
    failures = [m for m in drill.messages if m.level == "error"]
    assert failures and all("HTTP 403 Dostęp zabroniony" in m.pl for m in failures)
    assert {m.operation for m in failures} == {"ImportPurchasesAsync", "GetInvoicesAsync"}
    assert all("missing-permissions" in m.en for m in failures)

    (question,) = drill.questions
    wrong = next(c.letter for c in question.causes if c.letter != question.right_cause)
    ala = drill.answer(
        "  Ala  Kowalska ", {1: Pick(question.right_cause, question.right_fix)}, mock.clock.now()
    )
    assert (ala.trainee, ala.score, ala.max_score, ala.percent) == ("Ala Kowalska", 2, 2, 100)
    jan = drill.answer("Jan", {1: Pick(wrong, question.right_fix)}, mock.clock.now())
    assert (jan.score, jan.percent) == (1, 50)
    with pytest.raises(DrillError, match="already answered"):
        drill.answer(
            "ala kowalska", {1: Pick(question.right_cause, question.right_fix)}, mock.clock.now()
        )
    with pytest.raises(DrillError, match="unknown choice"):
        drill.answer("Ewa", {1: Pick("Z", question.right_fix)}, mock.clock.now())
    with pytest.raises(DrillError, match="no answer"):
        drill.answer("Ewa", {}, mock.clock.now())
    assert [a.trainee for a in drill.results()] == ["Ala Kowalska", "Jan"]

    rows = list(csv.reader(io.StringIO(drill.csv("en"))))
    assert rows[0] == [
        "trainee",
        "submitted",
        "score",
        "max",
        "percent",
        "q1_cause",
        "q1_cause_ok",
        "q1_fix",
        "q1_fix_ok",
    ]
    assert rows[1][0] == "Ala Kowalska" and rows[1][2:5] == ["2", "2", "100"]
    assert rows[2][5:] == [wrong, "0", question.right_fix, "1"]
    assert list(csv.reader(io.StringIO(drill.csv("pl"))))[0][0] == "uczestnik"

    book.finish(drill.id)
    assert drill.status == "finished"
    assert mock.scenarios.active == [] and book.hidden_scenarios() == frozenset()
    with pytest.raises(DrillError, match="finished"):
        drill.answer("Ewa", {1: Pick(question.right_cause, question.right_fix)}, mock.clock.now())


def test_a_failed_login_stops_the_day_with_the_status_the_customer_sees(book: DrillBook):
    drill = book.start([resolve("token-unauthorized")], pool=catalogue())
    asyncio.run(book.run_connector(drill))
    last = drill.messages[-2:]
    assert "status 450" in last[0].pl and "Token unieważniony" in last[0].pl
    assert last[1].pl == "Synchronizacja przerwana: brak zalogowania."


def test_a_custom_token_and_nip_are_what_the_connector_is_configured_with(book: DrillBook):
    drill = book.start(
        [resolve("token-ksef-1-format")],
        pool=catalogue(),
        token="5f2a9c0e1d7b4a3c8e6f0a1b2c3d4e5f",  # a KSeF 1.0 token: bare hex
    )
    asyncio.run(book.run_connector(drill))
    errors = [m for m in drill.messages if m.level == "error"]
    assert errors[0].pl.startswith("błąd konfiguracji:") and "KSeF 1.0" in errors[0].en


def test_a_scenario_without_credentials_gets_a_fresh_working_token(book: DrillBook):
    drill = book.start([resolve("legacy-api-retired")], pool=catalogue(), environment="test")
    assert drill.login is not None and drill.login.label == "connector (test)"
    asyncio.run(book.run_connector(drill))
    assert any(m.pl.startswith("Wysłano faktury (2)") for m in drill.messages)
    assert not [m for m in drill.messages if m.level == "error"]


def test_a_retry_after_of_minutes_is_reported_not_waited_out(mock: MockState, book: DrillBook):
    drill = book.start([resolve("challenge-unavailable")], pool=catalogue())
    # The scenario runs the clock from its start time; frozen, its 30 s stall passes on
    # the Clock in-process instead of on the wall.
    mock.clock.freeze()
    asyncio.run(book.run_connector(drill))
    # Connection reset and a stall are retried; the 503 asks for 120 s: reported.
    error = next(m for m in drill.messages if m.level == "error")
    assert error.pl.startswith("HTTP 503 Usługa niedostępna") and "(ponów po 120 s)" in error.pl
    # The client's waits moved the mock's clock (the stall), nobody slept.
    assert mock.clock.now() > drill.started


def test_a_rerun_after_moving_the_clock_shows_the_overnight_reset(mock: MockState, book: DrillBook):
    drill = book.start([resolve("demo-reset-overnight")], pool=catalogue())
    assert drill.environment == "demo"

    async def evening_then_morning() -> None:
        assert book.launch(drill)
        assert not book.launch(drill)  # one day at a time
        await drill.settled()
        assert drill.status == "ready"
        mock.scenarios.move_clock(advance="16h")  # the nightly DEMO reset passes
        assert book.rerun(drill)
        await drill.settled()

    asyncio.run(evening_then_morning())
    logins = [m for m in drill.messages if m.operation == "AuthenticateAsync"]
    assert "Zalogowano" in logins[1].pl
    assert "status 450" in logins[-2].pl and "Nieprawidłowy token" in logins[-2].pl
    book.finish(drill.id)
    assert not book.rerun(drill)


def test_pick_credential_prefers_the_broken_one():
    valid = connector.Credential("token", "s/valid (test)", "1", token="x")
    revoked = connector.Credential("token", "s/revoked (test)", "1", token="y")
    assert connector.pick_credential([valid, revoked]) is revoked
    assert connector.pick_credential([valid]) is valid
    assert connector.pick_credential([]) is None


def test_a_drill_on_a_disabled_environment_is_refused(book: DrillBook):
    with pytest.raises(DrillError, match="not enabled"):
        book.start([resolve("token-write-only")], pool=catalogue(), environment="nowhere")
