"""``mockksef scenario``: the bundled catalogue, list, show, validate, the JSON Schema."""

from __future__ import annotations

import sys

import click

from mockksef.cli import main


@main.group(help="Scenario files: the bundled catalogue, show, validate, the JSON Schema.")
def scenario() -> None:
    pass


@scenario.command("list", help="List the scenarios of the bundled catalogue.")
def scenario_list() -> None:
    from mockksef.scenarios import ScenarioError, catalogue_names, resolve

    names = catalogue_names()
    if not names:
        click.echo("the catalogue is empty")
        return
    width = max(len(n) for n in names)
    for name in names:
        try:
            description = resolve(name).description
        except ScenarioError as exc:
            description = f"(invalid: {exc.problems[0]})"
        click.echo(f"{name:{width}}  {description}")


@scenario.command("show", help="Show a scenario: explanation, setup, rules.")
@click.argument("name_or_path")
@click.option("--lang", default="en", type=click.Choice(["en", "pl"]), show_default=True)
@click.option("--yaml", "as_yaml", is_flag=True, default=False, help="Print the YAML source.")
def scenario_show(name_or_path: str, lang: str, as_yaml: bool) -> None:
    from mockksef.scenarios import ScenarioError, resolve

    try:
        item = resolve(name_or_path)
    except ScenarioError as exc:
        raise click.UsageError(str(exc)) from None
    if as_yaml:
        import yaml

        click.echo(yaml.safe_dump(item.to_dict(), allow_unicode=True, sort_keys=False), nl=False)
        return
    click.echo(f"{item.name} — {item.description}" if item.description else item.name)
    click.echo(f"  source: {item.source}")
    explain = item.explanation(lang)
    if explain:
        for key in ("symptom", "cause", "fix"):
            click.echo(f"  {key}: {explain[key]}")
    if item.environments:
        click.echo(f"  environments: {', '.join(item.environments)}")
    if item.clock_mode or item.clock_start:
        click.echo(f"  clock: {item.clock_mode or ''} {item.clock_start or ''}".rstrip())
    for kind, items in item.setup.items():
        click.echo(f"  setup {kind}: {len(items)}")
    from mockksef.credentials import describe, planned

    promised = planned(item)
    if promised:
        click.echo("  credentials:")
        for line in describe(promised, indent="    "):
            click.echo(line)
        click.echo(
            f"    `mockksef serve --scenario {name_or_path} --write-credentials DIR` "
            f"writes them to DIR/{item.name}/ (tokens, PEM and PFX certificates)"
        )
    for rule in item.rules:
        actions = ", ".join(t.kind for t in rule.then)
        shape = f"[{actions}]" if rule.sequence else actions
        click.echo(f"  rule {rule.name}: {shape}")
        text = rule.explanation(lang)
        if text:
            click.echo(f"      {text}")
    if item.require_all_fired:
        click.echo("  require_all_fired: true")


@scenario.command(
    "validate",
    help="Validate scenario files (or catalogue names); no argument = the whole catalogue.",
)
@click.argument("items", nargs=-1)
def scenario_validate(items: tuple[str, ...]) -> None:
    from mockksef.scenarios import ScenarioError, catalogue_names, resolve

    targets = list(items) or catalogue_names()
    failed = 0
    for target in targets:
        try:
            item = resolve(target)
        except ScenarioError as exc:
            failed += 1
            for line in exc.problems:
                click.echo(line, err=True)
            continue
        click.echo(f"ok  {target} ({item.name}, {len(item.rules)} rules)")
    if failed:
        click.echo(f"{failed} of {len(targets)} invalid", err=True)
        sys.exit(1)


@scenario.command("schema", help="Print the JSON Schema of scenario files.")
def scenario_schema() -> None:
    from mockksef.scenarios import schema_text

    click.echo(schema_text(), nl=False)
