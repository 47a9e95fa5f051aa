"""The pins name a script that exists, and that script reproduces them from the official files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from mockksef import official

ROOT = Path(__file__).resolve().parent.parent


def test_the_pins_name_a_script_that_rewrites_them_byte_for_byte(tmp_path: Path) -> None:
    comment = json.loads(official.PINS_FILE.read_text(encoding="utf-8"))["_comment"]
    (script,) = re.findall(r"scripts/\S+\.py", comment)
    out = tmp_path / "pins.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / script), str(official.locate()), "--pins", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == official.PINS_FILE.read_bytes()
