"""Every ``python`` block of client/README.md runs as written, in order, in one namespace."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "client" / "README.md"
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_readme_examples_run() -> None:
    blocks = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "readme"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for number, code in enumerate(blocks, 1):
            exec(compile(code, f"README block {number}", "exec"), namespace)
    text = output.getvalue()
    assert "('Owner',)" in text
    assert "(21164,)" in text
    assert "Faktura o podanym identyfikatorze nie istnieje." in text


def test_main_readme_client_section_runs() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The bundled client", 1)[1].split("\n## ", 1)[0]
    (code,) = BLOCK.findall(section)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, "README.md: The bundled client", "exec"), {"__name__": "readme"})
    assert output.getvalue().strip() == "10000"
