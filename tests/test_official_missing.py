"""Without the official files the test run stops before collection, with serve's message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_pytest_stops_at_once_naming_where_the_official_files_come_from(tmp_path: Path) -> None:
    empty = tmp_path / "official"
    empty.mkdir()
    # A named directory is the only place looked at: no ../shared or cache fallback.
    env = {**os.environ, "MOCKKSEF_OFFICIAL_DIR": str(empty), "XDG_CACHE_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/unit/test_core.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert run.stderr.startswith(f"ERROR: The official KSeF files were not found in {empty}")
    assert "https://github.com/CIRFMF/ksef-api" in run.stderr
    assert "export MOCKKSEF_OFFICIAL_DIR=" in run.stderr and "mockksef sync" in run.stderr
    assert "Traceback" not in run.stderr and "passed" not in run.stdout
    assert "failed" not in run.stdout and "error" not in run.stdout.lower()
