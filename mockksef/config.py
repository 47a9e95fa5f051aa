"""Explicit configuration. Only this module and the CLI read the environment.

Precedence: CLI flag > environment (``MOCKKSEF_*``) > file > default.
``validate()`` names the first wrong setting in one line (``ConfigError``);
``MockState`` calls it, so in-process use fails as early as ``mockksef serve``.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from mockksef.clock import parse_datetime
from mockksef.environments import Env

CLOCK_MODES = ("real", "offset", "virtual")
# An admin token travels in a header and is typed by people: visible ASCII, long
# enough that guessing it over the network is hopeless.
ADMIN_TOKEN_MIN_LENGTH = 16


class ConfigError(ValueError):
    """A setting that cannot work: which one, and what is accepted."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


@dataclass(frozen=True)
class MockConfig:
    environments: tuple[Env, ...] = (Env.TEST, Env.DEMO, Env.PROD)
    # The environment answered under plain ``/v2`` when the Host header names none.
    default_env: Env = Env.TEST
    # None: a fresh seed from the OS at every start, so identifiers never repeat
    # across restarts; MockState.seed holds it (banner, /_mock/health) for replay.
    # An explicit seed replays identifiers, never secrets (JWT and URL keys).
    seed: int | None = None
    official_dir: str | None = None
    # Keep all state in this directory (SQLite); None = memory only.
    data_dir: str | None = None
    # Where snapshots (NAME.ksefsnap) are kept; None = DATA_DIR/snapshots with
    # data_dir, else $XDG_DATA_HOME/mockksef/snapshots (~/.local/share/...).
    snapshot_dir: str | None = None
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
    # -- the admin plane (/_mock) and the network surface of a served app ----------
    # When set, every /_mock request needs it: "Authorization: Bearer <token>",
    # "X-Mock-Admin-Token: <token>", or the console cookie set by ?token=.
    admin_token: str | None = None
    # Without a token, /_mock answers only on loopback addresses; True opens it
    # on every address (``serve --insecure-admin``).
    admin_insecure: bool = False
    # Admin request bodies (scenario YAML, seed setups) are read whole: bounded.
    max_admin_body_bytes: int = 8_000_000
    # A snapshot upload (PUT /_mock/snapshots/NAME/file) streams to disk instead:
    # 20,000 invoices take about 8 MB, more than the bound above.
    max_snapshot_bytes: int = 2_000_000_000
    # Request line + headers of one request, and the number of header fields
    # (Apache's LimitRequestFields); more answers 431 (mockksef.server).
    max_header_bytes: int = 32_768
    max_header_count: int = 100
    # Whole-header deadline from the connection's (or request's) first byte, idle
    # time between requests, and the longest pause inside a request body.
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 5.0
    body_timeout_seconds: float = 30.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ConfigError`` for the first setting that cannot work."""
        if not self.environments:
            raise ConfigError("environments", "name at least one of test, demo, prod")
        if self.default_env not in self.environments:
            enabled = ",".join(e.value for e in self.environments)
            raise ConfigError(
                "default_env",
                f"{self.default_env.value} is not among the enabled environments "
                f"({enabled}); pick one of them",
            )
        if self.seed is not None and self.seed < 0:
            raise ConfigError("seed", f"{self.seed} is negative; use 0 or more")
        if self.clock_mode not in CLOCK_MODES:
            raise ConfigError(
                "clock_mode", f"{self.clock_mode!r} is not one of {', '.join(CLOCK_MODES)}"
            )
        if self.clock_start:
            try:
                parse_datetime(self.clock_start)
            except ValueError:
                raise ConfigError(
                    "clock_start",
                    f"{self.clock_start!r} is not an ISO date-time (e.g. 2026-03-02T09:00:00Z)",
                ) from None
        if self.public_base_url is not None:
            parts = urlsplit(self.public_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    "public_base_url",
                    f"{self.public_base_url!r} needs a scheme and a host, e.g. http://myhost:8080",
                )
        if self.admin_token is not None:
            token = self.admin_token
            if len(token) < ADMIN_TOKEN_MIN_LENGTH or not all(33 <= ord(c) <= 126 for c in token):
                raise ConfigError(
                    "admin_token",
                    f"use at least {ADMIN_TOKEN_MIN_LENGTH} visible ASCII characters "
                    "without spaces, e.g. the output of: openssl rand -hex 24",
                )
        for name in (
            "max_admin_body_bytes",
            "max_snapshot_bytes",
            "max_header_bytes",
            "max_header_count",
            "journal_size",
            "journal_sample_every",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"{getattr(self, name)} is too small; use 1 or more")
        for name in (
            "header_timeout_seconds",
            "keep_alive_seconds",
            "body_timeout_seconds",
            "rate_limit_multiplier",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"{getattr(self, name)} must be more than 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: MockConfig | None = None) -> MockConfig:
        base = base or cls()
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, raw in data.items():
            name = key.replace("-", "_").lower()
            if name not in known or raw is None:
                continue
            changes[name] = _coerce(name, raw)
        # "--environments demo" alone means plain /v2 is DEMO: the only choice that works.
        chosen = changes.get("environments")
        if chosen and "default_env" not in changes and base.default_env not in chosen:
            changes["default_env"] = chosen[0]
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


def _parse_env(name: str, value: str) -> Env:
    try:
        return Env.parse(value)
    except ValueError:
        raise ConfigError(
            name, f"unknown environment {value.strip()!r}; use test, demo or prod"
        ) from None


def _field_type(name: str) -> Any:
    """The declared type of a field, ``X | None`` read as ``X`` (None is never parsed)."""
    hint = typing.get_type_hints(MockConfig)[name]
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _coerce(name: str, raw: Any) -> Any:
    # By the declared type, not the current value: a None default (seed,
    # admin_token) must still turn MOCKKSEF_SEED="5" into 5.
    if name == "environments":
        items = raw.split(",") if isinstance(raw, str) else raw
        return tuple(_parse_env(name, str(i)) for i in items if str(i).strip())
    if name == "default_env":
        return _parse_env(name, str(raw))
    kind = _field_type(name)
    if kind is bool:
        if isinstance(raw, str):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return bool(raw)
    if kind in (int, float):
        try:
            return kind(raw)
        except (TypeError, ValueError):
            raise ConfigError(name, f"{raw!r} is not a number") from None
    return raw
