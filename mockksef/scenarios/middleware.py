"""``ScenarioMiddleware``: the rules of active scenarios, applied before routing.

It wraps the whole app, outside Starlette's error middleware, so that a rule
can drop the connection; the domain knows nothing of rules. Per request:

1. fast path – no active scenario, no reset schedule and default KSeF 1.0
   handling: one attribute read (``manager.engaged``), then the app;
2. scheduled data resets that the Clock has reached are carried out;
3. the first matching rule (``rules.py``) applies its action: effects
   (``effects.py``), an optional delay, then an answer (``answers.py``: a KSeF
   error in the official shape or a raw answer; ``faults.py``: a network
   fault) – or the request goes on to the API;
4. requests to the retired KSeF 1.0 paths answer as configured.

What happened goes into the journal's note of the request (see
``journal_middleware.py``) when the request is being recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mockksef.errors import Gone, InternalError, MockError
from mockksef.http.endpoint import ERROR_SCOPE_KEY, OP_SCOPE_KEY, error_response
from mockksef.scenarios import faults
from mockksef.scenarios.answers import LEGACY_DETAIL, error_for, raw_response
from mockksef.scenarios.journal_middleware import NOTE_SCOPE_KEY
from mockksef.scenarios.model import parse_duration
from mockksef.scenarios.request import RequestInfo
from mockksef.scenarios.rules import Decision

if TYPE_CHECKING:
    from mockksef.state import MockState

log = logging.getLogger("mockksef")

STALL_CAP_SECONDS = 600.0


class ScenarioMiddleware:
    """ASGI middleware in front of the whole app; see the module docstring."""

    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state
        self.manager = state.scenarios

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain call, not a coroutine: disengaged, the app's own awaitable is handed
        # back, so this layer costs one attribute check and no coroutine of its own.
        if (
            not self.manager.engaged
            or scope["type"] != "http"
            or scope["path"].startswith("/_mock")
        ):
            return self.app(scope, receive, send)
        return self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self.manager
        info = RequestInfo(scope, self.state)
        manager.tick()
        decision: Decision | None = None
        fault: str | None = None
        try:
            decision = await manager.decide(info, receive)
            receive = info.replay(receive)
            if decision is not None:
                fault = await self._apply(decision, info, scope, receive, send)
            elif info.legacy and manager.legacy_mode != "not_found":
                fault = await self._legacy(info, scope, receive, send)
            else:
                await self.app(scope, receive, send)
        except faults.NetworkFault as exc:
            fault = exc.kind
            raise
        finally:
            manager.after_request()
            note = scope.get(NOTE_SCOPE_KEY)
            if note is not None:
                note["environment"] = info.environment
                note["context"] = info.known_context
                if OP_SCOPE_KEY not in scope:
                    note["operation"] = info.operation
                note["fault"] = fault
                if decision is not None:
                    note["rule"] = decision.rule_id
                    note["action"] = decision.then.kind
                    note["explain"] = decision.explanation

    async def _apply(
        self, decision: Decision, info: RequestInfo, scope: Scope, receive: Receive, send: Send
    ) -> str | None:
        """Effects, delay, answer; returns the network fault it caused, if any."""
        then = decision.then
        try:
            self.manager.apply_effects(decision, info.environment)
        except MockError as error:
            # An effect the domain refuses (e.g. limits out of range) answers like the
            # /testdata call would, so the scenario author sees why.
            await self._error(scope, receive, send, error, info)
            return None
        except Exception as exc:
            if self.state.config.extra.get("raise_server_errors"):
                raise
            log.exception("scenario action of %s failed", decision.rule_id, exc_info=exc)
            await self._error(scope, receive, send, InternalError(), info)
            return None
        if then.delay:
            if self.state.clock.mode == "virtual":
                self.state.clock.advance(then.delay)
            else:
                await asyncio.sleep(then.delay)
        answer = then.answer
        if answer is None:
            await self.app(scope, receive, send)
            return None
        if answer in ("reset_connection", "close"):
            return await _drop("reset" if answer == "reset_connection" else "close", send, receive)
        if answer == "stall":
            seconds = None if then.answer_value is True else parse_duration(then.answer_value)
            await self._stall(send, receive, seconds)
            return "stall"
        if answer in ("truncate", "malformed"):
            recorder = faults.Recorder()
            await self.app(scope, receive, recorder)
            spec = then.answer_value if isinstance(then.answer_value, dict) else {}
            if answer == "truncate":
                await faults.send_truncated(send, receive, recorder, spec.get("bytes"))
                return "truncate"
            await faults.send_malformed(send, recorder, spec.get("body"), spec.get("status"))
            return "malformed"
        refusal = error_for(then)
        if refusal is not None:
            await self._error(scope, receive, send, refusal, info)
        else:
            await raw_response(then)(scope, receive, send)
        return None

    async def _stall(self, send: Send, receive: Receive, seconds: float | None) -> None:
        if faults.transport_of(send) is None and self.state.clock.mode == "virtual":
            # In-process on a virtual clock: the wait passes on the Clock, then the
            # caller gets what its timeout would give it.
            self.state.clock.advance(seconds or STALL_CAP_SECONDS)
            raise faults.NetworkFault("stall")
        await faults.stall(send, receive, seconds, STALL_CAP_SECONDS)

    async def _error(
        self, scope: Scope, receive: Receive, send: Send, error: MockError, info: RequestInfo
    ) -> None:
        scope[ERROR_SCOPE_KEY] = error
        request = Request(scope, receive)
        response = error_response(request, error, self.state.env(info.environment))
        await response(scope, receive, send)

    async def _legacy(
        self, info: RequestInfo, scope: Scope, receive: Receive, send: Send
    ) -> str | None:
        mode = self.manager.legacy_mode
        if mode in ("reset", "close"):
            return await _drop(mode, send, receive)
        await self._error(scope, receive, send, Gone(LEGACY_DETAIL), info)
        return None


async def _drop(fault: str, send: Send, receive: Receive) -> str:
    """Drop the connection (``reset`` or ``close``); returns the fault for the journal."""
    await (faults.reset if fault == "reset" else faults.close)(send, receive)
    return fault
