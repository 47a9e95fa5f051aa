"""Fixtures of the console tests: a real server and, for the browser tests, Debian's Chromium.

The browser tests drive ``/usr/bin/chromium`` (``apt-get install chromium``) with
Playwright for Python; no browser is ever downloaded. Without a browser they
skip with the reason, except in CI (``CI=true``), where a missing browser fails.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.server import ThreadedServer
from mockksef.spec import Spec
from tests.conftest import START

ROOT = Path(__file__).resolve().parent.parent.parent


def screenshots_script() -> ModuleType:
    """``scripts/screenshots.py``: it knows how to launch the browser, and is tested too."""
    spec = importlib.util.spec_from_file_location(
        "screenshots", ROOT / "scripts" / "screenshots.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def need_a_browser() -> ModuleType:
    """The screenshot script (which launches the browser), or a skip; in CI, a failure."""
    try:
        import playwright.sync_api  # noqa: F401

        reason = None
    except ImportError:
        reason = "Playwright for Python is not installed (pip install -e '.[test]')"
    script = screenshots_script() if reason is None else None
    if script is not None and not script.CHROMIUM.exists():
        reason = f"no {script.CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the console's browser tests must run in CI: {reason}")
        pytest.skip(reason)
    assert script is not None
    return script


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Not session-wide: while Playwright's sync API is up, its event loop is the
    # thread's running loop, and later tests of the worker could not asyncio.run().
    script = need_a_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = script.launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def console_server(spec: Spec) -> Iterator[tuple[ThreadedServer, MockState]]:
    """The whole app on a real uvicorn socket, virtual clock, rate limits off."""
    config = MockConfig(seed=1234, clock_mode="virtual", rate_limits_enabled=False)
    state = MockState(config, spec=spec, clock=Clock.virtual(START))
    with ThreadedServer(create_app(state=state)) as server:
        yield server, state


@pytest.fixture
def page(browser: Any, console_server: tuple[ThreadedServer, MockState]) -> Iterator[Any]:
    """A fresh browser page; closed before the server stops (its streams end with it)."""
    context = browser.new_context(locale="pl-PL", viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
