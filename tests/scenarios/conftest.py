"""Fixtures of the scenario tests: raw clients (no spec hook: faults break shapes on purpose)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mockksef import MockState


@pytest.fixture
def raw(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """In-process client at the server root (paths carry their own prefix)."""
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=True) as c:
        yield c


@pytest.fixture
def engine(mock: MockState):  # type: ignore[no-untyped-def]
    return mock.scenarios
