"""`mockksef serve` as a user runs it: the installed command, in a subprocess.

Before (issue 16): tracebacks for --environments test,staging, --default-env qa,
--log-level chatty; --environments demo --default-env test started and answered
500 on every /v2 call; --port 99999 printed 99999 and listened elsewhere; the
banner printed before a failed bind.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.kit import xades_login

MOCKKSEF = str(Path(sys.executable).with_name("mockksef"))
TOKEN = "cli-test-admin-token-0123456789"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MOCKKSEF, "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--environments", "test,staging"], {}, "--environments: unknown environment 'staging'"),
        (["--default-env", "qa"], {}, "--default-env: unknown environment 'qa'"),
        (["--log-level", "chatty"], {}, "'chatty' is not one of"),
        (["--port", "99999"], {}, "99999 is not in the range"),
        (["--port", "http"], {}, "'http' is not a valid integer"),
        (
            ["--environments", "demo", "--default-env", "test"],
            {},
            "--default-env: test is not among the enabled environments (demo)",
        ),
        (["--seed", "-3"], {}, "-3 is not in the range x>=0"),
        (["--clock-start", "yesterday"], {}, "--clock-start: 'yesterday' is not an ISO date-time"),
        (
            ["--public-base-url", "myhost:8080"],
            {},
            "--public-base-url: 'myhost:8080' needs a scheme",
        ),
        (["--admin-token", "short"], {}, "--admin-token: use at least 16"),
        (["--scenario", "no-such-scenario"], {}, "no-such-scenario"),
        (["--prot", "8080"], {}, "Did you mean"),
        ([], {"MOCKKSEF_DEFAULT_ENV": "qa"}, "MOCKKSEF_DEFAULT_ENV: unknown environment 'qa'"),
        ([], {"MOCKKSEF_SEED": "abc"}, "MOCKKSEF_SEED: 'abc' is not a number"),
        ([], {"MOCKKSEF_HEADER_TIMEOUT_SECONDS": "0"}, "MOCKKSEF_HEADER_TIMEOUT_SECONDS"),
        # Refused before binding: nothing listens on 0.0.0.0 during this test.
        (["--host", "0.0.0.0"], {}, "0.0.0.0 is reachable from other machines"),
        (["--host", "::"], {}, ":: is reachable from other machines"),
        (["--host", "myhost.example"], {}, "pass --admin-token TOKEN"),
    ],
)
def test_a_wrong_argument_is_one_line_and_exit_2(args, env, says) -> None:  # type: ignore[no-untyped-def]
    result = run(*args, env=env)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mockksef serve: ") and says in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no banner: nothing started


def test_a_port_in_use_is_one_line_and_no_banner() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"mockksef serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert result.stdout == ""


@dataclass
class Served:
    proc: subprocess.Popen[str]
    banner: list[str]
    base: str

    @property
    def seed(self) -> int:
        return int(httpx.get(f"{self.base}/_mock/health", timeout=5).json()["seed"])


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start `mockksef serve --port 0 ...`, read the banner to its last line, yield."""
    proc = subprocess.Popen(
        [MOCKKSEF, "serve", "--port", "0", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: queue.Queue[str] = queue.Queue()
    # A thread reads: select() on a buffered text pipe misses lines already buffered.
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()], daemon=True)
    reader.start()
    try:
        banner: list[str] = []
        while not banner or banner[-1] != "  stop: Ctrl+C":
            try:
                line = lines.get(timeout=30)
            except queue.Empty:
                raise AssertionError(f"no banner: {banner}") from None
            banner.append(line.rstrip("\n"))
        match = re.search(r"listening on (http://\S+)", banner[0])
        assert match, banner
        yield Served(proc, banner, match.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_the_banner_comes_after_the_bind_with_port_seed_clock_and_hints() -> None:
    with serve() as served:
        text = "\n".join(served.banner)
        port = int(served.base.rsplit(":", 1)[1])
        assert port != 0  # --port 0: the port actually bound is printed
        # The server is already listening when the banner is printed.
        assert httpx.get(f"{served.base}/_mock/health", timeout=5).status_code == 200
        for env in ("test", "demo", "prod"):
            assert re.search(rf"/{env}/v2\s+clock real, now \d{{4}}-", text), text
        assert "mockksef clock --mode" in text
        seed = served.seed
        assert f"seed: {seed} (fresh; replay with --seed {seed})" in text
        assert "admin: " in text and "(open on loopback)" in text
        assert f"--public-base-url http://$(hostname):{port}" in text


def test_each_start_draws_a_new_seed_and_old_jwts_die_with_the_process() -> None:
    with serve() as first:
        with httpx.Client(base_url=f"{first.base}/v2", timeout=10) as client:
            access = xades_login(client, "5265877635").access_token
            assert client.get("/auth/sessions", headers={"Authorization": f"Bearer {access}"})
        first_seed = first.seed
    with serve() as second:
        assert second.seed != first_seed
        answer = httpx.get(
            f"{second.base}/v2/auth/sessions",
            headers={"Authorization": f"Bearer {access}"},
            timeout=10,
        )
        assert answer.status_code == 401
    with serve("--seed", str(first_seed)) as replay:
        assert replay.seed == first_seed
        assert f"seed: {first_seed} (given with --seed)" in "\n".join(replay.banner)


def test_a_single_environment_is_what_plain_v2_serves() -> None:
    with serve("--environments", "demo") as served:
        assert re.search(r"/v2\s+->\s+demo", served.banner[1]), served.banner
        assert httpx.post(f"{served.base}/v2/auth/challenge", timeout=5).status_code == 200
        assert httpx.get(f"{served.base}/_mock/health", timeout=5).json()["environments"] == [
            "demo"
        ]


def test_an_admin_token_guards_the_admin_plane_of_a_served_process() -> None:
    with serve("--host", "127.0.0.2", env={"MOCKKSEF_ADMIN_TOKEN": TOKEN}) as served:
        assert served.base.startswith("http://127.0.0.2:")
        assert "(token required)" in "\n".join(served.banner)
        assert httpx.get(f"{served.base}/_mock/health", timeout=5).status_code == 401
        headers = {"X-Mock-Admin-Token": TOKEN}
        assert (
            httpx.get(f"{served.base}/_mock/health", headers=headers, timeout=5).status_code == 200
        )
        assert httpx.post(f"{served.base}/v2/auth/challenge", timeout=5).status_code == 200
        # The admin commands of the CLI send MOCKKSEF_ADMIN_TOKEN.
        clock = subprocess.run(
            [MOCKKSEF, "clock", "--url", served.base],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "MOCKKSEF_ADMIN_TOKEN": TOKEN},
        )
        assert clock.returncode == 0 and clock.stdout.startswith("real "), clock


def test_the_served_socket_has_the_header_limits() -> None:
    with serve() as served:
        many = {f"X-F{i}": "v" for i in range(150)}
        assert httpx.get(f"{served.base}/_mock/health", headers=many, timeout=5).status_code == 431
