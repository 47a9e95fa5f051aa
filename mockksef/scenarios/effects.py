"""What a rule changes before it answers: one small function per effect name.

``EFFECTS`` maps each effect key of an action (``model.EFFECTS``) to a
function ``(call, value)`` (the three that run one domain verb on a context are
made by ``_context_effect``); ``apply`` runs an action's effects in the order the
schema fixes. Effects change the domain only through its public verbs
(``env.tokens.revoke_all``, ``env.sessions.expire_sessions``…), so they behave
exactly as the API or the admin plane would, and report the same events.

The ``value`` is the action's YAML value (``true`` or a mapping naming an
``environment`` and/or a ``context``); the environment defaults to the one of
the request that fired the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mockksef.models import ContextIdentifier
from mockksef.scenarios import model
from mockksef.scenarios.model import ClockMove, Then

if TYPE_CHECKING:
    from mockksef.scenarios.manager import ScenarioManager
    from mockksef.state import EnvironmentState


@dataclass(frozen=True)
class EffectCall:
    """Where an effect applies: the manager, the request's environment, the rule's origin."""

    manager: ScenarioManager
    environment: str
    origin: str

    def target(self, value: Any) -> Mapping[str, Any]:
        return value if isinstance(value, Mapping) else {}

    def env(self, value: Any) -> EnvironmentState:
        return self.manager.state.env(self.target(value).get("environment") or self.environment)

    def context(self, value: Any) -> ContextIdentifier | None:
        """The ``context`` NIP of the value (the schema allows NIPs only), or None for all."""
        nip = self.target(value).get("context")
        return ContextIdentifier("Nip", str(nip)) if nip is not None else None


Effect = Callable[[EffectCall, Any], None]
EFFECTS: dict[str, Effect] = {}


def effect(name: str) -> Callable[[Effect], Effect]:
    """Register the function of the effect key ``name`` (one of ``model.EFFECTS``)."""
    if name not in model.EFFECTS:
        raise ValueError(f"{name!r} is not an effect of the scenario schema")

    def register(function: Effect) -> Effect:
        EFFECTS[name] = function
        return function

    return register


def apply(then: Then, call: EffectCall) -> None:
    """Run the action's effects in order; a domain refusal (``MockError``) propagates."""
    for name, value in then.effects:
        EFFECTS[name](call, value)


@effect("clock")
def move_clock(call: EffectCall, value: ClockMove) -> None:
    call.manager.apply_clock_move(value, call.origin)


@effect("reset_data")
def reset_data(call: EffectCall, value: Any) -> None:
    call.manager.state.reset(call.target(value).get("environment") or call.environment)


# A domain verb that acts on one context (None: all) at a moment.
ContextVerb = Callable[[datetime, ContextIdentifier | None], object]


def _context_effect(name: str, verb_of: Callable[[EnvironmentState], ContextVerb]) -> None:
    """Register ``name`` as the effect that runs the environment's ``verb_of(env)`` at its
    Clock's now, on the value's ``context`` (or on every context)."""

    def run(call: EffectCall, value: Any) -> None:
        env = call.env(value)
        verb_of(env)(env.clock.now(), call.context(value))

    effect(name)(run)


def _register_context_effects() -> None:
    # In a function: at module level mypy cannot type ``env`` yet (the state module
    # imports this one, indirectly).
    _context_effect("revoke_tokens", lambda env: env.tokens.revoke_all)
    _context_effect("revoke_sessions", lambda env: env.auth.revoke_sessions)
    _context_effect("expire_sessions", lambda env: env.sessions.expire_sessions)


_register_context_effects()


@effect("expire_tokens")
def expire_tokens(call: EffectCall, value: Any) -> None:
    call.env(value).expire_access_tokens()


@effect("set_limits")
def set_limits(call: EffectCall, value: Mapping[str, Any]) -> None:
    """As the /testdata limit calls; the schema makes ``context`` required."""
    limits = call.env(value).limits
    context = ContextIdentifier("Nip", str(value["context"]))
    if value.get("reset"):
        limits.reset_rate_limits(context)
        limits.reset_session_limits(context)
    if value.get("production"):
        limits.set_production_rate_limits(context)
    if value.get("rate_limits"):
        body = value["rate_limits"]
        limits.set_rate_limits(context, body.get("rateLimits", body))
    if value.get("session"):
        limits.set_session_limits(context, value["session"])


@effect("rotate_keys")
def rotate_keys(call: EffectCall, value: Any) -> None:
    target = call.target(value)
    call.env(value).public_keys.rotate(
        target.get("usage", "SymmetricKeyEncryption"),
        overlap_days=float(target.get("overlap_days", 14)),
        emergency=bool(target.get("emergency", False)),
    )


@effect("retire_legacy")
def retire_legacy(call: EffectCall, value: str | bool) -> None:
    call.manager.set_legacy(value)
