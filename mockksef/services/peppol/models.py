"""Entities of the peppol area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mockksef.clock import format_datetime


@dataclass
class PeppolProvider:
    """A Peppol service provider registered in KSeF (``PeppolProvider``)."""

    id: str
    name: str
    date_created: datetime

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "dateCreated": format_datetime(self.date_created)}
