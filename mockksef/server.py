"""Run the app on a real uvicorn socket in a background thread (tests, tools)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette


class ThreadedServer:
    def __init__(
        self, app: Starlette, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: object
    ) -> None:
        self.app = app
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        # uvicorn trusts X-Forwarded-For from loopback by default; the mock decides
        # that itself (MockConfig.trusted_proxy), as `mockksef serve` does.
        state = getattr(getattr(app, "state", None), "mock", None)
        trusted = bool(state and state.config.trusted_proxy)
        options = {
            "log_level": "warning",
            "lifespan": "off",
            "proxy_headers": trusted,
            **uvicorn_options,
        }
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port, **options))  # type: ignore[arg-type]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
