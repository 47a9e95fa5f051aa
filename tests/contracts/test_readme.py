"""``contracts/README.md`` is run, not just read: its Python example and its command lines."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import click

from mockksef.cli import main

README = Path(__file__).resolve().parents[2] / "contracts" / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text("utf-8"), re.DOTALL)


def test_the_python_example_runs_and_passes() -> None:
    (example,) = _blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(README), "exec"), {"__name__": "readme"})
    assert "PASSED" in out.getvalue()


def test_every_option_the_page_mentions_exists() -> None:
    """A renamed or dropped option of ``mockksef serve``/``contract`` breaks this page."""
    known: set[str] = set()
    for name in ("serve", "contract"):
        command = main.commands[name]
        for param in command.params:
            if isinstance(param, click.Option):
                known.update(param.opts, param.secondary_opts)
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", README.read_text("utf-8")))
    assert mentioned, "the page shows options"
    assert mentioned <= known, sorted(mentioned - known)


def test_the_install_line_is_the_one_the_cli_prints() -> None:
    assert any("pip install 'mockksef[contract]'" in block for block in _blocks("bash"))
