"""KSeF tokens: generate (never leaving an orphan behind), read, list, revoke (``/tokens``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ksefclient._core import Flow, ProtocolCore, segment
from ksefclient._exceptions import TRANSIENT_ERRORS, KsefStatusError
from ksefclient._models import GeneratedToken, KsefTokenInfo
from ksefclient._responses import parse

__all__ = ["generate_token", "get_token", "list_tokens", "references", "revoke_token"]


def generate_token(
    core: ProtocolCore, permissions: Sequence[str], description: str, *, wait_active: bool = True
) -> Flow[GeneratedToken]:
    """A new KSeF token (shown once); by default waits until it is Active.

    After a lost answer, the tokens the lost attempt created (their secret
    never arrived) are revoked before it is repeated.
    """
    body = {"permissions": list(permissions), "description": description}
    yield from core.ensure_access()
    before = yield from references(core, description)
    budget = core.budget()
    while True:
        try:
            data = yield from core.json_call(
                "POST", "/tokens", json=body, replay=False, expected=(200, 202)
            )
            break
        except TRANSIENT_ERRORS as error:
            yield from core.wait_or_raise(budget, error)
            after = yield from references(core, description)
            for orphan in sorted(after - before):
                # Its secret never reached us: nobody can use it, so nobody should hold it.
                yield from revoke_token(core, orphan)
            before |= after
    token = parse(lambda d: GeneratedToken(str(d["referenceNumber"]), str(d["token"])), data)
    if wait_active:
        info = yield from core.poll(
            lambda: get_token(core, token.reference_number),
            lambda t: t.status != "Pending",
            what=f"KSeF token {token.reference_number}",
            reference_number=token.reference_number,
        )
        if info.status != "Active":
            raise KsefStatusError(
                f"KSeF token {token.reference_number} ended as {info.status} "
                f"{'; '.join(info.status_details)} — generate a new token",
                code=0,
                description=info.status,
                details=info.status_details,
                reference_number=token.reference_number,
                explanation="The token did not become active.",
                fix="Generate a new token.",
            )
    return token


def get_token(core: ProtocolCore, reference_number: str) -> Flow[KsefTokenInfo]:
    data = yield from core.json_call("GET", f"/tokens/{segment(reference_number)}")
    return parse(KsefTokenInfo.from_json, data)


def list_tokens(
    core: ProtocolCore, statuses: Sequence[str] | None = None, description: str | None = None
) -> Flow[list[KsefTokenInfo]]:
    return _listing(core, statuses, description, {})


def revoke_token(core: ProtocolCore, reference_number: str) -> Flow[None]:
    yield from core.call("DELETE", f"/tokens/{segment(reference_number)}", expected=(200, 204))


def references(core: ProtocolCore, description: str) -> Flow[set[str]]:
    """Reference numbers of the caller's pending and active tokens with this description."""
    tokens = yield from _listing(core, ("Pending", "Active"), description, _author_filter(core))
    return {t.reference_number for t in tokens if t.description == description}


def _listing(
    core: ProtocolCore,
    statuses: Sequence[str] | None,
    description: str | None,
    extra: Mapping[str, str],
) -> Flow[list[KsefTokenInfo]]:
    params: dict[str, Any] = {"pageSize": 100, **extra}
    if statuses:
        params["status"] = list(statuses)
    if description:
        params["description"] = description
    return core.paged("/tokens", "tokens", KsefTokenInfo.from_json, params)


def _author_filter(core: ProtocolCore) -> dict[str, str]:
    """Query parameters naming the caller as token author (from the access token)."""
    if core.tokens is None:
        return {}
    raw = core.tokens.claims.get("sud")
    try:
        details: Any = json.loads(raw) if isinstance(raw, str) else raw
        subject = details["SubjectIdentifier"]
        return {
            "authorIdentifierType": str(subject["Type"]),
            "authorIdentifier": str(subject["Value"]),
        }
    except (ValueError, TypeError, KeyError):
        return {}
