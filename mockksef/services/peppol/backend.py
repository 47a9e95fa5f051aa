"""State and rules of the peppol area: the register of Peppol service providers.

In KSeF a provider is registered when it first authenticates with its Peppol
certificate; auth calls ``ensure_provider`` then. Tests and scenarios seed the
register with ``register_provider``. The list is empty by default.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mockksef import violations
from mockksef.errors import InvalidInputData
from mockksef.models import PEPPOL_ID_RE
from mockksef.services.peppol.models import PeppolProvider

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

MAX_NAME_LENGTH = 256


class PeppolBackend:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.Lock()
        self.providers: dict[str, PeppolProvider] = {}

    @staticmethod
    def _check(peppol_id: str, name: str) -> None:
        if not PEPPOL_ID_RE.match(peppol_id or ""):
            raise InvalidInputData(violations.bad_format("id"))
        if not name or len(name) > MAX_NAME_LENGTH:
            raise InvalidInputData(violations.length("name", 1, MAX_NAME_LENGTH, len(name or "")))

    def register_provider(self, peppol_id: str, name: str, now: datetime) -> PeppolProvider:
        """Add (or rename) a provider; its registration date stays the first one."""
        self._check(peppol_id, name)
        with self._lock:
            provider = self.providers.get(peppol_id)
            if provider is None:
                provider = PeppolProvider(peppol_id, name, now)
                self.providers[peppol_id] = provider
            else:
                provider.name = name
            return provider

    def ensure_provider(self, peppol_id: str, name: str | None, now: datetime) -> PeppolProvider:
        """Auto-registration on first authentication; an existing entry is left unchanged."""
        with self._lock:
            existing = self.providers.get(peppol_id)
        if existing is not None:
            return existing
        return self.register_provider(peppol_id, (name or peppol_id)[:MAX_NAME_LENGTH], now)

    def get(self, peppol_id: str) -> PeppolProvider | None:
        return self.providers.get(peppol_id)

    def query(self, page_offset: int, page_size: int) -> dict[str, Any]:
        """``GET /peppol/query``: sorted by dateCreated desc, then id asc; ``pageOffset`` is a page index."""
        ordered = sorted(self.providers.values(), key=lambda p: p.id)
        ordered.sort(key=lambda p: p.date_created, reverse=True)
        start = page_offset * page_size
        page = ordered[start : start + page_size]
        return {
            "peppolProviders": [p.as_json() for p in page],
            "hasMore": len(ordered) > start + page_size,
        }

    def summary(self) -> dict[str, int]:
        return {"providers": len(self.providers)}
