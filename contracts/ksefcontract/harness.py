"""Run the official contract against any KSeF server: mockksef in-process, a URL, the real TEST.

::

    harness = Harness(Target.url("https://api-test.ksef.mf.gov.pl/v2"),
                      credentials=Credentials.ksef_token(token, nip="5265877635"),
                      budget=Budget(examples=20, time_limit=600))
    report = harness.run()          # ksefcontract.report.Report
    print(render_text(report))

What one run does:

1. logs in for real (the ``auth`` flow: challenge → XAdES or KSeF token →
   status → redeem → refresh), so that protected operations are exercised and
   not only their 401;
2. runs the stateful flows the official spec has no links for
   (:mod:`ksefcontract.stateful`), and sends every official path a method it
   does not serve, expecting 405 with an ``Allow`` header (RFC 9110);
3. for every official operation the server implements, draws ``examples``
   positive and negative requests from the spec with schemathesis
   (``operation.as_strategy``) and checks every answer with schemathesis' checks
   plus the KSeF ones (:mod:`ksefcontract.checks`).

Which operations a server implements is read from the mockksef operation
registry (in-process, or a URL that answers ``/_mock/health``); any other
server is expected to implement all of them. TEST-only operations are left out
on DEMO and production addresses, and the harness refuses to run against
production at all (it opens sessions and sends invoices).

Budget: ``examples`` per operation and phase, and an optional ``time_limit``
for the whole run, shared fairly among the operations still to run. A 429 is
checked (``Retry-After`` present) and then waited out when ``Retry-After``
fits in the budget; otherwise the operation stops early and the report says so.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import hypothesis
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup

from ksefclient.xades import SigningCredentials
from ksefcontract.checks import CheckFunction, KsefChecks, allow_problems, method_probes
from ksefcontract.report import (
    Finding,
    FlowResult,
    OperationResult,
    PhaseResult,
    Report,
    StepResult,
    excerpt,
)
from ksefcontract.xsd import DocumentSchemas
from mockksef import operations, progress
from mockksef.spec import Spec

__all__ = [
    "Budget",
    "Credentials",
    "Harness",
    "HarnessError",
    "Target",
    "environment_of",
    "registry_operations",
]

PHASES = ("positive", "negative")
# The flow that sends every official path a method it does not serve.
METHODS_FLOW = "undeclared-methods"
_MODES = {"positive": GenerationMode.POSITIVE, "negative": GenerationMode.NEGATIVE}
# Bearer kinds the auth operations take; every other secured operation takes the access token.
_BEARER = {
    "auth.status": "operation",
    "auth.redeem_token": "operation",
    "auth.refresh_token": "refresh",
}
# Operations that end the caller's own session run on a login of their own.
_OWN_SESSION = frozenset({"auth.revoke_current_session"})
# Run after the rest: the resets undo what the fuzzed "set" operations changed.
_RUN_LAST = (
    "testdata.reset_rate_limits",
    "testdata.reset_session_limits",
    "testdata.reset_certificate_limits",
    "auth.revoke_current_session",
)
_REAL_HOSTS = {
    "api-test.ksef.mf.gov.pl": "test",
    "ksef-test.mf.gov.pl": "test",
    "api-demo.ksef.mf.gov.pl": "demo",
    "ksef-demo.mf.gov.pl": "demo",
    "api.ksef.mf.gov.pl": "prod",
    "ksef.mf.gov.pl": "prod",
}


class HarnessError(RuntimeError):
    """The run cannot start (bad target, refused environment, missing files)."""


class _OutOfTime(Exception):
    pass


class TransportFailure(Exception):
    """The server gave no HTTP answer (connection refused or reset, timeout)."""


class _Unsendable(Exception):
    pass


class _StopPhase(BaseException):
    """Ends a phase from inside the Hypothesis test.

    A BaseException, so that Hypothesis lets it through at once instead of
    replaying the example as a failure.
    """


# -- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """How the harness logs in. Never printed: ``describe()`` hides secrets."""

    kind: str = "none"  # "none" | "ksef-token" | "xades" | "self-signed"
    nip: str | None = None
    token: str | None = field(default=None, repr=False)
    signing: SigningCredentials | None = field(default=None, repr=False)

    @classmethod
    def none(cls) -> Credentials:
        return cls()

    @classmethod
    def ksef_token(cls, token: str, nip: str) -> Credentials:
        return cls("ksef-token", nip=nip, token=token)

    @classmethod
    def xades(cls, certificate_pem: bytes, key_pem: bytes, nip: str) -> Credentials:
        return cls("xades", nip=nip, signing=SigningCredentials.from_pem(certificate_pem, key_pem))

    @classmethod
    def xades_files(cls, certificate: str | Path, key: str | Path, nip: str) -> Credentials:
        return cls.xades(Path(certificate).read_bytes(), Path(key).read_bytes(), nip)

    @classmethod
    def self_signed(cls, nip: str) -> Credentials:
        """A self-signed certificate made at login (KSeF TEST and mockksef accept it)."""
        return cls("self-signed", nip=nip)

    def describe(self) -> str:
        if self.kind == "none":
            return "none (protected operations answer 401)"
        return f"{self.kind} for NIP {self.nip}"


@dataclass(frozen=True)
class Budget:
    examples: int = 10
    time_limit: float | None = None
    seed: int | None = 0
    # The longest single Retry-After the harness waits out.
    max_wait: float = 60.0
    # How long a flow polls an asynchronous status before giving up.
    poll_timeout: float = 60.0
    poll_interval: float = 0.5
    phases: tuple[str, ...] = PHASES


@dataclass
class Target:
    base_url: str
    app: Any = None
    # Operation ids the server implements; None: find out (registry or all).
    implemented: frozenset[str] | None = None

    @classmethod
    def url(cls, base_url: str, implemented: frozenset[str] | None = None) -> Target:
        return cls(base_url.rstrip("/"), None, implemented)

    @classmethod
    def in_process(
        cls,
        app: Any,
        base_url: str = "http://testserver/v2",
        implemented: frozenset[str] | None = None,
    ) -> Target:
        return cls(base_url.rstrip("/"), app, implemented)


def registry_operations() -> frozenset[str]:
    """The operations this mockksef implements (its routes, named by the registry)."""
    from mockksef.services import all_routes

    return frozenset(getattr(route, "name", "") for route in all_routes())


def environment_of(base_url: str) -> str | None:
    """``test``/``demo``/``prod`` from a real KSeF host or a mockksef prefix; None if unknown."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host in _REAL_HOSTS:
        return _REAL_HOSTS[host]
    first = parts.path.strip("/").split("/", 1)[0].lower()
    return first if first in ("test", "demo", "prod") else None


def is_real_ksef(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "").lower() in _REAL_HOSTS


def random_nip(rng: random.Random) -> str:
    """A valid NIP (check digit) from a seeded source."""
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


@dataclass
class Tokens:
    reference_number: str
    operation_token: str
    access_token: str
    refresh_token: str

    def bearer(self, kind: str) -> str:
        return {
            "operation": self.operation_token,
            "refresh": self.refresh_token,
        }.get(kind, self.access_token)


# -- the harness -------------------------------------------------------------------------


class Harness:
    def __init__(
        self,
        target: Target,
        *,
        spec: Spec | None = None,
        credentials: Credentials | None = None,
        budget: Budget | None = None,
        error_format: str = "both",
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: float = 60.0,
        tolerated_codes: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        if error_format not in ("both", "legacy", "problem-details"):
            raise HarnessError("error_format is 'both', 'legacy' or 'problem-details'")
        env = environment_of(target.base_url)
        if env == "prod" and is_real_ksef(target.base_url):
            raise HarnessError(
                "refusing to run against KSeF production: the harness opens sessions and "
                "sends invoices; use the TEST environment (https://api-test.ksef.mf.gov.pl/v2)"
            )
        self.credentials = credentials or Credentials.none()
        if self.credentials.kind == "self-signed" and env in ("demo", "prod"):
            raise HarnessError(
                "self-signed certificates authenticate on TEST only; give a KSeF token or a "
                "qualified certificate for DEMO"
            )
        self.target = target
        self.environment = env
        self.spec = spec or _official_spec()
        self.budget = budget or Budget()
        self.error_format = error_format
        self.sleep = sleep
        self.monotonic = monotonic
        self.timeout = timeout
        official_dir = self.spec.source.parent if self.spec.source else None
        self.documents = _documents(official_dir) if official_dir else None
        self.checks = KsefChecks(self.spec, self.documents, tolerated_codes)
        self.schema = _schemathesis_schema(self.spec)
        self.rng = random.Random(self.budget.seed)
        self.tokens: Tokens | None = None
        self.server_time: datetime | None = None
        self.shared: dict[str, Any] = {}
        self._login_result: FlowResult | None = None
        self._implemented: frozenset[str] | None = target.implemented
        self._client: httpx.Client | None = None
        self._deadline = float("inf")

    # -- plumbing ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.target.base_url

    @contextlib.contextmanager
    def connected(self) -> Iterator[httpx.Client]:
        """An HTTP client for the target (re-entrant)."""
        if self._client is not None:
            yield self._client
            return
        if self.target.app is not None:
            from starlette.testclient import TestClient

            parts = urlsplit(self.base_url)
            client: httpx.Client = TestClient(
                self.target.app,
                base_url=f"{parts.scheme}://{parts.netloc}",
                raise_server_exceptions=False,
            )
        else:
            client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        self._client = client
        try:
            with client:
                yield client
        finally:
            self._client = None

    @property
    def client(self) -> httpx.Client:
        assert self._client is not None, "use inside Harness.connected()"
        return self._client

    def remaining(self) -> float:
        return self._deadline - self.monotonic()

    def implemented(self) -> frozenset[str]:
        """Operation ids the server implements (the registry decides, never a response)."""
        if self._implemented is None:
            self._implemented = self._discover()
        return self._implemented

    def _discover(self) -> frozenset[str]:
        app = self.target.app
        if app is not None and getattr(getattr(app, "state", None), "mock", None) is not None:
            return registry_operations()
        if app is None:
            parts = urlsplit(self.base_url)
            origin = f"{parts.scheme}://{parts.netloc}"
            try:
                with self.connected() as client:
                    health = client.get(f"{origin}/_mock/health")
                data = health.json() if health.status_code == 200 else None
            except httpx.TransportError as exc:
                raise HarnessError(f"cannot reach {origin}: {exc}") from exc
            except ValueError:
                data = None
            if isinstance(data, dict) and "specVersion" in data:
                return registry_operations()
        return frozenset(op.id for op in operations.OPERATIONS)

    def is_implemented(self, op_id: str) -> bool:
        return op_id in self.implemented()

    def not_implemented(self, op_ids: tuple[str, ...] | list[str]) -> list[str]:
        return [op_id for op_id in op_ids if not self.is_implemented(op_id)]

    def url(self, path: str) -> str:
        return self.base_url + path

    def request_headers(self, index: int) -> dict[str, str]:
        """X-Error-Format per example: both formats get exercised unless one is forced."""
        if self.error_format == "problem-details" or (self.error_format == "both" and index % 2):
            return {"X-Error-Format": "problem-details"}
        return {}

    def send(
        self,
        case: Any,
        request: dict[str, Any],
        checks: list[CheckFunction],
        sink: list[Finding],
        on_throttle: Callable[[], None] | None = None,
    ) -> tuple[httpx.Response, bool]:
        """Send, waiting out 429s within the budget; ``(response, already_validated)``."""
        while True:
            try:
                response = self.client.request(**request)
            except httpx.TransportError as exc:
                raise TransportFailure(f"{request['method']} {request['url']}: {exc!r}") from exc
            if response.status_code != 429:
                return response, False
            # Check the 429 itself (Retry-After present and well-formed) before waiting.
            sink.extend(self.validate(case, response, checks))
            wait = _retry_after(response)
            if wait is None:
                return response, True
            if wait > self.budget.max_wait or wait > self.remaining():
                raise _OutOfTime(f"429 with Retry-After {wait} s exceeds the budget")
            if on_throttle:
                on_throttle()
            self.sleep(wait)

    def validate(
        self, case: Any, response: httpx.Response, checks: list[CheckFunction]
    ) -> list[Finding]:
        findings: list[Finding] = []
        request = f"{response.request.method} {response.request.url}"
        for check in checks:
            try:
                case.validate_response(response, checks=[check])
            except FailureGroup as group:
                failures: list[Failure] = list(group.exceptions)
            except Failure as single:
                failures = [single]
            else:
                continue
            for failure in failures:
                findings.append(
                    Finding(
                        check=check.__name__,
                        title=failure.title,
                        message=failure.message,
                        operation=_op_name(case.operation.method, case.operation.path),
                        request=request,
                        status=response.status_code,
                        response=excerpt(response.text),
                    )
                )
        return findings

    # -- login ----------------------------------------------------------------------------

    def login(self) -> FlowResult:
        """Log in once (the ``auth`` flow); later calls return the first result."""
        if self._login_result is None:
            from ksefcontract import stateful

            with self.connected():
                self._login_result = stateful.run_flow(self, stateful.AUTH)
        return self._login_result

    def fresh_tokens(self) -> Tokens | None:
        """A separate login, for operations that end the caller's session."""
        from ksefcontract import stateful

        with self.connected():
            result = FlowResult(name="login", description="")
            return stateful.quiet_login(self, result)

    def undeclared_methods(self) -> FlowResult:
        """Every official path with a method it does not serve: a 405 whose ``Allow``
        names the methods the path serves (RFC 9110 §15.5.6). The spec declares no 405,
        so schemathesis never sends these; no login is needed."""
        result = FlowResult(
            name=METHODS_FLOW,
            description="a method no route serves, per official path → 405 with Allow",
        )
        t0 = self.monotonic()
        probes = method_probes()
        failed = 0
        with self.connected() as client:
            for probe in probes:
                label = f"{probe.method} {probe.template}"
                try:
                    response = client.request(probe.method, self.url(probe.path))
                except httpx.TransportError as exc:
                    problems, status, request, body = [f"no HTTP answer: {exc!r}"], None, label, ""
                else:
                    status, body = response.status_code, excerpt(response.text)
                    request = f"{probe.method} {response.request.url}"
                    problems = allow_problems(probe, status, response.headers.get("allow"))
                failed += bool(problems)
                result.failures += [
                    Finding("allow_on_405", "405 and Allow", message, label, request, status, body)
                    for message in problems
                ]
        result.steps.append(
            StepResult(
                f"{len(probes)} paths, one undeclared method each",
                "-",
                "failed" if failed else "passed",
                reason=f"{failed} without a usable 405" if failed else "",
            )
        )
        result.duration = self.monotonic() - t0
        return result

    # -- the run ----------------------------------------------------------------------------

    def run(
        self,
        operations_filter: list[str] | tuple[str, ...] | None = None,
        *,
        flows: bool | list[str] | tuple[str, ...] = True,
        exclude: list[str] | tuple[str, ...] = (),
    ) -> Report:
        """Run the suite; ``operations_filter`` and ``exclude`` take ids or areas.

        ``operations_filter=None`` runs every operation, ``[]`` none (flows only).
        """
        from ksefcontract import stateful

        started = datetime.now(UTC)
        t0 = self.monotonic()
        self._deadline = t0 + self.budget.time_limit if self.budget.time_limit else float("inf")
        report = Report(
            base_url=self.base_url,
            spec_version=self.spec.version,
            started=started.isoformat(timespec="seconds"),
            budget={
                k: v
                for k, v in asdict(self.budget).items()
                if k in ("examples", "time_limit", "seed")
            },
            credentials=self.credentials.describe(),
            error_format=self.error_format,
        )
        selected = self._select(operations_filter, exclude)
        names = None if flows is True else set(flows or ())
        chosen_flows = [f for f in stateful.FLOWS if names is None or f.name in names]
        methods_flow = bool(flows) and (names is None or METHODS_FLOW in names)
        to_run = [op for op in selected if op.skipped is None]
        # Nothing shows unless the command line shows a bar (mockksef.progress).
        progress.expect(len(chosen_flows) + int(methods_flow) + len(to_run))
        with self.connected():
            first_login = self._login_result is None
            login = self.login()
            if first_login:
                report.flows.append(login)
            for flow in chosen_flows:
                report.flows.append(stateful.run_flow(self, flow))
                progress.step(1, f"contract: flow {flow.name}")
            if methods_flow:
                report.flows.append(self.undeclared_methods())
                progress.step(1, "contract: undeclared methods")
            left = len(to_run)
            for result in selected:
                if result.skipped is None:
                    self._run_operation(result, left)
                    left -= 1
                    progress.step(1, f"contract: {result.id}")
                report.operations.append(result)
        if self.budget.time_limit and self.remaining() <= 0:
            report.notes.append(
                f"the time limit of {self.budget.time_limit} s was reached; "
                "operations marked 'budget used up' ran fewer examples"
            )
        report.duration = self.monotonic() - t0
        return report

    def _select(
        self, wanted: list[str] | tuple[str, ...] | None, exclude: list[str] | tuple[str, ...]
    ) -> list[OperationResult]:
        def matches(op: operations.Operation, names: list[str] | tuple[str, ...]) -> bool:
            return op.id in names or op.area in names or f"{op.method} {op.path}" in names

        if wanted is not None and not wanted:
            return []  # an empty selection: flows only
        if wanted:
            unknown = [
                w for w in wanted if not any(matches(op, [w]) for op in operations.OPERATIONS)
            ]
            if unknown:
                raise HarnessError(f"unknown operation(s) or area(s): {', '.join(unknown)}")
        chosen = [
            op
            for op in operations.OPERATIONS
            if (not wanted or matches(op, wanted)) and not matches(op, exclude)
        ]
        chosen.sort(key=lambda op: _RUN_LAST.index(op.id) if op.id in _RUN_LAST else -1)
        results = []
        for op in chosen:
            result = OperationResult(op.id, op.method, op.path)
            if op.newer_than_spec or self.spec.operation(op.method, op.path) is None:
                result.skipped = "not in the official OpenAPI document the harness reads"
            elif not self.is_implemented(op.id):
                result.skipped = "not implemented by the server (operation registry)"
            elif op.area == "testdata" and self.environment in ("demo", "prod"):
                result.skipped = "TEST-only operation"
            results.append(result)
        return results

    def _run_operation(self, result: OperationResult, operations_left: int) -> None:
        op = operations.BY_ID[result.id]
        api_op = self.schema[op.path][op.method]
        tokens = self.tokens
        if op.id in _OWN_SESSION and tokens is not None:
            tokens = self.fresh_tokens() or tokens
        share = self.remaining() / max(operations_left, 1)
        phases = [p for p in PHASES if p in self.budget.phases]
        for n, phase in enumerate(phases):
            phase_result = PhaseResult(phase=phase)
            result.phases.append(phase_result)
            if phase == "negative" and not _has_mutable_input(api_op):
                phase_result.skipped = "nothing to mutate: no body and no path or query parameters"
                continue
            own_share = min(share, self.remaining()) / (len(phases) - n)
            deadline = self.monotonic() + own_share
            t0 = self.monotonic()
            self._run_phase(op, api_op, phase, phase_result, tokens, deadline)
            phase_result.duration = self.monotonic() - t0

    def _run_phase(
        self,
        op: operations.Operation,
        api_op: Any,
        phase: str,
        result: PhaseResult,
        tokens: Tokens | None,
        deadline: float,
    ) -> None:
        mode = _MODES[phase]
        checks = self.checks.positive if phase == "positive" else self.checks.negative
        spec_op = self.spec.operation(op.method, op.path)
        secured = bool(spec_op and spec_op.secured)
        seen: set[tuple[str, str, str, str]] = set()
        counter = [0]
        strategy = api_op.as_strategy(generation_mode=mode)

        def record(findings: list[Finding]) -> None:
            for finding in findings:
                if finding.key not in seen and len(seen) < 20:
                    seen.add(finding.key)
                    result.failures.append(finding)

        def throttled() -> None:
            result.throttled += 1

        @hypothesis.settings(
            max_examples=self.budget.examples,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
            phases=[hypothesis.Phase.generate],
            verbosity=hypothesis.Verbosity.quiet,
        )
        @hypothesis.given(data=st.data())
        def run(data: Any) -> None:
            case = data.draw(strategy)
            # Checked after the draw: stopping before it would make Hypothesis
            # see the generation as flaky.
            if self.monotonic() > deadline:
                raise _StopPhase("time budget used up")
            if mode is GenerationMode.NEGATIVE and not _meaningful_negative(case):
                hypothesis.reject()
            headers = self.request_headers(counter[0])
            counter[0] += 1
            if secured and tokens is not None:
                headers["Authorization"] = f"Bearer {tokens.bearer(_BEARER.get(op.id, 'access'))}"
            try:
                request = _to_httpx(case, self.base_url, headers)
            except _Unsendable:
                hypothesis.reject()
            sink: list[Finding] = []
            try:
                response, validated = self.send(case, request, checks, sink, throttled)
            except _OutOfTime as exc:
                record(sink)
                raise _StopPhase(str(exc)) from None
            except TransportFailure as exc:
                record(sink)
                record([Finding("transport", "No HTTP answer", str(exc), op.id, request["url"])])
                raise _StopPhase("no HTTP answer") from None
            record(sink)
            result.cases += 1
            result.count(response.status_code)
            if not validated:
                record(self.validate(case, response, checks))

        if self.budget.seed is not None:
            run = hypothesis.seed(self.budget.seed)(run)
        if self.monotonic() > deadline:
            result.budget_exhausted = True
            result.notes.append("not run: time budget used up")
            return
        try:
            run()
        except _StopPhase as stop:
            result.budget_exhausted = True
            result.notes.append(f"stopped early: {stop}")
        except hypothesis.errors.Unsatisfiable:
            result.notes.append("no meaningful case could be generated")


# -- helpers --------------------------------------------------------------------------------


# Loading the spec into schemathesis and compiling XSDs cost more than a short
# run: harnesses on the same spec share them.
_SCHEMAS: weakref.WeakKeyDictionary[Spec, Any] = weakref.WeakKeyDictionary()


def _schemathesis_schema(spec: Spec) -> Any:
    schema = _SCHEMAS.get(spec)
    if schema is None:
        schema = _SCHEMAS[spec] = schemathesis.openapi.from_dict(spec.data)
    return schema


@functools.lru_cache(maxsize=4)
def _documents(official_dir: Path) -> DocumentSchemas:
    return DocumentSchemas(official_dir)


def _official_spec() -> Spec:
    from mockksef import official

    return Spec.from_dir(official.locate())


def _op_name(method: str, path: str) -> str:
    op = operations.BY_KEY.get((method.upper(), path))
    return op.id if op else f"{method.upper()} {path}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _has_mutable_input(api_op: Any) -> bool:
    return bool(api_op.body) or any(p.location != "header" for p in api_op.iter_parameters())


def _meaningful_negative(case: Any) -> bool:
    """Leave out the mutations a faithful KSeF server does not reject.

    The harness sends its own bearer, so a case whose negative part is a
    header cannot be judged; and unknown query parameters are ignored by the
    real server (ASP.NET binds by name).
    """
    meta = case.meta
    if meta is None:
        return True
    negative = {
        str(loc.value)
        for loc, info in meta.components.items()
        if info.mode is GenerationMode.NEGATIVE
    }
    if "header" in negative:
        return False
    description = str(getattr(meta.phase.data, "description", "") or "")
    return not (negative <= {"query"} and "additionalProperties" in description)


def _to_httpx(case: Any, base_url: str, headers: dict[str, str]) -> dict[str, Any]:
    """schemathesis' requests-style arguments -> httpx ``request()`` arguments."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": {str(k): str(v) for k, v in dict(kwargs.get("headers") or {}).items()},
    }
    params = kwargs.get("params")
    if params:
        out["params"] = {k: v for k, v in params.items() if v is not None}
    if kwargs.get("files"):
        raise _Unsendable("multipart bodies are not part of the KSeF API")
    if "json" in kwargs and kwargs["json"] is not None:
        try:
            out["content"] = json.dumps(kwargs["json"], allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise _Unsendable(str(exc)) from exc
    elif "data" in kwargs and kwargs["data"] is not None:
        data = kwargs["data"]
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes):
            raise _Unsendable("form bodies are not part of the KSeF API")
        out["content"] = data
    for value in out["headers"].values():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise _Unsendable("header value outside Latin-1") from exc
    return out
