"""Live journal: the adapter that follows the journal, and entries as the console shows them.

``follow`` is the one place that knows how new journal entries are noticed
(the journal's ``subscribe`` API). ``view`` turns an entry into what
a row shows: the Polish (or English) text of its exception codes, a status
class, the rule that answered, unless a running drill hides it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from mockksef.errors import CATALOGUE, FORBIDDEN_REASONS
from mockksef.explain import HTTP_STATUSES
from mockksef.scenarios.journal import Journal

Entry = dict[str, Any]

IDLE_SECONDS = 0.2


async def follow(
    journal: Journal, since: int, *, lifetime: float, idle: float = IDLE_SECONDS
) -> AsyncIterator[list[Entry]]:
    """Entries recorded after ``since``, oldest first, for ``lifetime`` seconds.

    Built on the journal's ``subscribe`` (entries are pushed as they are
    recorded, in any thread); an empty batch every ``idle`` seconds without news
    lets a caller send a keep-alive or look at other things (a drill's messages).
    The stream is bounded in time so that a server can shut down (uvicorn waits
    for open responses); an EventSource reconnects by itself with the last id it
    saw.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    seen = since
    async with journal.subscribe(since=since) as subscription:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                # What arrived but was not taken yet is still in the ring buffer.
                rest = journal.entries(since=seen)
                if rest:
                    yield rest
                return
            try:
                entry = await asyncio.wait_for(anext(subscription), min(idle, remaining))
            except TimeoutError:
                yield []
                continue
            except StopAsyncIteration:
                return
            seen = int(entry["seq"])
            yield [entry]


@dataclass(frozen=True)
class Filters:
    environment: str | None = None
    context: str | None = None
    status_class: str | None = None  # "2xx", "4xx", "5xx", "err" (4xx, 5xx or no answer)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        return cls(
            query.get("environment") or None,
            (query.get("context") or "").strip() or None,
            query.get("status") or None,
        )

    def accepts(self, entry: Mapping[str, Any]) -> bool:
        if self.environment and entry.get("environment") != self.environment:
            return False
        if self.context and self.context not in str(entry.get("context") or ""):
            return False
        if self.status_class:
            status = entry.get("status")
            if self.status_class == "err":
                return status is None or status >= 400
            if status is None or f"{str(status)[0]}xx" != self.status_class:
                return False
        return True

    def as_query(self) -> dict[str, str]:
        """The query string of these filters (the inverse of ``from_query``)."""
        query = {
            "environment": self.environment,
            "context": self.context,
            "status": self.status_class,
        }
        return {key: value for key, value in query.items() if value}


def code_text(code: Any, lang: str) -> str:
    if isinstance(code, int) and code in CATALOGUE:
        entry = CATALOGUE[code]
        return entry.description if lang == "pl" else entry.english
    if isinstance(code, str) and code in FORBIDDEN_REASONS:
        return FORBIDDEN_REASONS[code]
    return ""


def status_text(status: int | None, lang: str) -> str:
    info = HTTP_STATUSES.get(status or 0)
    if info is None:
        return ""
    return info.polish if lang == "pl" else info.english


def view(
    entry: Mapping[str, Any],
    lang: str,
    hidden: Collection[str] = (),
    rule_text: Callable[[str, str], str | None] | None = None,
) -> dict[str, Any]:
    """One row of the live journal; rules of ``hidden`` scenarios are not named.

    ``rule_text(rule id, lang)`` gives the rule's explanation in the page's
    language (the journal keeps the English one).
    """
    rule = entry.get("rule")
    scenario = rule.split("/", 1)[0] if isinstance(rule, str) else None
    secret = scenario is not None and scenario in hidden
    status = entry.get("status")
    codes = [{"code": c, "text": code_text(c, lang)} for c in entry.get("codes") or ()]
    failed = entry.get("kind") == "request" and (status is None or status >= 400)
    lookup = None
    if failed:
        lookup = " ".join(str(c["code"]) for c in codes) or (str(status) if status else "")
        if not lookup and entry.get("fault"):
            lookup = "timeout"
    return {
        "seq": entry.get("seq"),
        "kind": entry.get("kind"),
        "time": str(entry.get("time") or ""),
        "environment": entry.get("environment"),
        "method": entry.get("method"),
        "path": entry.get("path"),
        "operation": entry.get("operation"),
        "context": entry.get("context"),
        "status": status,
        "statusText": status_text(status, lang),
        "statusClass": "none" if status is None else f"s{str(status)[0]}",
        "codes": codes,
        "rule": None if secret else rule,
        "hiddenRule": secret,
        "scenario": None if secret else scenario,
        "explain": None
        if secret
        else (rule_text and isinstance(rule, str) and rule_text(rule, lang))
        or entry.get("explain"),
        "fault": entry.get("fault"),
        "durationMs": entry.get("durationMs"),
        "event": entry.get("event"),
        "eventScenario": None if entry.get("scenario") in hidden else entry.get("scenario"),
        "lookup": lookup,
        "failed": failed,
    }


def sse(event: str, data: Any, event_id: int | str | None = None) -> str:
    """One Server-Sent Event (data as JSON on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
