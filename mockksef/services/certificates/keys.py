"""Mock Ministry of Finance public keys (KsefTokenEncryption, SymmetricKeyEncryption)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


class PublicKeysBackend:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
