"""``mockksef explain``: what a pasted error message or code means."""

from __future__ import annotations

import sys

import click

from mockksef.cli import main


@main.command(
    help="Look up what a customer pasted (an error message, an exception code such as 21418, "
    "an HTTP status, 'Zbyt wiele żądań'…): the matching KSeF codes and catalogue scenarios, "
    "with their causes and fixes."
)
@click.argument("text", nargs=-1, required=True)
@click.option("--lang", default="pl", type=click.Choice(["pl", "en"]), show_default=True)
@click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON.")
def explain(text: tuple[str, ...], lang: str, as_json: bool) -> None:
    from mockksef.explain import explain as look_up
    from mockksef.explain import format_text

    result = look_up(" ".join(text))
    if as_json:
        import json

        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_text(result, lang))
    if not result:
        sys.exit(1)
