"""Check any response of the mock against the official spec (status, media type, body).

Installed as an httpx response hook on the test clients, so every ordinary API
test also proves that what it received is what the contract declares.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from mockksef import operations
from mockksef.spec import Spec

# Answers the spec does not declare but the mock gives by design: unknown
# routes/methods, and TEST-only endpoints on DEMO/PROD.
_UNDECLARED_OK = {404, 405}


def api_path(url: str) -> str | None:
    path = urlsplit(url).path
    for prefix in (
        "/test/api/v2",
        "/demo/api/v2",
        "/prod/api/v2",
        "/test/v2",
        "/demo/v2",
        "/prod/v2",
        "/api/v2",
        "/v2",
    ):
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return None


def problems(spec: Spec, response: httpx.Response) -> list[str]:
    path = api_path(str(response.request.url))
    if path is None:
        return []
    op = operations.match(response.request.method, path)
    if op is None or op.newer_than_spec:
        return []
    spec_op = spec.operation(op.method, op.path)
    if spec_op is None:
        return []
    status = str(response.status_code)
    declared = spec_op.raw.get("responses", {})
    if status not in declared:
        if response.status_code in _UNDECLARED_OK:
            return []
        return [f"{op.id}: status {status} is not declared (declared: {sorted(declared)})"]
    content = declared[status].get("content")
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if not content:
        if response.content:
            return [f"{op.id}: {status} must have no body, got {response.content[:80]!r}"]
        return []
    if media not in content:
        return [f"{op.id}: {status} content type {media!r} not in {sorted(content)}"]
    schema = content[media].get("schema")
    if schema is None or not media.endswith("json"):
        return []
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return [f"{op.id}: {status} body is not JSON"]
    result = spec.validate_value(schema, body)
    if result.value != body:
        # canonicalize() may have changed spellings: the answer must use the official ones.
        return [f"{op.id}: {status} body uses non-canonical names or enum spellings"]
    return [f"{op.id}: {status} {e}" for e in result.errors]


def hook(spec: Spec):  # type: ignore[no-untyped-def]
    def check(response: httpx.Response) -> None:
        response.read()
        found = problems(spec, response)
        assert not found, "response violates the official spec:\n" + "\n".join(found)

    return check
