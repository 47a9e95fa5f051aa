"""A server process for the benchmarks: one uvicorn worker, uvloop + httptools, 127.0.0.1 only.

    python -m bench._serve mock [--journal on|off] [--rate-limits]
    python -m bench._serve bare

Binds an ephemeral port on 127.0.0.1, prints ``PORT <n>`` on stdout and serves
until killed. ``bare`` is a plain Starlette app with endpoints of the same
shape as the two measured operations (same paths, methods and JSON bodies),
so that the framework's own limit is measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from dataclasses import replace

import uvicorn

CHALLENGE = {
    "challenge": "20260302-CR-1C6D0E1000-A1B2C3D4E5-7F",
    "timestamp": "2026-03-02T09:00:00.1234560+00:00",
    "timestampMs": 1772442000123,
    "clientIp": "127.0.0.1",
}


def bare_app():  # type: ignore[no-untyped-def]
    """The framework limit: Starlette, one async route per operation, JSON from a dict.

    The public-key body is the mock's own listing (two RSA-2048 certificates),
    rendered once, so both servers send the same bytes.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from mockksef import MockConfig, MockState

    keys = MockState(MockConfig()).env("test").public_keys.listing()

    async def challenge(request: Request) -> Response:
        return Response(json.dumps(CHALLENGE), media_type="application/json")

    async def public_keys(request: Request) -> Response:
        return Response(json.dumps(keys), media_type="application/json")

    return Starlette(
        routes=[
            Route("/v2/auth/challenge", challenge, methods=["POST"]),
            Route("/v2/security/public-key-certificates", public_keys, methods=["GET"]),
        ]
    )


def mock_app(journal: bool, rate_limits: bool):  # type: ignore[no-untyped-def]
    from mockksef import MockConfig, create_app

    config = MockConfig.from_env()
    config = replace(config, rate_limits_enabled=rate_limits, journal_enabled=journal)
    return create_app(config)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["mock", "bare"])
    parser.add_argument("--journal", choices=["on", "off"], default="on")
    parser.add_argument("--rate-limits", action="store_true")
    args = parser.parse_args()
    app = (
        bare_app()
        if args.kind == "bare"
        else mock_app(args.journal == "on", bool(args.rate_limits))
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    sys.stdout.flush()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
