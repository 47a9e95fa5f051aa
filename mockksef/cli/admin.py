"""The journal and clock of a running server through its admin API: ``mockksef journal``,
``reset``, ``clock``."""

from __future__ import annotations

import sys

import click

from mockksef.cli import (
    _URL_OPTION,
    ENVIRONMENT_CHOICE,
    _admin,
    _admin_headers,
    _duration,
    _instant,
    main,
)


def _format_entry(entry: dict[str, object]) -> str:
    if entry.get("kind") == "event":
        rest = {k: v for k, v in entry.items() if k not in ("seq", "kind", "time", "event")}
        detail = " ".join(f"{k}={v}" for k, v in rest.items())
        return f"#{entry['seq']} {entry['time']} * {entry['event']} {detail}".rstrip()
    parts = [
        f"#{entry['seq']}",
        str(entry.get("time")),
        str(entry.get("environment")),
        f"{entry.get('method')} {entry.get('path')}",
        str(entry.get("operation") or "-"),
        str(entry.get("status") if entry.get("status") is not None else "-"),
    ]
    if entry.get("context"):
        parts.append(f"ctx={entry['context']}")
    if entry.get("codes"):
        parts.append("codes=" + ",".join(str(c) for c in entry["codes"]))  # type: ignore[attr-defined]
    if entry.get("fault"):
        parts.append(f"fault={entry['fault']}")
    if entry.get("rule"):
        parts.append(f"rule={entry['rule']}->{entry.get('action')}")
        if entry.get("explain"):
            parts.append(f"({entry['explain']})")
    return " ".join(parts)


@main.command(help="Print the request journal of a running server (--follow to keep polling).")
@_URL_OPTION
@click.option("-f", "--follow", is_flag=True, default=False, help="Keep polling for new entries.")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds between polls.",
)
@click.option(
    "--polls", default=None, type=click.IntRange(min=1), help="With --follow: stop after N polls."
)
@click.option(
    "--since",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Entries after this seq.",
)
@click.option("--limit", default=None, type=click.IntRange(min=1))
@click.option("--operation", default=None, help="Operation id or glob (invoices.*).")
@click.option("--environment", default=None, type=ENVIRONMENT_CHOICE)
@click.option("--status", default=None, type=click.IntRange(100, 599))
@click.option("--context", default=None, help="Context NIP.")
@click.option("--rule", default=None, help="scenario/rule or a glob.")
@click.option("--fired", is_flag=True, default=False, help="Only requests a rule fired on.")
@click.option("--json", "as_json", is_flag=True, default=False, help="One JSON object per line.")
def journal(
    url: str,
    follow: bool,
    interval: float,
    polls: int | None,
    since: int,
    limit: int | None,
    operation: str | None,
    environment: str | None,
    status: int | None,
    context: str | None,
    rule: str | None,
    fired: bool,
    as_json: bool,
) -> None:
    import json
    import time

    import httpx

    params: dict[str, str | int] = {
        k: v
        for k, v in {
            "limit": limit,
            "operation": operation,
            "environment": environment,
            "status": status,
            "context": context,
            "rule": rule,
            "fired": "true" if fired else None,
        }.items()
        if v is not None
    }
    count = 0
    with httpx.Client(base_url=url.rstrip("/"), timeout=10, headers=_admin_headers()) as http:
        while True:
            try:
                response = http.get("/_mock/journal", params={**params, "since": since})
            except httpx.HTTPError as exc:
                click.echo(f"journal: cannot reach {url}: {exc}", err=True)
                sys.exit(2)
            if response.status_code != 200:
                click.echo(f"journal: {response.status_code} {response.text}", err=True)
                sys.exit(2)
            data = response.json()
            for entry in data["entries"]:
                click.echo(
                    json.dumps(entry, ensure_ascii=False) if as_json else _format_entry(entry)
                )
            # Filters hide entries; the next poll still starts after the newest seq.
            since = max(since, int(data.get("lastSeq", since)))
            count += 1
            if not follow or (polls is not None and count >= polls):
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return


@main.command("reset", help="Reset the data of a running server (like a DEMO data reset).")
@_URL_OPTION
@click.option("--env", "environment", default=None, type=ENVIRONMENT_CHOICE, help="Default: all.")
def reset_cmd(url: str, environment: str | None) -> None:
    params = {"env": environment} if environment else {}
    click.echo(f"reset: {_admin('reset', url, 'POST', '/_mock/reset', params=params)['reset']}")


@main.command("clock", help="Show or move the clock of a running server.")
@_URL_OPTION
@click.option(
    "--advance",
    default=None,
    callback=_duration,
    help="Move forward: seconds or 90s, 15m, 2h, 1d.",
)
@click.option("--set", "set_to", default=None, callback=_instant, help="Set to an ISO date-time.")
@click.option("--mode", default=None, type=click.Choice(["real", "virtual", "offset"]))
def clock_cmd(url: str, advance: str | None, set_to: str | None, mode: str | None) -> None:
    body = {k: v for k, v in {"advance": advance, "set": set_to, "mode": mode}.items() if v}
    if body:
        data = _admin("clock", url, "POST", "/_mock/clock", json=body)
    else:
        data = _admin("clock", url, "GET", "/_mock/clock")
    click.echo(f"{data['mode']} {data['now']}")
