"""Server processes for the socket benchmarks (started and stopped by their own pid)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from bench._common import ROOT, python


class ServerProcess:
    """A child process serving on 127.0.0.1; ``stop()`` ends exactly that process."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (Linux; 0 elsewhere)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def start_bench_server(
    args: Sequence[str], ready_path: str, timeout: float = 60.0
) -> ServerProcess:
    """``python -m bench._serve ARGS``: reads the port it prints, waits until it answers."""
    proc = subprocess.Popen(
        [python(), "-m", "bench._serve", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode("ascii", "replace").strip()
    if not line.startswith("PORT "):
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        proc.kill()
        raise RuntimeError(f"bench server did not start: {line!r} {err[-2000:]}")
    server = ServerProcess(proc, int(line.split()[1]))
    wait_ready(server, ready_path, timeout)
    return server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_cli_server(
    extra: Sequence[str] = (),
    timeout: float = 60.0,
    ready: tuple[str, str] = ("GET", "/_mock/health"),
) -> ServerProcess:
    """``mockksef serve`` as a user starts it (its output goes to /dev/null), once
    ``ready`` (method, path) answers."""
    port = free_port()
    proc = subprocess.Popen(
        [python(), "-m", "mockksef", "serve", "--port", str(port), *extra],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = ServerProcess(proc, port)
    wait_ready(server, ready[1], timeout, ready[0])
    return server


# Loopback only: never through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def status_of(server: ServerProcess, method: str, path: str) -> int | None:
    """The status of one request with an empty body, read whole; None when nothing answers."""
    request = urllib.request.Request(
        server.base + path, method=method, data=b"" if method != "GET" else None
    )
    try:
        with _OPENER.open(request, timeout=2) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def wait_ready(server: ServerProcess, path: str, timeout: float, method: str = "GET") -> float:
    """Poll ``path`` until it answers 2xx; returns when it did (monotonic seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}")
        status = status_of(server, method, path)
        if status is not None and 200 <= status < 300:
            return time.monotonic()
        time.sleep(0.002)
    server.stop()
    raise RuntimeError(f"server did not answer {path} within {timeout} s")
