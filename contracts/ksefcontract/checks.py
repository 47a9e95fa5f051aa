"""Checks beyond the response schema: the rules KSeF states in prose, not in JSON Schema.

Each check is a schemathesis check function ``(ctx, response, case)`` that
raises :class:`ContractViolation`; the harness runs them with schemathesis'
own (status code, content type, headers, body schema, no 5xx):

* ``documented_exception_codes`` — every exception code in a 400 body is one
  the spec documents for that operation (its 400 table), or 21001/21405, which
  API 2.9 documents for every operation (reference part C §5 item 4), or one
  that a later API version added for that operation (part C §4, §7);
* ``error_format_follows_header`` — 400 and 429 are legacy ``application/json``
  unless the request sent ``X-Error-Format: problem-details``; 401, 403 and 410
  are always ``application/problem+json`` (reference part A §8.1);
* ``retry_after_on_429`` — a 429 carries ``Retry-After`` in whole seconds;
* ``meta_hash_matches_body`` — where the spec declares ``x-ms-meta-hash``, the
  header is present and is the Base64 SHA-256 of the exact body;
* ``documents_match_official_xsd`` — UPOs and downloaded invoices validate
  against the official XSDs (see :mod:`ksefcontract.xsd`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemathesis import checks as builtin
from schemathesis.core.failures import Failure

from ksefcontract.xsd import UPO_NAMESPACE, DocumentSchemas
from mockksef import operations
from mockksef.spec import Spec

__all__ = [
    "DOCUMENTED_EVERYWHERE",
    "NEWER_DOCUMENTED",
    "ContractViolation",
    "KsefChecks",
    "MethodProbe",
    "allow_problems",
    "exception_codes",
    "method_probes",
]

CheckFunction = Callable[[Any, Any, Any], Any]

# API 2.9 documents 21001 (unreadable content) and 21405 (validation) everywhere.
DOCUMENTED_EVERYWHERE = frozenset({21001, 21405})

# Codes later API versions added to an operation's 400 table (reference part C).
NEWER_DOCUMENTED: dict[str, frozenset[int]] = {
    "sessions.send_invoice": frozenset({21184}),  # 2.8.0, C §4.5
    "collective.create": frozenset({71004, 71005}),  # 2.8.1, C §2.3
    "collective.query": frozenset({21418}),  # 2.8.1, C §2.4
    "collective.invoices_v270": frozenset({21418}),  # C §2.5 (its 2.7.1 successor has it)
    "collective.by_ksef_number": frozenset({21418}),  # 2.8.1, C §2.6
}

PROBLEM_JSON = "application/problem+json"
LEGACY_JSON = "application/json"
_ALWAYS_PROBLEM = (401, 403, 410)
_FORMAT_BY_HEADER = (400, 429)


class ContractViolation(Failure):
    """A KSeF rule that the response schema alone does not express."""

    code = "ST901"
    kind_title = "KSeF contract violation"


def _violation(case: Any, title: str, message: str) -> ContractViolation:
    return ContractViolation(operation=case.operation.label, title=title, message=message)


def _media(response: Any) -> str:
    values = response.headers.get("content-type") or [""]
    value = values[0] if isinstance(values, list) else values
    return str(value).split(";", 1)[0].strip().lower()


def _header(response: Any, name: str) -> str | None:
    values = response.headers.get(name.lower())
    if values is None:
        return None
    return str(values[0] if isinstance(values, list) else values)


def _sent_header(response: Any, name: str) -> str | None:
    request = getattr(response, "request", None)
    if request is None or request.headers is None:
        return None
    value = request.headers.get(name)  # requests' headers are case-insensitive
    return None if value is None else str(value)


def _body(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, TypeError):
        return None


def wants_problem_details(response: Any) -> bool:
    value = _sent_header(response, "X-Error-Format")
    return value is not None and value.strip().lower() == "problem-details"


def exception_codes(body: Any) -> list[int]:
    """Exception codes of a 400 body in either official shape (legacy or problem+json)."""
    codes: list[int] = []
    if not isinstance(body, dict):
        return codes
    exception = body.get("exception")
    if isinstance(exception, dict):
        for entry in exception.get("exceptionDetailList") or ():
            if isinstance(entry, dict) and isinstance(entry.get("exceptionCode"), int):
                codes.append(entry["exceptionCode"])
    for entry in body.get("errors") or ():
        if isinstance(entry, dict) and isinstance(entry.get("code"), int):
            codes.append(entry["code"])
    return codes


# What every answer is held to, to a valid request and to a malformed one alike.
_EVERY_ANSWER: tuple[CheckFunction, ...] = (
    builtin.not_a_server_error,
    builtin.status_code_conformance,
    builtin.content_type_conformance,
    builtin.response_schema_conformance,
)


class KsefChecks:
    """The KSeF checks bound to one spec and the official document schemas."""

    def __init__(
        self,
        spec: Spec,
        documents: DocumentSchemas | None = None,
        tolerated: Mapping[str, Iterable[int]] | None = None,
    ) -> None:
        self.spec = spec
        self.documents = documents
        # Known deviations a caller chooses to accept, by operation id (kept out
        # of the defaults: the rule is the spec's).
        self.tolerated = {op: frozenset(codes) for op, codes in (tolerated or {}).items()}

    # -- the lists the harness runs ----------------------------------------------------

    @property
    def custom(self) -> list[CheckFunction]:
        found: list[CheckFunction] = [
            self.documented_exception_codes,
            self.error_format_follows_header,
            self.retry_after_on_429,
            self.meta_hash_matches_body,
        ]
        if self.documents is not None:
            found.append(self.documents_match_official_xsd)
        return found

    @property
    def positive(self) -> list[CheckFunction]:
        # Not `positive_data_acceptance`: KSeF answers a well-formed but unknown
        # resource with 400 and a specific exception code (never 404).
        return [*_EVERY_ANSWER, builtin.response_headers_conformance, *self.custom]

    @property
    def negative(self) -> list[CheckFunction]:
        # Schema-violating requests must be refused with a declared 4xx in the
        # official shape (never a 5xx, never an undeclared status).
        return [*_EVERY_ANSWER, builtin.negative_data_rejection, *self.custom]

    # -- helpers ----------------------------------------------------------------------------

    def allowed_codes(self, method: str, path: str) -> frozenset[int] | None:
        """Exception codes an operation may return; None when the spec does not know it."""
        spec_op = self.spec.operation(method, path)
        if spec_op is None:
            return None
        op = operations.BY_KEY.get((method.upper(), path))
        extra: frozenset[int] = frozenset()
        if op is not None:
            extra = NEWER_DOCUMENTED.get(op.id, frozenset()) | self.tolerated.get(
                op.id, frozenset()
            )
        return spec_op.documented_codes | DOCUMENTED_EVERYWHERE | extra

    # -- the checks ----------------------------------------------------------------------

    def documented_exception_codes(self, ctx: Any, response: Any, case: Any) -> None:
        if response.status_code != 400:
            return
        allowed = self.allowed_codes(case.operation.method, case.operation.path)
        if allowed is None:
            return
        undocumented = [c for c in exception_codes(_body(response)) if c not in allowed]
        if undocumented:
            raise _violation(
                case,
                "Undocumented exception code",
                f"{case.operation.label} answered 400 with exception code(s) "
                f"{sorted(set(undocumented))}, which the spec does not document for this "
                f"operation (documented: {sorted(allowed)}).",
            )

    def error_format_follows_header(self, ctx: Any, response: Any, case: Any) -> None:
        status = response.status_code
        media = _media(response)
        if status in _ALWAYS_PROBLEM:
            if media != PROBLEM_JSON:
                raise _violation(
                    case,
                    "Error format",
                    f"{status} must always be {PROBLEM_JSON}, got {media or 'no content type'!r}.",
                )
            return
        if status not in _FORMAT_BY_HEADER:
            return
        body = _body(response)
        if wants_problem_details(response):
            if media != PROBLEM_JSON or not (
                isinstance(body, dict) and body.get("status") == status and "title" in body
            ):
                raise _violation(
                    case,
                    "Error format",
                    f"the request sent 'X-Error-Format: problem-details', so {status} must be "
                    f"{PROBLEM_JSON} with title and status {status}; got {media!r}.",
                )
            return
        legacy_key = "exception" if status == 400 else "status"
        if media != LEGACY_JSON or not (isinstance(body, dict) and legacy_key in body):
            raise _violation(
                case,
                "Error format",
                f"without 'X-Error-Format: problem-details' a {status} must be the legacy "
                f"{LEGACY_JSON} body with {legacy_key!r}; got {media!r}.",
            )

    def retry_after_on_429(self, ctx: Any, response: Any, case: Any) -> None:
        if response.status_code != 429:
            return
        value = _header(response, "retry-after")
        if value is None:
            raise _violation(case, "Missing Retry-After", "a 429 must carry Retry-After.")
        if not value.strip().isdigit():
            raise _violation(
                case,
                "Malformed Retry-After",
                f"Retry-After must be whole seconds (RetryAfter: int32), got {value!r}.",
            )

    def _declared_headers(self, case: Any, status: int) -> set[str]:
        spec_op = self.spec.operation(case.operation.method, case.operation.path)
        if spec_op is None:
            return set()
        declared = spec_op.raw.get("responses", {}).get(str(status), {})
        return {name.lower() for name in declared.get("headers", {}) or {}}

    def meta_hash_matches_body(self, ctx: Any, response: Any, case: Any) -> None:
        if not 200 <= response.status_code < 300:
            return
        if "x-ms-meta-hash" not in self._declared_headers(case, response.status_code):
            return
        value = _header(response, "x-ms-meta-hash")
        expected = base64.b64encode(hashlib.sha256(response.content or b"").digest()).decode()
        if value is None:
            raise _violation(
                case, "Missing x-ms-meta-hash", "the spec declares x-ms-meta-hash for this answer."
            )
        if value.strip() != expected:
            raise _violation(
                case,
                "Wrong x-ms-meta-hash",
                f"x-ms-meta-hash {value!r} is not the Base64 SHA-256 of the body ({expected!r}).",
            )

    def documents_match_official_xsd(self, ctx: Any, response: Any, case: Any) -> None:
        if self.documents is None or not 200 <= response.status_code < 300:
            return
        if not _media(response).endswith("xml"):
            return
        spec_op = self.spec.operation(case.operation.method, case.operation.path)
        declared = (
            spec_op.raw.get("responses", {}).get(str(response.status_code), {}).get("content")
            if spec_op
            else None
        ) or {}
        if not any(media.endswith("xml") for media in declared):
            return
        problems = self.documents.validate(response.content or b"", self.expected(case))
        if problems:
            raise _violation(
                case,
                "Document does not match the official XSD",
                "\n".join(p.message for p in problems),
            )

    def expected(self, case: Any) -> tuple[str, ...]:
        """UPO endpoints serve UPOs; the invoice download serves invoices."""
        path: str = case.operation.path
        if path.endswith("/upo") or "/upo/" in path:
            return (UPO_NAMESPACE,)
        assert self.documents is not None
        return self.documents.invoice_namespaces()


# -- methods a path does not serve ----------------------------------------------------------

# The first of these a path does not serve is the one sent; every official path lacks one.
_PROBED_METHODS = ("DELETE", "PUT", "POST", "GET", "PATCH")
# A well-formed value for any path parameter (routing decides the 405, not the value).
_SAMPLE_PARAMETER = "20250514-SO-2DFC46C000-3AC6D5877F-D4"


@dataclass(frozen=True)
class MethodProbe:
    """One request no route serves: ``method`` on ``path`` (the template filled in)."""

    template: str
    path: str
    method: str
    served: frozenset[str]


def method_probes() -> list[MethodProbe]:
    """One probe per official path: a method it does not serve, and the methods it does
    (those of every operation whose template matches the filled-in path)."""
    probes = []
    for template in sorted({op.path for op in operations.OPERATIONS}):
        path = _fill(template)
        served = frozenset(op.method for op in operations.OPERATIONS if op.regex.match(path))
        method = next(m for m in _PROBED_METHODS if m not in served)
        probes.append(MethodProbe(template, path, method, served))
    return probes


def _fill(template: str) -> str:
    out, rest = "", template
    while "{" in rest:
        before, _, after = rest.partition("{")
        out += before + _SAMPLE_PARAMETER
        rest = after.partition("}")[2]
    return out + rest


def allow_problems(probe: MethodProbe, status: int, allow: str | None) -> list[str]:
    """What breaks RFC 9110 §15.5.6 in the answer to a probe: a 405 that names, in ``Allow``,
    every method the path serves and not the one refused."""
    if status != 405:
        return [f"{probe.method} {probe.template} answered {status}, not 405"]
    if allow is None:
        return [f"the 405 to {probe.method} {probe.template} carries no Allow header"]
    listed = {m.strip().upper() for m in allow.split(",") if m.strip()}
    problems = []
    missing = sorted(probe.served - listed)
    if missing:
        problems.append(f"Allow {allow!r} of {probe.template} leaves out {', '.join(missing)}")
    if probe.method in listed:
        problems.append(f"Allow {allow!r} names {probe.method}, which was refused with 405")
    return problems
