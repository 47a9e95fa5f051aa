"""Shared pieces of the persistence tests: a persisted state in-process, and what a client sees.

``opened(dir)`` is a ``MockState`` on ``--data dir`` behind an in-process client
(virtual clock at ``START``; a restart builds a fresh clock, so the clock
coming back is the file's doing). ``Observer`` reads everything a client can
read about the things a test made, so that "nothing changed across a restart"
is one equality of two dictionaries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.spec import Spec
from tests import spec_check
from tests.conftest import START

BASE = MockConfig(
    seed=1234,
    clock_mode="virtual",
    rate_limits_enabled=False,
    extra={"raise_server_errors": True},
)


def persisted(directory: Path | str | None, **changes: Any) -> MockConfig:
    return replace(BASE, data_dir=None if directory is None else str(directory), **changes)


def new_state(directory: Path | str | None, spec: Spec, **changes: Any) -> MockState:
    return MockState(persisted(directory, **changes), spec=spec, clock=Clock.virtual(START))


@contextlib.contextmanager
def client_of(state: MockState) -> Iterator[TestClient]:
    with TestClient(create_app(state=state), base_url="http://testserver/v2") as client:
        client.event_hooks["response"] = [spec_check.hook(state.spec)]
        yield client


@contextlib.contextmanager
def opened(
    directory: Path | str, spec: Spec, **changes: Any
) -> Iterator[tuple[TestClient, MockState]]:
    """A state on ``directory`` and its client; the directory is released on exit
    without a final commit (what the answers committed is all that is kept)."""
    state = new_state(directory, spec, **changes)
    try:
        with client_of(state) as client:
            yield client, state
    finally:
        state.persistence.close()


def answer(response: Any) -> tuple[int, Any]:
    """Status and body of an answer, JSON decoded when it is JSON."""
    kind = response.headers.get("content-type", "")
    body: Any = response.json() if "json" in kind else response.content
    return response.status_code, body


def metadata_page(
    client: Any, headers: dict[str, str], date_range: dict[str, Any], offset: int, size: int
) -> Any:
    """One page of the seller's (Subject1) metadata query, which must answer 200."""
    response = client.post(
        "/invoices/query/metadata",
        headers=headers,
        params={"pageOffset": offset, "pageSize": size},
        json={"subjectType": "Subject1", "dateRange": date_range},
    )
    assert response.status_code == 200, response.text
    return response.json()
