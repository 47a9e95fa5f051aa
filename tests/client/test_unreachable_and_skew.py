"""A server that takes no connection is reported in seconds; KSeF's clock, not ours, judges tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from starlette.testclient import TestClient

from ksefclient import KsefClient, KsefServerError, KsefTokenCredentials, KsefTransportError
from mockksef import MockState, create_app
from mockksef.clock import Clock

TOKEN = "20260201-EC-D6BD9E03FB-68AD3F3626-8C|nip-5265877635|" + "ab" * 32


class FakeTime:
    """Our clock: moves when the client sleeps and while a connection attempt hangs."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _client(handler, time: FakeTime) -> KsefClient:  # type: ignore[no-untyped-def]
    return KsefClient(
        base_url="http://ksef.invalid/v2",
        credentials=KsefTokenCredentials(TOKEN),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=time.sleep,
        clock=lambda: time.now,
    )


@pytest.mark.parametrize(
    ("failure", "hangs"), [(httpx.ConnectError, 0.0), (httpx.ConnectTimeout, 2.5)]
)
def test_a_server_taking_no_connection_is_reported_within_ten_seconds(
    failure: type[httpx.TransportError], hangs: float
) -> None:
    time = FakeTime()
    started = time.now
    attempts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(time.now)
        time.now += hangs
        raise failure("no connection", request=request)

    # authenticate: the call's own retries inside the authentication's restarts.
    with pytest.raises(KsefTransportError) as caught:
        _client(handler, time).authenticate()
    assert caught.value.connected is False
    assert time.now - started <= 10 and len(attempts) >= 3


def test_a_busy_server_keeps_the_whole_budget() -> None:
    time = FakeTime()
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.now)
        return httpx.Response(503, json={"title": "busy"})

    with pytest.raises(KsefServerError):
        _client(handler, time).public_keys()
    assert len(calls) == 6  # RetryPolicy.max_attempts: answers reset the unreachable count


def test_an_answer_resets_the_count_of_a_server_that_was_down() -> None:
    time = FakeTime()
    plan = iter(["down"] * 3 + ["up"] + ["down"] * 3 + ["up"] * 10)

    def handler(request: httpx.Request) -> httpx.Response:
        if next(plan) == "down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=[])

    client = _client(handler, time)
    assert client.public_keys() == [] and client.public_keys(refresh=True) == []


def test_tokens_are_judged_by_ksef_clock_on_a_scenario_date(config, spec) -> None:  # type: ignore[no-untyped-def]
    # The mock runs on a scenario's date, months before this machine's clock.
    state = MockState(config, spec=spec, clock=Clock("offset", datetime(2026, 3, 2, 9, tzinfo=UTC)))
    token = state.scenarios.activate("dataset-small")["setup"]["test"]["tokens"][0]["token"]
    seen: list[str] = []
    with TestClient(create_app(state=state)) as http:
        http.event_hooks["request"] = [lambda request: seen.append(request.url.path)]
        client = KsefClient(
            base_url="http://testserver/v2",
            credentials=KsefTokenCredentials(token),
            http_client=http,
        )
        client.context_limits()
        client.context_limits()
        assert abs((client.server_time - state.clock.now()).total_seconds()) < 60
    # One authentication: the access token is not taken for expired months ago.
    assert seen.count("/v2/auth/challenge") == 1
