"""5. The test suite's own speed: in-process end-to-end flows per second.

    python -m bench.suite_speed [--rounds 3] [--flows 20]

One flow is what an end-to-end test does, in-process through Starlette's
``TestClient`` on a fresh state (virtual clock, shared parsed spec, as the
suite's fixtures build it): XAdES login with a freshly generated self-signed
certificate -> open an online session -> send one FA(3) invoice -> read its
status until it has a KSeF number -> close -> download the invoice. Its
steps are timed apart so that the slow one shows. The certificate is ECDSA
P-256, the helpers' default (issue 17).

The same flow with ``KsefClient`` over ``mockksef.testing.InProcessTransport``
(the app answers in the calling thread, no portal), and with ``AsyncKsefClient``:
over ``httpx.ASGITransport`` (a fresh state per flow), and over a socket to
``mockksef serve --no-rate-limits``.
Targets (issue 17): >= 100 flows/s in-process, >= 50 flows/s over the socket.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._common import Report, at_least, load1, standalone
from tests import kit

SECTION = "5. Test-suite speed (in-process)"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class _Laps:
    """Seconds per named step, each from the end of the previous one."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self.t = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = now - self.t
        self.t = now


def one_flow(spec: Any, seed: int, transport: str = "testclient") -> dict[str, float]:
    """The flow with ``KsefClient`` through Starlette's ``TestClient`` (``transport``
    "testclient") or an ``httpx.Client`` over ``mockksef.testing.InProcessTransport``
    ("inprocess")."""
    import httpx
    from starlette.testclient import TestClient

    from ksefclient import CertificateCredentials, KsefClient
    from ksefclient.xades import personal_certificate
    from mockksef import MockConfig, MockState, create_app
    from mockksef.clock import Clock
    from mockksef.testing import InProcessTransport

    lap = _Laps()
    config = replace(MockConfig(seed=seed, clock_mode="virtual"), rate_limits_enabled=False)
    mock = MockState(config, spec=spec, clock=Clock.virtual(START))
    app = create_app(state=mock)
    seller = kit.random_nip(seed)
    http = (
        TestClient(app, base_url="http://testserver/v2")
        if transport == "testclient"
        else httpx.Client(transport=InProcessTransport(app), base_url="http://testserver/v2")
    )
    with (
        http as client,
        KsefClient(
            base_url="http://testserver/v2",
            http_client=client,
            nip=seller,
            # Token expiry and polling follow the server's virtual clock, not the wall clock.
            clock=lambda: mock.clock.now().timestamp(),
            sleep=mock.clock.advance,
        ) as ksef,
    ):
        lap("fresh state + app + client")
        ksef.public_keys()
        lap("first public-key listing (certificates for this state)")
        signing = personal_certificate(nip=seller, not_before=START - timedelta(days=1))
        ksef.credentials = CertificateCredentials(signing)
        ksef.authenticate()
        lap("XAdES login (new certificate, sign, verify)")
        xml = kit.fa3(seller, "1", START.date())
        with ksef.online_session() as session:
            sent = ksef.send_invoice(session, xml)
            number = ksef.wait_for_invoice(sent.session_reference_number, sent.reference_number)
        if not number.ksef_number:
            raise RuntimeError(f"no KSeF number: {number}")
        lap("open session, send, status, close")
        mock.clock.advance(10)
        if ksef.download_invoice(number.ksef_number) != xml:
            raise RuntimeError("download: not the bytes sent")
        lap("download by KSeF number")
    return lap.steps


async def one_async_flow(
    spec: Any, seed: int, base_url: str | None = None, http: Any = None
) -> dict[str, float]:
    """The same flow with ``AsyncKsefClient``: over ``httpx.ASGITransport`` to a fresh
    state (``base_url`` None), or over a socket to a running server (one NIP per flow)
    through ``http``, one ``httpx.AsyncClient`` kept across flows (making one builds
    an SSL context: ~20 ms, more than the flow's own requests)."""
    import contextlib

    import httpx

    from ksefclient import AsyncKsefClient, CertificateCredentials
    from ksefclient.xades import personal_certificate
    from mockksef import MockConfig, MockState, create_app
    from mockksef.clock import Clock

    lap = _Laps()
    seller = kit.random_nip(seed)
    if base_url is None:
        config = replace(MockConfig(seed=seed, clock_mode="virtual"), rate_limits_enabled=False)
        mock = MockState(config, spec=spec, clock=Clock.virtual(START))
        transport: Any = httpx.ASGITransport(app=create_app(state=mock))
        base_url = "http://testserver/v2"
        clock: Any = lambda: mock.clock.now().timestamp()  # noqa: E731
        sleep: Any = mock.clock.advance
        start = START
    else:
        transport, mock, clock, sleep = None, None, None, None
        start = datetime.now(UTC)
    async with (
        (
            contextlib.nullcontext(http)
            if http is not None
            else httpx.AsyncClient(transport=transport, base_url=base_url, trust_env=False)
        ) as http,
        AsyncKsefClient(
            base_url=base_url, http_client=http, nip=seller, clock=clock, sleep=sleep
        ) as ksef,
    ):
        lap("fresh state + app + client")
        await ksef.public_keys()
        lap("first public-key listing (certificates for this state)")
        signing = personal_certificate(nip=seller, not_before=start - timedelta(days=1))
        ksef.credentials = CertificateCredentials(signing)
        await ksef.authenticate()
        lap("XAdES login (new certificate, sign, verify)")
        # One number per flow: a server that lives across flows refuses a duplicate.
        xml = kit.fa3(seller, str(seed), start.date())
        async with ksef.online_session() as session:
            sent = await ksef.send_invoice(session, xml)
            number = await ksef.wait_for_invoice(
                sent.session_reference_number, sent.reference_number
            )
        if not number.ksef_number:
            raise RuntimeError(f"no KSeF number: {number}")
        lap("open session, send, status, close")
        if mock is not None:
            mock.clock.advance(10)
        if await ksef.download_invoice(number.ksef_number) != xml:
            raise RuntimeError("download: not the bytes sent")
        lap("download by KSeF number")
    return lap.steps


def run(report: Report, rounds: int = 3, flows: int = 20) -> None:
    from mockksef import official
    from mockksef.spec import Spec

    print(f"\n== {SECTION}: {rounds} round(s) of {flows} flows", flush=True)
    t = time.perf_counter()
    spec = Spec.from_dir(official.locate())
    spec_seconds = time.perf_counter() - t
    one_flow(spec, 1)  # warm-up: imports, XSD and signature machinery
    # What the pytest plugin's session fixture does once the spec is parsed: what a
    # session loads once leaves the collector's view (mockksef.pytest_plugin).
    from mockksef.pytest_plugin import freeze_long_lived

    freeze_long_lived()
    rates, loads = [], []
    steps: dict[str, list[float]] = defaultdict(list)
    for n in range(rounds):
        load = load1()
        started = time.perf_counter()
        totals: dict[str, float] = defaultdict(float)
        for i in range(flows):
            for name, seconds in one_flow(spec, 1000 * n + i + 2).items():
                totals[name] += seconds
        elapsed = time.perf_counter() - started
        rates.append(flows / elapsed)
        loads.append(load)
        for name, seconds in totals.items():
            steps[name].append(seconds / flows * 1000)
        print(
            f"    round {n + 1}: {flows} flows in {elapsed:.2f} s = {flows / elapsed:.1f}/s "
            f"(load {load:.2f})",
            flush=True,
        )
    report.add(
        SECTION,
        "end-to-end flows per second (TestClient)",
        rates,
        "flows/s",
        loads=loads,
        target=at_least(100),
    )
    for name, values in steps.items():
        report.add(SECTION, f"  of which: {name}", values, "ms", loads=loads)
    _inprocess_flows(report, spec, rounds, flows)
    _async_flows(report, spec, rounds, flows)
    report.add(SECTION, "parse the official spec (once per session)", [spec_seconds], "s")


def _inprocess_flows(report: Report, spec: Any, rounds: int, flows: int) -> None:
    """The synchronous flow again, over ``mockksef.testing.InProcessTransport``: the
    app answers in the calling thread instead of behind TestClient's portal."""
    one_flow(spec, 1, "inprocess")  # warm-up
    rates, loads = [], []
    for n in range(rounds):
        load = load1()
        started = time.perf_counter()
        for i in range(flows):
            one_flow(spec, 1000 * n + i + 2, "inprocess")
        rates.append(flows / (time.perf_counter() - started))
        loads.append(load)
        print(f"    round {n + 1}: KsefClient, InProcessTransport: {rates[-1]:.1f} flows/s")
    report.add(
        SECTION,
        "end-to-end flows per second (KsefClient, InProcessTransport)",
        rates,
        "flows/s",
        loads=loads,
        target=at_least(100),
    )


def _async_flows(report: Report, spec: Any, rounds: int, flows: int) -> None:
    """``AsyncKsefClient`` over ASGI (a fresh state per flow) and over a socket to
    ``mockksef serve --no-rate-limits`` (one server, a new NIP per flow)."""
    import asyncio

    import httpx

    from bench._procs import start_cli_server

    async def measure(base_url: str | None, first_seed: int) -> float:
        async with httpx.AsyncClient(base_url=base_url or "", trust_env=False) as http:
            started = time.perf_counter()
            for i in range(flows):
                await one_async_flow(spec, first_seed + i, base_url, http if base_url else None)
            return flows / (time.perf_counter() - started)

    server = start_cli_server(["--no-rate-limits"])
    try:
        base = server.base + "/v2"
        asyncio.run(one_async_flow(spec, 1))  # warm-up of both paths
        asyncio.run(one_async_flow(spec, 2, base))
        lanes: dict[str, tuple[list[float], list[float]]] = {"asgi": ([], []), "socket": ([], [])}
        for n in range(rounds):
            for lane, url in (("asgi", None), ("socket", base)):
                load = load1()
                # Seeds from the wall clock: the served state outlives this run's rounds.
                rate = asyncio.run(measure(url, int(time.time() * 1000) % 10**9))
                lanes[lane][0].append(rate)
                lanes[lane][1].append(load)
                print(
                    f"    round {n + 1}: AsyncKsefClient, {lane}: {rate:.1f} flows/s (load {load:.2f})"
                )
    finally:
        server.stop()
    for lane, label, target in (
        ("asgi", "ASGI in-process", 100),
        ("socket", "socket to `mockksef serve`", 50),
    ):
        report.add(
            SECTION,
            f"end-to-end flows per second (AsyncKsefClient, {label})",
            lanes[lane][0],
            "flows/s",
            loads=lanes[lane][1],
            target=at_least(target),
        )


def main() -> None:
    standalone(__doc__, run, rounds=3, flows=20)


if __name__ == "__main__":
    main()
