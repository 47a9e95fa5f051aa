"""COVERAGE.md is generated; it must match what the code implements."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_coverage_md_is_current():
    spec = importlib.util.spec_from_file_location(
        "gen_coverage", ROOT / "scripts" / "gen_coverage.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert (ROOT / "COVERAGE.md").read_text(encoding="utf-8") == module.render(), (
        "run: python scripts/gen_coverage.py"
    )
