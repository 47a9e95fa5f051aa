"""``mockksef snapshot save|load|list|delete|download|upload``: snapshots of a running server.

Each command is one call to the server's admin plane (``/_mock/snapshots``), so the
snapshots live where the server keeps them (``serve --snapshot-dir``, else beside
``--data``). A server's refusal (an unknown name, one that exists, a file that is not
a snapshot) is one line on stderr and exit code 1; a wrong argument or an unreachable
server, exit code 2, like the other commands.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mockksef.cli import _URL_OPTION, ENVIRONMENT_CHOICE, _admin_headers, main

if TYPE_CHECKING:
    import httpx

# Saving or loading a million invoices takes about a minute.
READ_SECONDS = 600.0


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from mockksef.persistence.snapshots import NAME

    if not NAME.fullmatch(value):
        raise click.BadParameter(f"{value!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return value


_NAME = click.argument("name", callback=_name)
_ENVS = click.option(
    "--env",
    "environments",
    multiple=True,
    type=ENVIRONMENT_CHOICE,
    help="Only this environment (repeatable). Default: all.",
)


def _fail(command: str, message: str, code: int) -> NoReturn:
    click.echo(f"mockksef snapshot {command}: {message}", err=True)
    sys.exit(code)


@contextmanager
def _call(
    command: str, url: str, method: str, path: str, ok: int, **send: Any
) -> Iterator[httpx.Response]:
    """One streamed admin call: the response when it is ``ok``, else one line and exit."""
    import httpx

    timeout = httpx.Timeout(10.0, read=READ_SECONDS, write=READ_SECONDS)
    try:
        with httpx.stream(
            method,
            f"{url.rstrip('/')}/_mock/snapshots{path}",
            headers=_admin_headers(),
            timeout=timeout,
            **send,
        ) as response:
            if response.status_code != ok:
                response.read()
                try:
                    reason = str(response.json()["error"])
                except (ValueError, KeyError, TypeError):
                    # Other refusals (the guard's 401, a 400 21405) are JSON of their own.
                    reason = response.text.strip() or response.reason_phrase
                _fail(command, f"{reason} ({response.status_code})", 1)
            yield response
    except httpx.HTTPError as exc:
        _fail(command, f"cannot reach {url}: {exc}", 2)


def _json(command: str, url: str, method: str, path: str, ok: int = 200, **send: Any) -> Any:
    with _call(command, url, method, path, ok, **send) as response:
        response.read()
        return response.json()


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _invoices(described: dict[str, Any]) -> str:
    counts = described.get("invoices") or {}
    return ", ".join(f"{env} {n}" for env, n in counts.items()) or "0"


def _summary(described: dict[str, Any]) -> str:
    return (
        f"{described['name']}: {', '.join(described['environments'])}; "
        f"invoices {_invoices(described)}; clock {described.get('clock') or '-'}; "
        f"{_size(int(described['size']))}"
    )


@main.group(help="Snapshots of a running server: save, load, list, delete, download, upload.")
def snapshot() -> None:
    pass


@snapshot.command("save", help="Save the server's state (all environments, or --env) as NAME.")
@_URL_OPTION
@_NAME
@_ENVS
@click.option("--overwrite", is_flag=True, default=False, help="Replace a snapshot NAME.")
def save(url: str, name: str, environments: tuple[str, ...], overwrite: bool) -> None:
    body: dict[str, Any] = {"name": name, "overwrite": overwrite}
    if environments:
        body["environments"] = list(environments)
    described = _json("save", url, "POST", "", ok=201, json=body)
    click.echo(f"saved {_summary(described)}")
    click.echo(f"  {described['path']}")


@snapshot.command("load", help="Replace the server's state with snapshot NAME (or only --env).")
@_URL_OPTION
@_NAME
@_ENVS
def load(url: str, name: str, environments: tuple[str, ...]) -> None:
    body = {"environments": list(environments)} if environments else {}
    report = _json("load", url, "POST", f"/{name}/load", json=body)
    # The clock and the scenarios are shared: they come back only with every environment.
    clock = "clock" if report["scenarios"] is not None else "clock left at"
    click.echo(f"loaded {name}: {', '.join(report['loaded'])}; {clock} {report['clock']}")


@snapshot.command("list", help="List the server's snapshots.")
@_URL_OPTION
@click.option("--json", "as_json", is_flag=True, default=False, help="The server's JSON.")
def list_cmd(url: str, as_json: bool) -> None:
    data = _json("list", url, "GET", "")
    if as_json:
        import json

        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    found = data["snapshots"]
    if not found:
        click.echo(f"no snapshots in {data['directory']}")
        return
    rows = [("NAME", "ENVIRONMENTS", "INVOICES", "CLOCK", "SIZE", "SAVED")]
    for item in found:
        if "error" in item:
            rows.append((item["name"], "-", "-", "-", "-", f"unreadable: {item['error']}"))
            continue
        rows.append(
            (
                item["name"],
                ",".join(item["environments"]),
                _invoices(item),
                str(item.get("clock") or "-")[:19],
                _size(int(item["size"])),
                str(item["modified"])[:19],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    click.echo(f"({len(found)} in {data['directory']})")


@snapshot.command("delete", help="Delete snapshot NAME.")
@_URL_OPTION
@_NAME
def delete(url: str, name: str) -> None:
    with _call("delete", url, "DELETE", f"/{name}", ok=204):
        pass
    click.echo(f"deleted {name}")


@snapshot.command("download", help="Copy snapshot NAME to FILE (a .ksefsnap file to mail).")
@_URL_OPTION
@_NAME
@click.argument("file", type=click.Path(path_type=Path))
def download(url: str, name: str, file: Path) -> None:
    target = file / f"{name}.ksefsnap" if file.is_dir() else file
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        _fail("download", f"{target}: cannot write here ({exc.strerror})", 2)
    size = 0
    try:
        with (
            os.fdopen(fd, "wb") as handle,
            _call("download", url, "GET", f"/{name}/file", 200) as r,
        ):
            for chunk in r.iter_bytes():
                handle.write(chunk)
                size += len(chunk)
        # Whole or not at all: a broken download never takes the file's name.
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)
    click.echo(f"downloaded {name} to {target} ({_size(size)})")


@snapshot.command("upload", help="Give the server snapshot FILE (a mailed .ksefsnap) as NAME.")
@_URL_OPTION
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_NAME
@click.option("--overwrite", is_flag=True, default=False, help="Replace a snapshot NAME.")
def upload(url: str, file: Path, name: str, overwrite: bool) -> None:
    params = {"overwrite": "true"} if overwrite else {}
    with file.open("rb") as body:
        described = _json(
            "upload", url, "PUT", f"/{name}/file", ok=201, content=body, params=params
        )
    click.echo(f"uploaded {_summary(described)}")
