"""The official files and operations: ``mockksef sync``, ``official``, ``operations``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mockksef import official
from mockksef.cli import main


@main.command(
    help="Fill the user cache with the official files from a directory or base URL, verified by SHA-256."
)
@click.argument("source")
@click.option("--target", default=None, type=click.Path(file_okay=False))
def sync(source: str, target: str | None) -> None:
    if not source.startswith(("http://", "https://")) and not Path(source).is_dir():
        raise click.UsageError(f"{source}: neither a directory nor an http(s) base URL")
    try:
        path = official.sync(source, Path(target) if target else None)
    except (official.PinMismatch, OSError) as exc:
        click.echo(f"sync failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"official files verified and copied to {path}")


@main.command(
    "official", help="Show where the official files are read from and whether they match the pins."
)
@click.option("--official-dir", default=None)
def official_cmd(official_dir: str | None) -> None:
    try:
        path = official.locate(official_dir)
    except official.OfficialFilesMissing as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    problems = official.verify(path)
    click.echo(f"official directory: {path}")
    if problems:
        for rel, problem in sorted(problems.items()):
            click.echo(f"  {rel}: {problem}")
        sys.exit(1)
    click.echo(f"  all {len(official.pins())} files match their SHA-256 pins")


@main.command(help="List the official operations and whether the mock implements them.")
def operations() -> None:
    from mockksef import operations as ops
    from mockksef.services import all_routes

    implemented = {getattr(r, "name", None) for r in all_routes()}
    for op in ops.OPERATIONS:
        mark = "x" if op.id in implemented else " "
        click.echo(f"[{mark}] {op.method:6} {op.path:70} {op.id}")
