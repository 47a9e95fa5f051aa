"""Fixtures of the client tests: a harness per test, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.support import Harness


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The mock in-process and clients of both kinds (each test runs twice)."""
    h = Harness(request.param)
    yield h
    h.close()


@pytest.fixture
def sync_harness() -> Iterator[Harness]:
    h = Harness("sync")
    yield h
    h.close()
