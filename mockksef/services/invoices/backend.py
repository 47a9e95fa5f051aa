"""State and rules of the invoices area."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


class InvoicesBackend:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
