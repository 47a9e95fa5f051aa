"""What the tests of hostile requests share: the question whether others still get through,
and the payloads several of them send.

``answers_health`` is the plain question, asked after (or while) an attack ran.
``Gate`` makes "the heavy work runs off the event loop" testable without
timing: it holds an operation's heavy step at its start until a health probe
has been answered. Run on the loop, the step would hold the loop too, the
probe could not be answered and the test fails on the probe's timeout; run in
a worker thread, the probe is answered at once. No assertion depends on how
fast the machine is: the bounds are generous (a loaded CI machine).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from mockksef.server import ThreadedServer
from tests import kit

# Seconds: far above any answer the server gives while it is not stalled.
PATIENCE = 20.0


def answers_health(server: ThreadedServer, timeout: float = PATIENCE) -> bool:
    with httpx.Client(timeout=timeout) as client:
        return client.get(server.url + "/_mock/health").status_code == 200


class Gate:
    """Wraps ``original``; every call waits at its start until ``release()``."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original
        self.entered = threading.Event()
        self._open = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        self._open.wait(PATIENCE)
        return self.original(*args, **kwargs)

    def release(self) -> None:
        self._open.set()


def while_held(server: ThreadedServer, gate: Gate, request: Callable[[], Any]) -> Any:
    """Send ``request`` in a thread; once it reaches the gate, a health probe must be
    answered before the gate opens. Returns what ``request`` returned."""
    result: dict[str, Any] = {}

    def send() -> None:
        try:
            result["value"] = request()
        except BaseException as exc:  # handed to the test below
            result["error"] = exc

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        assert gate.entered.wait(PATIENCE), "the request never reached its heavy step"
        # A short timeout would only make a slow machine fail; a stalled loop never answers.
        assert answers_health(server, timeout=PATIENCE / 2)
    finally:
        gate.release()
        sender.join(PATIENCE * 2)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def padded(document: bytes, size: int) -> bytes:
    """The same invoice grown by ``size`` bytes of whitespace after its XML declaration."""
    at = document.index(b"?>") + 2
    return document[:at] + b"\n" * size + document[at:]


def online_session(client: Any, nip: str) -> tuple[dict[str, str], kit.Crypto, str]:
    """A XAdES login of ``nip`` and an open FA(3) online session: (headers, key, reference)."""
    headers = kit.xades_login(client, nip).headers
    crypto = kit.Crypto()
    return headers, crypto, kit.open_online(client, headers, crypto)
