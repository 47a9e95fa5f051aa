"""README.md tells the truth: its Python runs without a warning, its admin table names every verb."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mockksef.admin.routes import routes

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize(
    ("readme", "prints"),
    [("README.md", "10000\n"), ("client/README.md", "('Owner',)\n")],
)
def test_the_python_blocks_run_in_a_fresh_interpreter_without_a_warning(
    readme: str, prints: str, tmp_path: Path
) -> None:
    # Every block in order, as a reader pastes them; "python skip" blocks need KSeF TEST.
    text = (ROOT / readme).read_text(encoding="utf-8")
    script = tmp_path / "readme.py"
    script.write_text("\n".join(BLOCK.findall(text)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith(prints)


def test_the_admin_table_names_every_verb_with_its_methods() -> None:
    section = README.split("## The admin plane (`/_mock`)", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    for route in routes:
        path = "/_mock" + route.path  # type: ignore[attr-defined]
        found = [r for r in rows if re.search(re.escape(path) + r"(?![\w/{])", r)]
        assert found, f"{path} is not in the README's admin table"
        for method in route.methods - {"HEAD"}:  # type: ignore[attr-defined]
            assert any(method in row.split("|")[1] for row in found), (path, method)
