"""The built wheel, installed into a fresh venv away from the source tree, works as a user gets it.

One test on purpose: under ``pytest -n 2`` the tests of one module may land on
both workers, and each would build its own venv; the steps also have an order
(the ``[contract]`` extra is checked absent, then installed).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from mockksef import official
from tests.conftest import wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mockksef", "ksefclient", "ksefcontract")
PIP_HINT = "pip install 'mockksef[contract]'"


def _pip(*args: str) -> list[str]:
    # The suite's own pip drives the fresh venv (--python), so the venv needs no pip
    # of its own; --no-compile spares the CPU that byte-compiling faker would take.
    return [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_the_wheel_in_a_fresh_venv_serves_lists_scenarios_and_gates_the_contract_extra(
    tmp_path: Path,
) -> None:
    # hatchling comes with the test extra, so no isolated build environment is made.
    subprocess.run(
        _pip("wheel", "--no-deps", "--no-build-isolation", str(ROOT), "-w", "dist"),
        cwd=tmp_path,
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("mockksef-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    catalogue = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert {f"{package}/py.typed" for package in PACKAGES} <= names
    assert {f"mockksef/_catalogue/{name}.yaml" for name in catalogue} <= names
    assert not [n for n in names if n.startswith("tests/") or n.endswith(("conftest.py", ".pyc"))]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = str(bin_dir / "python")
    install = ["--python", python, "install", "--no-compile"]
    subprocess.run(_pip(*install, str(wheel)), cwd=tmp_path, check=True, timeout=600)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MOCKKSEF_OFFICIAL_DIR"] = str(official.locate())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # From the temp dir, so nothing of the checkout is on the path.
        return subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    mockksef = str(bin_dir / "mockksef")
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v2"
    # Started first: it boots while the offline checks run.
    server = subprocess.Popen(
        [mockksef, "serve", "--port", str(port), "--log-level", "warning"]
        + ["--scenario", "dataset-small", "--no-rate-limits"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        located = run(python, "-c", "".join(f"import {p}; print({p}.__file__)\n" for p in PACKAGES))
        assert located.returncode == 0, located.stderr
        assert all(Path(p).is_relative_to(env_dir) for p in located.stdout.split()), located.stdout

        listed = run(mockksef, "scenario", "list")
        assert listed.returncode == 0, listed.stderr
        assert [line.split()[0] for line in listed.stdout.splitlines()] == catalogue
        assert "(invalid" not in listed.stdout

        assert run(mockksef, "contract", "--help").returncode == 0
        without = run(mockksef, "contract", "--base-url", base)
        assert without.returncode == 2, without.stderr
        assert without.stderr.strip().splitlines() == [
            f"mockksef contract needs the contract extra (no module 'hypothesis'): {PIP_HINT}"
        ]

        extra = subprocess.Popen(_pip(*install, f"{wheel}[contract]"), cwd=tmp_path)
        wait_until_healthy(server, base.removesuffix("/v2"))
        assert extra.wait(timeout=600) == 0
        # One operation proves the extra is enough; the full run is tests/contracts.
        checked = run(
            mockksef,
            "contract",
            "--base-url",
            base,
            "--self-signed-nip",
            "7393847205",
            "--examples",
            "1",
            "--operation",
            "auth.challenge",
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "PASSED" in checked.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
