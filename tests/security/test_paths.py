"""Path traversal on what the server serves by path: the console's static files, the storage.

Already held before issue 13. The request lines are sent as written, over a
socket (an HTTP client would normalise the dots away). Traversal names inside
batch archives: ``tests/api/test_sessions_batch.py`` and
``tests/unit/test_sessions_archive.py``; altered storage links:
``tests/api/test_sessions_status.py``.
"""

from __future__ import annotations

import socket

import pytest

from mockksef.server import ThreadedServer
from tests.security.hostile import PATIENCE, answers_health

TARGETS = [
    "/_mock/console/static/../../../config.py",
    "/_mock/console/static/..%2f..%2f..%2fconfig.py",
    "/_mock/console/static/%2e%2e/%2e%2e/%2e%2e/config.py",
    "/_mock/console/static/....//....//etc/passwd",
    "/storage/test/..%2f..%2f..%2fetc/invoice-upo/passwd",
    "/storage/..%2f..%2fetc/x/session-upo/passwd?sig=x&se=x&sp=r",
]
# What would show if any of them reached a file: mockksef/config.py or /etc/passwd.
LEAKS = (b"MockConfig", b"root:")


def _raw_get(server: ThreadedServer, target: str) -> bytes:
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
    return answer


@pytest.mark.server
@pytest.mark.parametrize("target", TARGETS)
def test_dots_in_a_path_never_reach_a_file(server: ThreadedServer, target: str) -> None:
    answer = _raw_get(server, target)
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 401, 403, 404), answer[:300]
    assert not any(leak in answer for leak in LEAKS)
    assert answers_health(server)


@pytest.mark.server
def test_the_static_files_are_where_the_attempts_aim(server: ThreadedServer) -> None:
    """The control: the same mount serves its own files, so the 404s above are refusals."""
    assert _raw_get(server, "/_mock/console/static/console.css").startswith(b"HTTP/1.1 200")
