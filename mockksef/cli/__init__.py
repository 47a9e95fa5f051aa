"""The ``mockksef`` command line: serve, scenario, journal, clock, reset, snapshot, cert,
sync, official, operations, contract, explain.

Every command checks its arguments before doing anything: a wrong one is one line on
stderr and exit code 2 (``OneLineGroup``), never a usage block or a traceback.

This package holds the group and what several commands share; one module per command
family registers its commands on ``main``: serve, official (sync, official, operations),
contract, scenario, explain, admin (journal, reset, clock on a running server), snapshot
(snapshots of a running server), cert.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click


def _refuse(ctx: click.Context, exc: click.UsageError) -> NoReturn:
    """One line on stderr and exit 2: what is wrong, with the command it belongs to.

    Click prints a usage block and a hint around the error; the one line says it.
    """
    path = " ".join(["mockksef", *ctx.command_path.split()[1:]])
    click.echo(f"{path}: {exc.format_message()}", err=True)
    ctx.exit(2)


class OneLineErrors(click.Command):
    """A command whose usage errors (parsing, or checks in its body) are one line, exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _refuse(ctx, exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _refuse(exc.ctx or ctx, exc)


class OneLineGroup(click.Group):
    """A group whose commands and subgroups all answer usage errors in one line."""

    command_class = OneLineErrors
    group_class = type  # subgroups are OneLineGroups too

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a bare `mockksef` shows the help
        except click.UsageError as exc:
            _refuse(ctx, exc)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            _refuse(ctx, exc)


@click.group(cls=OneLineGroup, help="mockksef: an offline, faithful KSeF 2.0 test server.")
@click.version_option(package_name="mockksef")
def main() -> None:
    pass


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An http(s) address with a host, or a usage error before any request."""
    from urllib.parse import urlsplit

    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise click.BadParameter(f"{value!r} is not an http:// or https:// address")
    return value


# TEST and DEMO do not check a NIP's check digit (test data rarely has one); the form they do.
NIP_FORM = re.compile(r"[1-9][0-9]{9}")
PESEL_FORM = re.compile(r"[0-9]{11}")


def _nip(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not NIP_FORM.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a NIP (10 digits, not starting with 0)")
    return value


def _checked(
    parse: Callable[[str], object], expected: str
) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A click callback: the value as typed, once ``parse`` accepts it."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            try:
                parse(value)
            except ValueError:
                raise click.BadParameter(f"{value!r} is not {expected}") from None
        return value

    return check


def _parse_duration(text: str) -> float:
    from mockksef.scenarios.model import parse_duration

    return parse_duration(text)


def _parse_instant(text: str) -> object:
    from mockksef.clock import parse_datetime

    return parse_datetime(text)


_duration = _checked(_parse_duration, "a duration (seconds, or 90s, 15m, 2h, 1d)")
_instant = _checked(_parse_instant, "an ISO date-time (2026-03-02T09:00:00Z)")


ENVIRONMENT_CHOICE = click.Choice(["test", "demo", "prod"])


_URL_OPTION = click.option(
    "--url",
    default="http://127.0.0.1:8080",
    show_default=True,
    envvar="MOCKKSEF_URL",
    callback=_http_url,
    help="Base URL of a running mockksef (or set MOCKKSEF_URL).",
)


def _admin_headers() -> dict[str, str]:
    """The admin token of a guarded server (serve --admin-token), from the environment."""
    import os

    token = os.environ.get("MOCKKSEF_ADMIN_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _admin(command: str, url: str, method: str, path: str, ok: int = 200, **send: Any) -> Any:
    """One call to a running server's admin plane: its JSON, or one line on stderr and exit."""
    import httpx

    try:
        response = httpx.request(
            method, f"{url.rstrip('/')}{path}", headers=_admin_headers(), timeout=30, **send
        )
    except httpx.HTTPError as exc:
        click.echo(f"{command}: cannot reach {url}: {exc}", err=True)
        sys.exit(2)
    if response.status_code != ok:
        click.echo(f"{command}: {response.status_code} {response.text}", err=True)
        sys.exit(1)
    return response.json()


# The command families register themselves on `main` when imported.
from mockksef.cli import (  # noqa: E402
    admin,
    cert,
    contract,
    explain,
    official,
    scenario,
    serve,
    snapshot,
)

__all__ = [
    "main",
    "admin",
    "cert",
    "contract",
    "explain",
    "official",
    "scenario",
    "serve",
    "snapshot",
]
