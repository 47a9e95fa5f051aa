"""pytest plugin (entry point ``pytest11``): fixtures for projects that test against mockksef.

* ``ksef_app``    – an in-process app with a virtual clock (httpx ``ASGITransport``);
* ``ksef_server`` – the same on a real uvicorn socket (``.url``, ``.state``).

Both start from a fresh state per test. The official files are located as
``mockksef serve`` does (``MOCKKSEF_OFFICIAL_DIR``, ``../shared``, the cache).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def ksef_app() -> Any:
    from mockksef import MockConfig, create_app

    # A fixed seed: a project's tests see the same identifiers on every run
    # (a served mockksef draws a fresh one per start instead).
    return create_app(MockConfig(clock_mode="virtual", seed=0))


@pytest.fixture
def ksef_server() -> Iterator[Any]:
    from mockksef import MockConfig, MockState, create_app
    from mockksef.server import ThreadedServer

    state = MockState(MockConfig(clock_mode="virtual", seed=0))
    with ThreadedServer(create_app(state=state)) as server:
        server.state = state  # type: ignore[attr-defined]
        yield server
