"""5. The test suite's own speed: in-process end-to-end flows per second.

    python -m bench.suite_speed [--rounds 3] [--flows 20]

One flow is what an end-to-end test does, in-process through Starlette's
``TestClient`` on a fresh state (virtual clock, shared parsed spec, as the
suite's fixtures build it): XAdES login with a freshly generated self-signed
certificate -> open an online session -> send one FA(3) invoice -> read its
status until it has a KSeF number -> close -> download the invoice. Its
steps are timed apart so that the slow one shows.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._common import Report, load1, standalone
from tests import kit

SECTION = "5. Test-suite speed (in-process)"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def one_flow(spec: Any, seed: int) -> dict[str, float]:
    from starlette.testclient import TestClient

    from ksefclient import CertificateCredentials, KsefClient
    from ksefclient.xades import personal_certificate
    from mockksef import MockConfig, MockState, create_app
    from mockksef.clock import Clock

    steps: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = now - t
        t = now

    config = replace(MockConfig(seed=seed, clock_mode="virtual"), rate_limits_enabled=False)
    mock = MockState(config, spec=spec, clock=Clock.virtual(START))
    app = create_app(state=mock)
    seller = kit.random_nip(seed)
    with (
        TestClient(app, base_url="http://testserver/v2") as client,
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
    return steps


def run(report: Report, rounds: int = 3, flows: int = 20) -> None:
    from mockksef import official
    from mockksef.spec import Spec

    print(f"\n== {SECTION}: {rounds} round(s) of {flows} flows", flush=True)
    t = time.perf_counter()
    spec = Spec.from_dir(official.locate())
    spec_seconds = time.perf_counter() - t
    one_flow(spec, 1)  # warm-up: imports, XSD and signature machinery
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
    report.add(SECTION, "end-to-end flows per second (TestClient)", rates, "flows/s", loads=loads)
    for name, values in steps.items():
        report.add(SECTION, f"  of which: {name}", values, "ms", loads=loads)
    report.add(SECTION, "parse the official spec (once per session)", [spec_seconds], "s")


def main() -> None:
    standalone(__doc__, run, rounds=3, flows=20)


if __name__ == "__main__":
    main()
