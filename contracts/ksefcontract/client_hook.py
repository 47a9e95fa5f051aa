"""Check a client's requests against the official spec, through an httpx event hook.

The other half of contract testing: the server must answer as the spec says,
and the client must ask as the spec says. Installed on an ``httpx.Client`` (or
Starlette's ``TestClient``, or an ``httpx.AsyncClient``), the hook inspects each
request before it is sent:

* method and path name an official operation (under ``/v2``, ``/api/v2`` or a
  mockksef environment prefix; other URLs such as ``/_mock`` or pre-signed
  storage links are not API calls and pass);
* path parameters, query parameters (declared, required, typed) and the body
  (declared media type, JSON valid against the request schema with the
  official property names and enum spellings; XML well-formed) are valid.

A violation raises :class:`RequestContractViolation` from the client call.

::

    with validating(client, spec):
        client.post("/tokens", json={...})
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from lxml import etree

from mockksef import operations
from mockksef.http.endpoint import query_value, resolved_schema
from mockksef.spec import Spec

__all__ = [
    "RequestContractViolation",
    "api_path",
    "async_request_hook",
    "install",
    "official_spec",
    "request_hook",
    "request_problems",
    "validating",
]

_PREFIX = re.compile(r"^(?:/(?:test|demo|prod))?(?:/api)?/v2(/.*)\Z", re.DOTALL)


class RequestContractViolation(AssertionError):
    """The client sent a request the official spec does not allow."""


@lru_cache(maxsize=1)
def official_spec() -> Spec:
    from mockksef import official

    return Spec.from_dir(official.locate())


def api_path(url: str | httpx.URL) -> str | None:
    """The operation path of an API URL (after ``/v2``), or None for other URLs."""
    match = _PREFIX.match(urlsplit(str(url)).path)
    return unquote(match.group(1)) if match else None


def request_problems(spec: Spec, request: httpx.Request) -> list[str]:
    """Everything wrong with one request; [] when it is a valid official call."""
    path = api_path(request.url)
    if path is None:
        return []
    label = f"{request.method} {path}"
    op = operations.match(request.method, path)
    if op is None:
        return [f"{label}: no official operation has this method and path"]
    if op.newer_than_spec:
        return []
    spec_op = spec.operation(op.method, op.path)
    if spec_op is None:
        return [f"{label}: not in the official spec"]
    problems: list[str] = []
    # Path parameters, in template order.
    names = re.findall(r"\{([^}]+)\}", op.path)
    template = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(op.path))
    found = re.match(f"^{template}\\Z", path, re.DOTALL)
    params = {p.get("name"): p for p in spec_op.parameters}
    if found:
        for name, value in zip(names, found.groups(), strict=False):
            param = params.get(name)
            if param is not None:
                problems += [
                    f"{label}: path {m}"
                    for m in spec.validate_value(param.get("schema", {}), value, name).errors
                ]
    # Query parameters: declared, required present, values valid.
    query = request.url.params
    declared = {p["name"] for p in spec_op.parameters if p.get("in") == "query"}
    for name in sorted(set(query.keys()) - declared):
        problems.append(f"{label}: query parameter {name!r} is not declared")
    for param in spec_op.parameters:
        if param.get("in") != "query":
            continue
        name = param["name"]
        given = query.get_list(name)
        if not given:
            if param.get("required"):
                problems.append(f"{label}: required query parameter {name!r} is missing")
            continue
        schema = param.get("schema", {})
        typed = query_value(resolved_schema(spec, schema), given)
        result = spec.validate_value(schema, typed, name)
        problems += [f"{label}: query {m}" for m in result.errors]
        if not result.errors and result.value != typed:
            problems.append(f"{label}: query {name!r} must use the official spelling")
    # Headers the spec declares.
    for param in spec_op.parameters:
        if param.get("in") == "header" and param.get("required"):
            if param["name"] not in request.headers:
                problems.append(f"{label}: required header {param['name']!r} is missing")
    problems += _body_problems(spec, spec_op.raw.get("requestBody"), request, label)
    return problems


def _body_problems(
    spec: Spec, declared: dict[str, Any] | None, request: httpx.Request, label: str
) -> list[str]:
    content = request.content if _has_content(request) else b""
    if not declared:
        return [f"{label}: the operation takes no body"] if content else []
    if not content:
        # The spec rarely sets requestBody.required; a schema with required
        # properties cannot be met by no body either (the server answers 21405).
        schema = (declared.get("content", {}).get("application/json") or {}).get("schema")
        needed = declared.get("required") or bool(
            schema and resolved_schema(spec, schema).get("required")
        )
        return [f"{label}: the request body is required"] if needed else []
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    media_types = declared.get("content", {})
    if media not in media_types:
        return [f"{label}: content type {media!r} is not one of {sorted(media_types)}"]
    if media.endswith("json"):
        try:
            body = json.loads(content)
        except ValueError as exc:
            return [f"{label}: body is not JSON: {exc}"]
        schema = media_types[media].get("schema")
        if schema is None:
            return []
        result = spec.validate_value(schema, body)
        problems = [f"{label}: body {m}" for m in result.errors]
        if not result.errors and result.value != body:
            problems.append(f"{label}: body must use the official property names and enum values")
        return problems
    if media.endswith("xml"):
        try:
            etree.fromstring(
                content, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            )
        except etree.XMLSyntaxError as exc:
            return [f"{label}: body is not well-formed XML: {exc}"]
    return []


def _has_content(request: httpx.Request) -> bool:
    try:
        return bool(request.content)
    except httpx.RequestNotRead:
        return False  # a streamed body: nothing to inspect without consuming it


def request_hook(spec: Spec | None = None) -> Callable[[httpx.Request], None]:
    """A sync ``event_hooks["request"]`` hook raising on an invalid request."""
    checked = spec

    def check_request(request: httpx.Request) -> None:
        problems = request_problems(checked or official_spec(), request)
        if problems:
            raise RequestContractViolation(
                "request violates the official spec:\n" + "\n".join(problems)
            )

    return check_request


def async_request_hook(spec: Spec | None = None) -> Callable[[httpx.Request], Any]:
    sync = request_hook(spec)

    async def check_request(request: httpx.Request) -> None:
        sync(request)

    return check_request


def install(client: httpx.Client | httpx.AsyncClient, spec: Spec | None = None) -> Any:
    """Add the hook to a client; returns the hook (to remove it later)."""
    hook = async_request_hook(spec) if isinstance(client, httpx.AsyncClient) else request_hook(spec)
    # A marker on the function object, so remove() finds the hook again.
    hook.ksef_contract_hook = True  # type: ignore[union-attr]  # functions take attributes
    hooks = client.event_hooks
    hooks["request"] = [*hooks.get("request", []), hook]
    client.event_hooks = hooks
    return hook


@contextlib.contextmanager
def validating(client: Any, spec: Spec | None = None) -> Iterator[Any]:
    """Validate the client's requests inside the block only.

    Clients that are not httpx clients (no ``event_hooks``) pass through unchecked.
    """
    if not hasattr(client, "event_hooks") or any(
        getattr(h, "ksef_contract_hook", False) for h in client.event_hooks.get("request", [])
    ):
        yield client  # not an httpx client, or already validating (nested flows)
        return
    hook = install(client, spec)
    try:
        yield client
    finally:
        hooks = client.event_hooks
        hooks["request"] = [h for h in hooks.get("request", []) if h is not hook]
        client.event_hooks = hooks
