"""One decorator turns a thin handler into an official KSeF endpoint.

``@endpoint("tokens.generate", auth="access", body="json")`` builds the
Starlette ``Route`` and runs the shared pipeline before the handler:

environment (TEST only?) -> bearer JWT of the right kind -> IP policy ->
rate limit (``ratelimit.py``) -> ``x-required-permissions`` (any of) ->
path and query parameters validated against the official spec -> body read
within its size limit (``bounds.py``), parsed, its lists bounded, and validated
against the official request schema (property names and enum values matched
case-insensitively). Large bodies are parsed and validated off the event loop,
and ``offload=`` moves a handler's heavy work there too (``offload.py``).

Handlers receive a ``Call`` and return a Starlette ``Response`` (use the helpers
below); they raise ``mockksef.errors`` exceptions for every failure.
"""

from __future__ import annotations

import inspect
import json
import json.encoder
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mockksef import operations, violations
from mockksef.clock import format_datetime
from mockksef.crypto import sha256_b64
from mockksef.errors import (
    ErrorContext,
    InternalError,
    InvalidInputData,
    MockError,
    NotFound,
    UnreadableContent,
    render,
    wants_problem_details,
)
from mockksef.http import bounds, ratelimit, security
from mockksef.http.offload import OFFLOAD_BYTES, run_heavy
from mockksef.models import ContextIdentifier, Principal, SubjectIdentifier
from mockksef.untrusted import json_loads

if TYPE_CHECKING:
    from mockksef.spec import Spec, SpecOperation
    from mockksef.state import EnvironmentState, MockState

log = logging.getLogger("mockksef")

AuthKind = Literal["none", "operation", "refresh", "access", "access_or_refresh"]
BodyKind = Literal["json", "xml", "none", "optional-json"]
# Where a handler runs: on the loop, in a worker when its body is above
# offload.OFFLOAD_BYTES, or always in a worker (its work is heavy whatever it is sent).
Offload = Literal["never", "large", "always"]

ENV_SCOPE_KEY = "mockksef.env"
# The MockState, put in the scope by app.EnvSelector (cheaper than request.app.state).
STATE_SCOPE_KEY = "mockksef.state"
OP_SCOPE_KEY = "mockksef.operation"
PRINCIPAL_SCOPE_KEY = "mockksef.principal"
# The error a request was answered with (read by the request journal).
ERROR_SCOPE_KEY = "mockksef.error"

# Permissions of operations newer than the official spec we read (reference C).
_NEWER_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "collective.invoices": ("InvoiceRead", "InvoiceWrite", "CollectiveIdentifierManage"),
}


@dataclass
class Call:
    """Everything a handler needs about one request."""

    request: Request
    op: operations.Operation
    env: EnvironmentState
    principal: Principal | None
    path: dict[str, str]
    query: dict[str, Any]
    body: Any = None
    raw_body: bytes = b""
    client_ip: str = "127.0.0.1"
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.env.clock.now()

    @property
    def me(self) -> Principal:
        """The authenticated caller (endpoints with ``auth != 'none'``)."""
        assert self.principal is not None
        return self.principal

    @property
    def context(self) -> ContextIdentifier:
        """The caller's context: every access token is issued for one."""
        context = self.me.context
        assert context is not None
        return context

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    @property
    def subject(self) -> SubjectIdentifier:
        """Who the caller is: every access token names its subject."""
        subject = self.me.subject
        assert subject is not None
        return subject

    @property
    def public_base_url(self) -> str:
        """Scheme and host for links handed to clients (``config.public_base_url`` wins)."""
        configured = self.env.config.public_base_url
        if configured:
            return configured.rstrip("/")
        url = self.request.url
        return f"{url.scheme}://{url.netloc}"


def mock_state(request: Request) -> MockState:
    state = request.scope.get(STATE_SCOPE_KEY)
    return state if state is not None else request.app.state.mock  # type: ignore[no-any-return]


def environment(request: Request) -> EnvironmentState:
    mock = mock_state(request)
    return mock.env(request.scope.get(ENV_SCOPE_KEY) or mock.config.default_env)


def client_ip(request: Request, trusted_proxy: bool) -> str:
    if trusted_proxy:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    client = request.scope.get("client")
    return client[0] if client else "127.0.0.1"


# -- responses -------------------------------------------------------------------


# One encoder for every response, built once: ``json.dumps`` with options makes a new
# JSONEncoder per call, and JSONEncoder.encode a new C encoder per call (half the cost
# of encoding a small body). Response bodies are never circular.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_C_ENCODE = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    if getattr(json.encoder, "c_make_encoder", None) is not None
    else None
)


def _dumps(data: Any) -> bytes:
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(data, 0)).encode("utf-8")
    return _ENCODER.encode(data).encode("utf-8")


class _JsonAnswer(Response):
    """A JSON answer with no headers of its own: the two that Starlette's ``Response``
    would work out (length, type), in its order, without its generic header pass."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if headers is None and 200 <= status and status not in (204, 304):
        return _JsonAnswer(_dumps(data), status)
    return Response(
        _dumps(data), status_code=status, media_type="application/json", headers=headers
    )


def hashed_xml(document: bytes) -> Response:
    """An XML download with its Base64 SHA-256 in ``x-ms-meta-hash``, as blob storage sends it."""
    return Response(
        document, media_type="application/xml", headers={"x-ms-meta-hash": sha256_b64(document)}
    )


def no_content(status: int = 204) -> Response:
    return Response(status_code=status)


def empty_ok() -> Response:
    """200 with no body, as the /testdata/* endpoints answer."""
    return Response(b"", status_code=200, headers={"content-length": "0"})


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """Leave optional fields out rather than send them as null."""
    return {k: v for k, v in data.items() if v is not None}


def error_response(
    request: Request, error: MockError, env: EnvironmentState | None = None
) -> Response:
    mock = mock_state(request)
    request.scope[ERROR_SCOPE_KEY] = error
    rng = env.rng if env else mock.rng
    clock = mock.clock
    ctx = ErrorContext(
        instance=request.url.path,
        timestamp=format_datetime(clock.now()),
        trace_id=rng.trace_id(),
        reference_id=rng.uuid(),
        problem_details=wants_problem_details(request.headers.get("x-error-format")),
    )
    status, media_type, body = render(error, ctx)
    return Response(
        _dumps(body), status_code=status, media_type=media_type, headers=error.headers or None
    )


# -- request parsing ----------------------------------------------------------------


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise InvalidInputData(violations.service("body_too_large", limit=limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidInputData(violations.service("body_too_large", limit=limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableContent("Treść żądania nie jest poprawnie zakodowana w UTF-8.") from exc
    try:
        return json_loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise UnreadableContent(
            f"Treść żądania nie jest poprawnym dokumentem JSON: {str(exc)[:200]}"
        ) from exc


def query_value(schema: dict[str, Any], values: list[str]) -> Any:
    """A query parameter's values typed by its (resolved) schema; the last one unless an array.

    Values that do not parse stay strings, for the schema check to reject.
    """
    kind = schema.get("type")
    if kind == "array":
        item_schema = schema.get("items", {})
        return [_scalar(item_schema, v) for v in values]
    return _scalar(schema, values[-1])


def _scalar(schema: dict[str, Any], value: str) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "boolean":
        lowered = value.lower()
        return {"true": True, "false": False}.get(lowered, value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    return value


def ascii_fold(text: str) -> str:
    normalized = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return (
        normalized.encode("ascii", "ignore").decode("ascii").replace("\r", " ").replace("\n", " ")
    )


# -- the decorator -------------------------------------------------------------------


Handler = Callable[[Call], Awaitable[Response] | Response]
# The environment and the parsed body -> the 21405 details of the rules it breaks.
BodyRules = Callable[["EnvironmentState", Any], list[str]]


def endpoint(
    op_id: str,
    *,
    auth: AuthKind = "access",
    body: BodyKind = "none",
    body_check: Callable[[Any], None] | None = None,
    test_only: bool = False,
    body_rules: BodyRules | None = None,
    offload: Offload = "never",
) -> Callable[[Handler], Route]:
    """Make ``handler`` the route of ``op_id``; ``body_check`` sees a JSON body
    before the schema does (for the rules KSeF applies first); ``body_rules`` gives
    the service's own violations of a JSON body, reported with the schema's;
    ``offload`` runs a (synchronous) handler in a worker thread."""
    op = operations.get(op_id)

    def decorate(handler: Handler) -> Route:
        is_async = inspect.iscoroutinefunction(handler)
        if offload != "never" and is_async:
            raise TypeError(f"{op_id}: only a synchronous handler can be offloaded")

        async def asgi_handler(request: Request) -> Response:
            env: EnvironmentState | None = None
            try:
                env = environment(request)
                request.scope[OP_SCOPE_KEY] = op.id
                call = await _prepare(
                    request, op, env, auth, body, body_check, test_only, body_rules
                )
                request.scope[PRINCIPAL_SCOPE_KEY] = call.principal
                if offload == "always" or (
                    offload == "large" and len(call.raw_body) > OFFLOAD_BYTES
                ):
                    response = await run_heavy(handler, call)
                else:
                    result = handler(call)
                    response = await result if is_async else result  # type: ignore[misc]
                assert isinstance(response, Response)
                if call.response_headers:
                    for name, value in call.response_headers.items():
                        response.headers[name] = value
                _system_warning(request, env, response)
                return response
            except MockError as error:
                return error_response(request, error, env)
            except Exception as exc:  # the server never answers with a traceback
                mock = mock_state(request)
                if mock.config.extra.get("raise_server_errors"):
                    raise
                log.exception("unexpected error in %s", op.id, exc_info=exc)
                return error_response(request, InternalError(), env)

        asgi_handler.__name__ = handler.__name__
        asgi_handler.__doc__ = handler.__doc__
        route = Route(op.path, _OperationApp(asgi_handler), methods=[op.method], name=op.id)
        route.handler = handler  # type: ignore[attr-defined]
        return route

    return decorate


class _OperationApp:
    """The ASGI app of one operation (what ``Route`` runs for it).

    Starlette's ``request_response`` wraps a request function in a second
    exception layer; ``asgi_handler`` already turns every exception into an
    official error answer, and whatever escapes (``raise_server_errors``, a
    failed send) reaches the app's own exception middleware with the same
    handlers. Skipping the inner layer saves two wrappers per request.
    """

    def __init__(self, handle: Callable[[Request], Awaitable[Response]]) -> None:
        self.handle = handle
        self.__name__ = handle.__name__
        self.__doc__ = handle.__doc__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive, send))
        await response(scope, receive, send)


def _system_warning(request: Request, env: EnvironmentState, response: Response) -> None:
    if not (200 <= response.status_code < 300) or not env.profile.testdata:
        return
    # The raw header list, not request.headers: this runs on every answer.
    forced = None
    for name, value in request.scope["headers"]:
        if name == b"x-test-system-warning":
            forced = value.decode("latin-1")
            break
    if forced:
        # Starlette decodes header bytes as latin-1; clients send UTF-8.
        try:
            forced = forced.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        response.headers["X-System-Warning"] = ascii_fold(forced)[:1000]


async def _prepare(
    request: Request,
    op: operations.Operation,
    env: EnvironmentState,
    auth: AuthKind,
    body_kind: BodyKind,
    body_check: Callable[[Any], None] | None,
    test_only: bool,
    body_rules: BodyRules | None = None,
) -> Call:
    config = env.config
    if test_only and not env.profile.testdata:
        raise NotFound()
    ip = client_ip(request, config.trusted_proxy)
    principal: Principal | None = None
    if auth != "none":
        principal = security.authenticate(request.headers.get("authorization"), env.jwt, auth)
        # Known from here on, also when a later step refuses the call (journal context).
        request.scope[PRINCIPAL_SCOPE_KEY] = principal
        if principal.token_type != "OperationToken":
            security.check_ip(principal, ip)
    # -- rate limit (mockksef/http/ratelimit.py): the caller is known, the body not yet read
    ratelimit.enforce(env, op.id, principal, ip)
    spec_op = env.root.spec.operation(op.method, op.path) if not op.newer_than_spec else None
    if principal is not None and auth in ("access",):
        required = spec_op.required_permissions if spec_op else _NEWER_PERMISSIONS.get(op.id, ())
        security.check_permissions(principal, required)
    path_params = dict(request.path_params)
    query: dict[str, Any] = {}
    errors: list[str] = []
    if spec_op is not None:
        spec = env.root.spec
        for param in spec_op.parameters:
            where = param.get("in")
            name = param.get("name", "")
            schema = param.get("schema", {})
            if where == "query":
                values = request.query_params.getlist(name)
                if not values:
                    if param.get("required"):
                        errors.append(violations.not_empty(name))
                    continue
                checked = spec.validate_value(
                    schema, query_value(resolved_schema(spec, schema), values), name
                )
                errors += checked.errors
                query[name] = checked.value
            elif where == "path" and name in path_params:
                checked = spec.validate_value(schema, path_params[name], name)
                errors += checked.errors
    if errors:
        raise InvalidInputData(*errors)
    raw = b""
    parsed: Any = None
    if body_kind in ("json", "optional-json"):
        raw = await read_limited(request, bounds.body_limit(op.id, config))
        if not raw.strip():
            if body_kind == "json":
                raise InvalidInputData(violations.service("body_required"))
        else:
            media = _media_type(request)
            if media and media != "application/json" and not media.endswith("+json"):
                raise UnreadableContent(
                    f"Nieobsługiwany typ treści '{media}'; oczekiwano application/json."
                )
            body = _JsonBody(op.id, env, spec_op, body_check, body_rules)
            if len(raw) > OFFLOAD_BYTES:
                parsed = await run_heavy(body.read, raw)
            else:
                parsed = body.read(raw)
    elif body_kind == "xml":
        raw = await read_limited(request, bounds.body_limit(op.id, config, xml=True))
    return Call(request, op, env, principal, path_params, query, parsed, raw, ip)


@dataclass(frozen=True)
class _JsonBody:
    """Reads one operation's JSON body: parse, KSeF's first rules, bounds, schema."""

    op_id: str
    env: EnvironmentState
    spec_op: SpecOperation | None
    body_check: Callable[[Any], None] | None
    body_rules: BodyRules | None

    def read(self, raw: bytes) -> Any:
        bounds.check_values(self.op_id, raw)
        parsed = parse_json(raw)
        if self.body_check is not None:
            self.body_check(parsed)
        # Before the schema: the validator's cost grows with every list item.
        bounds.check_items(self.op_id, parsed)
        schema = self.spec_op.request_schema("application/json") if self.spec_op else None
        refused: list[str] = []
        if schema is not None:
            checked = self.env.root.spec.validate_value(schema, parsed)
            refused += checked.errors
            parsed = checked.value
        if self.body_rules is not None:
            # The service's own rules run with the schema's, in one validator:
            # one 21405 lists the violations of both.
            refused += self.body_rules(self.env, parsed)
        if refused:
            raise InvalidInputData(*refused[: violations.MAX_DETAILS])
        return parsed


def resolved_schema(spec: Spec, schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a top-level $ref/allOf so that query strings can be typed (and required bodies seen)."""
    ref = schema.get("$ref")
    if ref:
        schemas: dict[str, dict[str, Any]] = spec.data["components"]["schemas"]
        return schemas.get(ref.rsplit("/", 1)[-1], {})
    if schema.get("allOf") and len(schema["allOf"]) == 1:
        return resolved_schema(spec, schema["allOf"][0])
    return schema
