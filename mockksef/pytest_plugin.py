"""pytest plugin (entry point ``pytest11``): fixtures for projects that test against mockksef.

* ``ksef_app``    – an in-process app (Starlette's ``TestClient``, httpx ``ASGITransport``);
  its state is ``ksef_app.state.mock``;
* ``ksef_http``   – a synchronous ``httpx.Client`` on ``ksef_app`` (base URL
  ``http://testserver/v2``) over ``mockksef.testing.InProcessTransport``: the app
  answers in the test's own thread, about three times faster than ``TestClient``;
  pass it as ``KsefClient(http_client=ksef_http, ...)``; its app is ``ksef_http.app``;
* ``ksef_server`` – the same on a real uvicorn socket (``.url``, ``.state``);
* ``ksef_certificate`` – ``ksef_certificate(nip=...)`` makes a fresh self-signed test
  certificate for XAdES login (``seal=True``: a company seal; ``key_type="rsa"``: RSA
  2048 instead of the default ECDSA P-256; other arguments go to
  ``ksefclient.xades.personal_certificate``/``seal_certificate``). The key of a NIP
  and key type is made once per test session; every call issues a new certificate.

Both start from a fresh state per test: a frozen (virtual) clock, seed 0, every
environment. ``@pytest.mark.mockksef(...)`` on a test, class or module changes that:

* ``scenario`` – a catalogue name, a YAML path or a ``Scenario`` (or a list of
  them), activated before the test;
* ``env`` – ``test``, ``demo`` or ``prod``: the environment under plain ``/v2``
  (and where a scenario without ``environments`` sets up its data);
* ``clock`` – ``virtual`` (frozen; the default, also for a scenario's own clock),
  ``offset`` (runs from the scenario's start), ``real``, or a date-time to freeze at;
* ``seed`` – the identifiers' random seed (default 0).

The official files are located as ``mockksef serve`` does (``MOCKKSEF_OFFICIAL_DIR``,
``../shared``, the cache).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ksefclient.xades import SigningCredentials
    from mockksef.spec import Spec
    from mockksef.state import MockState

MARKER = "mockksef"
MARKER_HELP = (
    "mockksef(scenario=None, env=None, clock='virtual', seed=0): set up the ksef_app and "
    "ksef_server fixtures: scenarios to activate (catalogue name, YAML path, or a list), "
    "the environment under plain /v2, the clock mode (virtual, offset, real) or an instant "
    "to freeze at, the random seed"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


@dataclass(frozen=True)
class _Options:
    scenarios: tuple[Any, ...] = ()
    env: str | None = None
    clock: str = "virtual"
    freeze_at: datetime | None = None
    seed: int = 0


def _options(request: pytest.FixtureRequest) -> _Options:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return _Options()
    from mockksef.clock import CLOCK_MODES, parse_datetime
    from mockksef.environments import Env

    where = f"@pytest.mark.{MARKER}"
    unknown = sorted(set(marker.kwargs) - {"scenario", "env", "clock", "seed"})
    if marker.args or unknown:
        given = ", ".join(unknown) if unknown else "a positional argument"
        pytest.fail(f"{where}: takes scenario=, env=, clock=, seed= (got {given})", pytrace=False)
    scenario = marker.kwargs.get("scenario")
    scenarios = tuple(scenario) if isinstance(scenario, list | tuple) else (scenario,)
    env = marker.kwargs.get("env")
    if env is not None and env not in {e.value for e in Env}:
        pytest.fail(f"{where}: env={env!r} is not test, demo or prod", pytrace=False)
    clock: Any = marker.kwargs.get("clock", "virtual")
    freeze_at: datetime | None = None
    if isinstance(clock, datetime):
        clock, freeze_at = "virtual", clock
    elif clock not in CLOCK_MODES:
        try:
            freeze_at = parse_datetime(str(clock))
        except ValueError:
            freeze_at = None
        if freeze_at is None:  # failed outside the except: no chained "during handling"
            pytest.fail(
                f"{where}: clock={clock!r} is not one of {', '.join(CLOCK_MODES)} "
                "nor an ISO date-time",
                pytrace=False,
            )
        clock = "virtual"
    seed = marker.kwargs.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        pytest.fail(f"{where}: seed={seed!r} is not a whole number >= 0", pytrace=False)
    return _Options(tuple(s for s in scenarios if s is not None), env, clock, freeze_at, seed)


def freeze_long_lived() -> None:
    """Keep what a test session loads once out of the cyclic collector's passes.

    Imports, the parsed spec, the XSD and signature machinery stay for the whole
    session, and every full pass of the collector walked them again: about a
    millisecond of each end-to-end flow (issue 17). Garbage is collected first;
    objects made afterwards (each test's state) are collected as usual.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def _ksef_spec() -> Spec:
    # Read once per session: every test's state shares the parsed official contract.
    from mockksef import official
    from mockksef.spec import Spec

    spec = Spec.from_dir(official.locate())
    freeze_long_lived()
    return spec


def _state(options: _Options, spec: Spec) -> MockState:
    from mockksef import MockConfig, MockState
    from mockksef.clock import Clock
    from mockksef.environments import Env
    from mockksef.scenarios import ScenarioError

    # A fixed seed: a project's tests see the same identifiers on every run
    # (a served mockksef draws a fresh one per start instead).
    config = MockConfig(clock_mode=options.clock, seed=options.seed)
    if options.env is not None:
        config = replace(config, default_env=Env(options.env))
    clock = Clock(options.clock, options.freeze_at)  # type: ignore[arg-type]
    state = MockState(config, spec=spec, clock=clock)
    problem = None
    try:
        for scenario in options.scenarios:
            state.scenarios.activate(scenario, clock=options.clock)
    except (ScenarioError, ValueError) as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)
    if options.freeze_at is not None:
        state.clock.set(options.freeze_at)
    return state


_HOLDER_FIELDS = ("nip", "pesel", "serial_number", "organization_identifier")


@pytest.fixture(scope="session")
def ksef_certificate() -> Callable[..., SigningCredentials]:
    from ksefclient import xades

    keys: dict[tuple[object, ...], xades.PrivateKey] = {}

    def make(*, seal: bool = False, key_type: str = "ec", **fields: Any) -> SigningCredentials:
        # One key per holder: generating it is the cost (RSA 2048: tens of milliseconds).
        holder = (seal, key_type, *(fields.get(f) for f in _HOLDER_FIELDS))
        key = keys.get(holder)
        if key is None:
            key = keys[holder] = xades.new_key(key_type)
        issue = xades.seal_certificate if seal else xades.personal_certificate
        return issue(key=key, key_type=key_type, **fields)

    return make


@pytest.fixture
def ksef_app(request: pytest.FixtureRequest, _ksef_spec: Spec) -> Any:
    from mockksef import create_app

    return create_app(state=_state(_options(request), _ksef_spec))


@pytest.fixture
def ksef_http(ksef_app: Any) -> Iterator[Any]:
    import httpx

    from mockksef.testing import InProcessTransport

    with httpx.Client(
        transport=InProcessTransport(ksef_app), base_url="http://testserver/v2"
    ) as client:
        client.app = ksef_app  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def ksef_server(request: pytest.FixtureRequest, _ksef_spec: Spec) -> Iterator[Any]:
    from mockksef import create_app
    from mockksef.server import ThreadedServer

    state = _state(_options(request), _ksef_spec)
    with ThreadedServer(create_app(state=state)) as server:
        server.state = state  # type: ignore[attr-defined]
        yield server
