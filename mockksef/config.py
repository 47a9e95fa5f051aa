"""Explicit configuration. Only this module and the CLI read the environment.

Precedence: CLI flag > environment (``MOCKKSEF_*``) > file > default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mockksef.environments import Env


@dataclass(frozen=True)
class MockConfig:
    environments: tuple[Env, ...] = (Env.TEST, Env.DEMO, Env.PROD)
    # The environment answered under plain ``/v2`` when the Host header names none.
    default_env: Env = Env.TEST
    seed: int = 0
    official_dir: str | None = None
    # "real" for serve, "virtual" for tests; "offset" starts real at clock_start.
    clock_mode: str = "real"
    clock_start: str | None = None
    # Public scheme+host used in URLs the API returns (upload/download links).
    public_base_url: str | None = None
    # Trust X-Forwarded-For for the client IP (behind a reverse proxy).
    trusted_proxy: bool = False
    max_body_bytes: int = 16_000_000
    max_xml_bytes: int = 1_000_000
    # Seconds an asynchronous operation stays at 100 before its outcome (0 = at once).
    auth_processing_seconds: float = 0.0
    token_activation_seconds: float = 0.0
    permission_processing_seconds: float = 0.0
    # Seconds a certificate enrollment stays at 100 before it is decided (0 = at once).
    certificate_processing_seconds: float = 0.0
    # Seconds an invoice export stays at 100 before its package is ready (0 = at once).
    export_processing_seconds: float = 0.0
    # Export packages are split into parts of at most this many bytes (50 MiB).
    export_part_bytes: int = 52_428_800
    # Sessions and invoices: seconds each asynchronous step lasts on the clock.
    # 0 = a status read right after the request already shows the next state,
    # which is what polling clients handle best (reference B §11.2).
    invoice_queue_seconds: float = 0.0  # invoice status 100
    invoice_processing_seconds: float = 0.0  # invoice status 150, then final
    permanent_storage_seconds: float = 0.0  # acquisitionDate -> permanentStorageDate
    online_close_seconds: float = 0.0  # online session status 170 after close
    batch_processing_seconds: float = 0.0  # batch session status 150 after close
    # Batch part upload URLs live this many minutes per declared part (docs: 20).
    batch_part_url_minutes: float = 20.0
    # Pre-signed UPO download links (fresh on every status read).
    download_url_hours: float = 72.0
    # UPO NazwaPodmiotuPrzyjmujacego: the XSD fixes "Ministerstwo Finansów"; the real
    # TE/TR environments append " - środowisko testowe (TE)" etc. True = as TE/TR do.
    upo_environment_receiver_name: bool = False
    # Zip-bomb guards for batch archives: total unpacked bytes and unpacked/packed ratio.
    batch_max_uncompressed_bytes: int = 1_000_000_000
    batch_max_compression_ratio: int = 500
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    operation_token_minutes: int = 45
    rate_limits_enabled: bool = True
    rate_limit_multiplier: float = 1.0
    journal_enabled: bool = True
    # Request journal: ring-buffer size, and record every n-th request (1 = all).
    journal_size: int = 1000
    journal_sample_every: int = 1
    # Scheduled data resets on the Clock, e.g. "demo@03:00" (daily, Europe/Warsaw),
    # "test@every=12h"; comma-separated. The real DEMO schedule is not published.
    reset_schedule: str = ""
    # How the retired KSeF 1.0 paths (/api/online/…) answer: not_found (404),
    # gone (410), reset (= refused: TCP RST) or close (empty reply). Undocumented.
    legacy_v1: str = "not_found"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: MockConfig | None = None) -> MockConfig:
        base = base or cls()
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, raw in data.items():
            name = key.replace("-", "_").lower()
            if name not in known or raw is None:
                continue
            changes[name] = _coerce(name, raw, getattr(base, name))
        return replace(base, **changes)

    @classmethod
    def from_env(
        cls,
        prefix: str = "MOCKKSEF_",
        environ: Mapping[str, str] | None = None,
        base: MockConfig | None = None,
    ) -> MockConfig:
        environ = os.environ if environ is None else environ
        data = {k[len(prefix) :]: v for k, v in environ.items() if k.startswith(prefix)}
        return cls.from_mapping(data, base)


def _coerce(name: str, raw: Any, current: Any) -> Any:
    if name == "environments":
        items = raw.split(",") if isinstance(raw, str) else raw
        return tuple(Env.parse(str(i)) for i in items if str(i).strip())
    if name == "default_env":
        return Env.parse(str(raw))
    if isinstance(current, bool):
        if isinstance(raw, str):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return bool(raw)
    if isinstance(current, int) and not isinstance(current, bool):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    return raw
