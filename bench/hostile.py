"""6. Hostile requests: the heaviest request of each kind while a probe measures ``GET /_mock/health``.

    python -m bench.hostile                          # every kind, 10 s of attack each
    python -m bench.hostile --kinds zip_bomb,export --duration 5 --attackers 1

``mockksef serve --no-rate-limits`` runs as a user starts it (uvicorn, one
worker, 127.0.0.1). For each kind an attacker process (its own interpreter, so
its CPU does not slow the probe's) prepares its requests, then sends them back
to back from ``--attackers`` connections for ``--duration`` seconds (a request
still running then is waited for: a stall is measured whole). Meanwhile this
process sends ``GET /_mock/health`` every 20 ms on a keep-alive connection and
records each answer's latency. Target (issue 13): probe p99 under 100 ms.

Kinds, each the heaviest of its sort the API lets through or used to:

* ``array_2m``      – ``POST /invoices/query/metadata`` with 2,000,000 ``invoiceTypes`` (14 MB);
* ``array_400k``    – the same with 400,000 items (2.8 MB);
* ``array_fits``    – as many items as fit under the operation's body limit;
* ``huge_body``     – ``POST /tokens``, 64 MB streamed without Content-Length;
* ``zip_bomb``      – close a batch session whose one part is a 2 MB ZIP of 2 GiB of zeros;
* ``bad_invoice``   – an online invoice of 2.9 MB that breaks the FA(3) XSD on every row;
* ``large_xades``   – ``POST /auth/xades-signature``: a signed request padded to ~1 MB;
* ``export``        – ``POST /invoices/exports`` + the status read that builds a package
  of the 10,000 invoices seeded in the caller's context.
"""

from __future__ import annotations

import argparse
import http.client
import io
import multiprocessing
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from bench._common import Report, below, load1, percentile
from bench._procs import ServerProcess, start_cli_server

SECTION = "6. Hostile requests"
KINDS = (
    "array_2m",
    "array_400k",
    "array_fits",
    "huge_body",
    "zip_bomb",
    "bad_invoice",
    "large_xades",
    "export",
)
NIP = "5265877635"
PROBE_EVERY = 0.02
TARGET_MS = 100.0


# -- the attacker's requests (built in the attacker process) ---------------------------------------


def _metadata_body(items: int) -> bytes:
    head = (
        b'{"subjectType":"Subject1","dateRange":{"dateType":"Issue",'
        b'"from":"2026-01-01T00:00:00Z","to":"2026-01-31T00:00:00Z"},"invoiceTypes":['
    )
    return head + b",".join([b'"Vat"'] * items) + b"]}"


def _items_that_fit(limit: int) -> int:
    return max(1, (limit - len(_metadata_body(0))) // 6)


def _zip_bomb(gib: int = 2) -> bytes:
    """One entry of ``gib`` GiB of zeros: about 2 MB packed at 1,000:1."""
    buffer = io.BytesIO()
    zero = bytes(1 << 20)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("faktura.xml", "w", force_zip64=True) as entry:
            for _ in range(gib * 1024):
                entry.write(zero)
    return buffer.getvalue()


def _bad_invoice(nip: str, size: int = 2_900_000) -> bytes:
    """An FA(3) sample grown to ``size`` bytes with rows the XSD refuses."""
    from tests import kit

    xml = kit.fa3(nip)
    row = b"<FaWiersz><NrWierszaFa>x</NrWierszaFa><P_7>?</P_7></FaWiersz>"
    rows = row * ((size - len(xml)) // len(row))
    marker = b"<FaWiersz>"
    at = xml.index(marker)
    return xml[:at] + rows + xml[at:]


def _padded_xades(client: Any, nip: str, size: int = 990_000) -> bytes:
    """A signed AuthTokenRequest with an unsigned ``ds:Object`` of ~``size`` bytes of elements."""
    from tests import kit

    signed = kit.signed_request(client, None, ("Nip", nip), signer_nip=nip)
    closing = signed.rindex(b"</")
    tag = signed[closing + 2 : signed.index(b">", closing)]
    if tag.endswith(b"Signature"):
        prefix = tag[: -len(b"Signature")]
    else:  # enveloped: the signature is the root's last child
        end = signed.rindex(b"Signature>", 0, closing)
        start = signed.rindex(b"</", 0, end)
        prefix = signed[start + 2 : end]
        closing = start
    item = b"<p:a>x</p:a>"
    filler = item * ((size - len(signed)) // len(item))
    padding = b"<" + prefix + b'Object><p:pad xmlns:p="urn:pad">' + filler
    padding += b"</p:pad></" + prefix + b"Object>"
    return signed[:closing] + padding + signed[closing:]


class _Attack:
    """Set-up (not timed) and one hostile request per ``fire()``: (answer, seconds)."""

    def __init__(self, base: str, kind: str) -> None:
        import httpx

        from tests import kit

        self.kind = kind
        self.base = base
        # The seconds of the step that matters when a request needs set-up around it.
        self.last_seconds: float | None = None
        self.http = httpx.Client(base_url=f"{base}/v2", timeout=600)
        self.storage = httpx.Client(timeout=600)
        self.kit = kit
        self.headers: dict[str, str] = {}
        if kind not in ("large_xades",):
            self.headers = kit.xades_login(self.http, NIP).headers
        self.fire: Callable[[], str] = getattr(self, f"_{kind}")
        getattr(self, f"_prepare_{kind}", lambda: None)()

    def close(self) -> None:
        self.http.close()
        self.storage.close()

    def _post(self, path: str, content: Any, content_type: str = "application/json") -> str:
        import httpx

        try:
            answer = self.http.post(
                path, content=content, headers={**self.headers, "Content-Type": content_type}
            )
        except httpx.HTTPError as exc:  # the server may answer and close before reading all
            return type(exc).__name__
        return _describe(answer.status_code, answer.content)

    # -- JSON bodies ------------------------------------------------------------------------------

    def _prepare_array_2m(self) -> None:
        self.body = _metadata_body(2_000_000)

    def _array_2m(self) -> str:
        return self._post("/invoices/query/metadata", self.body)

    def _prepare_array_400k(self) -> None:
        self.body = _metadata_body(400_000)

    _array_400k = _array_2m

    def _prepare_array_fits(self) -> None:
        from mockksef.http import bounds

        self.body = _metadata_body(_items_that_fit(bounds.body_limit("invoices.query_metadata")))

    _array_fits = _array_2m

    def _huge_body(self) -> str:
        def stream() -> Iterator[bytes]:
            yield b'{"description":"'
            chunk = b"a" * (1 << 20)
            for _ in range(64):
                yield chunk
            yield b'","permissions":["InvoiceRead"]}'

        return self._post("/tokens", stream())

    # -- batch: a zip bomb per session --------------------------------------------------------------

    def _prepare_zip_bomb(self) -> None:
        self.bomb = self.kit.package({"bomb.xml": b""})
        self.bomb.archive = _zip_bomb()
        self.bomb.parts = [self.bomb.crypto.encrypt(self.bomb.archive)]

    def _zip_bomb(self) -> str:
        opened = self.kit.open_batch(self.http, self.headers, self.bomb)
        self.kit.upload(self.storage, opened, self.bomb.parts)
        started = time.perf_counter()
        closed = self.http.post(
            f"/sessions/batch/{opened['referenceNumber']}/close", headers=self.headers
        )
        self.last_seconds = time.perf_counter() - started
        status = self.http.get(f"/sessions/{opened['referenceNumber']}", headers=self.headers)
        code = status.json()["status"]["code"] if status.status_code == 200 else "-"
        return f"{closed.status_code} then session {code}"

    # -- online: a big XSD-invalid invoice ------------------------------------------------------------

    def _prepare_bad_invoice(self) -> None:
        self.crypto = self.kit.Crypto()
        self.session = self.kit.open_online(self.http, self.headers, self.crypto)
        self.body = self.http_json(self.crypto.invoice_body(_bad_invoice(NIP)))

    @staticmethod
    def http_json(data: Any) -> bytes:
        import json

        return json.dumps(data).encode()

    def _bad_invoice(self) -> str:
        return self._post(f"/sessions/online/{self.session}/invoices", self.body)

    # -- auth: a padded XAdES document ---------------------------------------------------------------

    def _prepare_large_xades(self) -> None:
        self.body = _padded_xades(self.http, NIP)

    def _large_xades(self) -> str:
        return self._post("/auth/xades-signature", self.body, "application/xml")

    # -- exports of 10,000 seeded invoices -------------------------------------------------------------

    def _prepare_export(self) -> None:
        today = datetime.now(UTC).date()
        seeded = self.storage.post(
            f"{self.base}/_mock/seed",
            json={
                "invoices": [
                    {
                        "count": 10_000,
                        "context": NIP,
                        "from": (today - timedelta(days=20)).isoformat(),
                        "to": (today - timedelta(days=1)).isoformat(),
                    }
                ]
            },
        )
        if seeded.status_code != 201:
            raise RuntimeError(f"seed: {seeded.status_code} {seeded.text[:300]}")
        self.crypto = self.kit.Crypto()
        self.export_body = {
            "encryption": self.crypto.encryption(self.http),
            "filters": {
                "subjectType": "Subject1",
                "dateRange": {
                    "dateType": "Issue",
                    "from": _midnight(today - timedelta(days=30)),
                    "to": _midnight(today + timedelta(days=1)),
                },
            },
        }

    def _export(self) -> str:
        started = self.http.post("/invoices/exports", json=self.export_body, headers=self.headers)
        if started.status_code != 201:
            return _describe(started.status_code, started.content)
        reference = started.json()["referenceNumber"]
        status = self.http.get(f"/invoices/exports/{reference}", headers=self.headers)
        if status.status_code != 200:
            return _describe(status.status_code, status.content)
        body = status.json()
        count = (body.get("package") or {}).get("invoiceCount")
        return f"200 status {body['status']['code']}, {count} invoices"


def _midnight(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _describe(status: int, content: bytes) -> str:
    import json

    try:
        data = json.loads(content)
    except ValueError:
        return str(status)
    codes = [
        d.get("exceptionCode") for d in (data.get("exception") or {}).get("exceptionDetailList", [])
    ]
    return f"{status} {codes[0]}" if codes else str(status)


def _attacker(base: str, kind: str, attackers: int, seconds: float, out: Connection) -> None:
    """Its own process: set up, say ready, attack from ``attackers`` threads, report."""
    import threading

    try:
        attacks = [_Attack(base, kind) for _ in range(attackers)]
    except Exception as exc:
        out.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    out.send(("ready", None))
    results: list[tuple[str, float]] = []
    deadline = time.monotonic() + seconds

    def run(attack: _Attack) -> None:
        while time.monotonic() < deadline:
            attack.last_seconds = None
            started = time.perf_counter()
            answer = attack.fire()
            took = attack.last_seconds or time.perf_counter() - started
            results.append((answer, took))

    threads = [threading.Thread(target=run, args=(a,)) for a in attacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for attack in attacks:
        attack.close()
    out.send(("done", results))


# -- the probe ------------------------------------------------------------------------------------


def _probe_until(port: int, done: Callable[[], bool]) -> tuple[list[float], int]:
    """``GET /_mock/health`` every 20 ms until ``done()``; latencies (s) and failures."""
    latencies: list[float] = []
    failures = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while not done():
        started = time.perf_counter()
        try:
            conn.request("GET", "/_mock/health")
            answer = conn.getresponse()
            answer.read()
            failures += answer.status != 200
        except (OSError, http.client.HTTPException):
            failures += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        latencies.append(time.perf_counter() - started)
        time.sleep(PROBE_EVERY)
    conn.close()
    return latencies, failures


def measure(server: ServerProcess, kind: str, attackers: int, seconds: float) -> dict[str, Any]:
    ours, theirs = multiprocessing.Pipe()
    attacker = multiprocessing.Process(
        target=_attacker, args=(server.base, kind, attackers, seconds, theirs), daemon=True
    )
    attacker.start()
    state, detail = ours.recv()
    if state != "ready":
        attacker.join(timeout=10)
        raise RuntimeError(f"{kind}: set-up failed: {detail}")
    cpu_before = server.cpu_seconds()
    latencies, failures = _probe_until(server.port, ours.poll)
    state, results = ours.recv()
    attacker.join(timeout=30)
    answers: dict[str, int] = {}
    for answer, _ in results:
        answers[answer] = answers.get(answer, 0) + 1
    took = sorted(t for _, t in results)
    return {
        "kind": kind,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "probes": len(latencies),
        "failed": failures,
        "attacks": len(results),
        "attack_p50_s": percentile(took, 50),
        "attack_max_s": took[-1] if took else float("nan"),
        "answers": answers,
        "server_cpu_s": server.cpu_seconds() - cpu_before,
    }


def run(
    report: Report,
    kinds: tuple[str, ...] = KINDS,
    seconds: float = 10.0,
    attackers: int = 1,
) -> list[dict[str, Any]]:
    print(f"\n== {SECTION} ==", flush=True)
    print(
        f"mockksef serve --no-rate-limits; {attackers} attacker connection(s) per kind for "
        f"{seconds:g} s; probe GET /_mock/health every {PROBE_EVERY * 1000:.0f} ms",
        flush=True,
    )
    out = []
    with start_cli_server(["--no-rate-limits", "--no-journal", "--log-level", "warning"]) as server:
        # The same probe with nobody attacking: what the machine gives at this load.
        load = load1()
        started = time.monotonic()
        quiet, _ = _probe_until(server.port, lambda: time.monotonic() - started > 3.0)
        report.add(
            SECTION,
            "probe p99, no attack",
            [percentile(quiet, 99) * 1000],
            "ms",
            loads=[load],
            note=f"p50 {percentile(quiet, 50) * 1000:.1f} ms, {len(quiet)} probes",
        )
        for kind in kinds:
            load = load1()
            result = measure(server, kind, attackers, seconds)
            out.append(result)
            answers = ", ".join(f"{k} x{v}" for k, v in sorted(result["answers"].items()))
            report.add(
                SECTION,
                f"probe p99 under {kind}",
                [result["p99_ms"]],
                "ms",
                loads=[load],
                target=below(TARGET_MS, "ms"),
                note=(
                    f"p50 {result['p50_ms']:.1f}, max {result['max_ms']:.0f} ms, "
                    f"{result['probes']} probes, {result['failed']} failed; "
                    f"{result['attacks']} attacks, each {result['attack_p50_s']:.2f} s "
                    f"(max {result['attack_max_s']:.2f}); server CPU "
                    f"{result['server_cpu_s']:.1f} s; answers: {answers}"
                ),
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {KINDS}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of attack per kind")
    parser.add_argument("--attackers", type=int, default=1, help="attack connections per kind")
    args = parser.parse_args()
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown kind(s) {unknown}; choose from {KINDS}")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    report = Report()
    run(report, kinds, args.duration, args.attackers)
    report.summary()


if __name__ == "__main__":
    main()
