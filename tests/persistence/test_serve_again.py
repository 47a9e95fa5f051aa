"""Restarting ``mockksef serve --data DIR --scenario X`` with the command it was started with.

A team server started by a fixed command (systemd, a CI script) comes back
with its data and its scenario active; the scenario is not set up a second
time (its tokens exist: setting it up again was a one-line refusal, exit 2),
and the banner shows the same credentials.
"""

from __future__ import annotations

import httpx

from tests.test_cli_serve import serve


def _credential_lines(banner: list[str], base: str) -> list[str]:
    # Each run has its own port (--port 0): the address is not part of what must match.
    return [
        line.replace(base, "BASE")
        for line in banner
        if line.startswith(("    token ", "      ", "    try:"))
    ]


def test_the_same_command_brings_the_server_back_with_its_scenario(tmp_path) -> None:  # type: ignore[no-untyped-def]
    command = ("--data", str(tmp_path / "data"), "--scenario", "token-write-only")
    with serve(*command) as first:
        assert any("data:" in line and "(new;" in line for line in first.banner), first.banner
        before = httpx.get(f"{first.base}/_mock/scenarios", timeout=10).json()
        credentials = _credential_lines(first.banner, first.base)
        assert credentials, first.banner
    with serve(*command) as again:
        assert any("restored" in line for line in again.banner), again.banner
        assert "  scenarios active in the data: token-write-only" in again.banner
        assert _credential_lines(again.banner, again.base) == credentials
        after = httpx.get(f"{again.base}/_mock/scenarios", timeout=10).json()
        assert after["active"] == before["active"] == ["token-write-only"]
