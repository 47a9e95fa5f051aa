"""The operation registry: (method, path template) -> one stable name.

The official OpenAPI has no ``operationId``; these names are ours and are used
everywhere an operation must be named: route names, rate-limit counters,
scenario matching, the journal and the coverage report. A test checks that
the table and the official spec list the same operations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str
    area: str
    # Added after the official spec we read (API 2.7.1+), so not in open-api.json.
    newer_than_spec: bool = False

    @property
    def regex(self) -> re.Pattern[str]:
        return _template_regex(self.path)


def _template_regex(path: str) -> re.Pattern[str]:
    pattern = re.sub(
        r"\{[^}]+\}", r"[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    )
    # DOTALL and \Z: a parameter holding a newline still names the operation.
    return re.compile(f"^{pattern}\\Z", re.DOTALL)


_TABLE: list[tuple[str, str, str]] = [
    # auth
    ("POST", "/auth/challenge", "auth.challenge"),
    ("POST", "/auth/xades-signature", "auth.xades_signature"),
    ("POST", "/auth/ksef-token", "auth.ksef_token"),
    ("GET", "/auth/{referenceNumber}", "auth.status"),
    ("POST", "/auth/token/redeem", "auth.redeem_token"),
    ("POST", "/auth/token/refresh", "auth.refresh_token"),
    ("GET", "/auth/sessions", "auth.list_sessions"),
    ("DELETE", "/auth/sessions/current", "auth.revoke_current_session"),
    ("DELETE", "/auth/sessions/{referenceNumber}", "auth.revoke_session"),
    # certificates (+ public keys)
    ("GET", "/security/public-key-certificates", "certificates.public_keys"),
    ("GET", "/certificates/limits", "certificates.limits"),
    ("GET", "/certificates/enrollments/data", "certificates.enrollment_data"),
    ("POST", "/certificates/enrollments", "certificates.enroll"),
    ("GET", "/certificates/enrollments/{referenceNumber}", "certificates.enrollment_status"),
    ("POST", "/certificates/retrieve", "certificates.retrieve"),
    ("POST", "/certificates/{certificateSerialNumber}/revoke", "certificates.revoke"),
    ("POST", "/certificates/query", "certificates.query"),
    # tokens
    ("POST", "/tokens", "tokens.generate"),
    ("GET", "/tokens", "tokens.list"),
    ("GET", "/tokens/{referenceNumber}", "tokens.get"),
    ("DELETE", "/tokens/{referenceNumber}", "tokens.revoke"),
    # limits
    ("GET", "/limits/context", "limits.context"),
    ("GET", "/limits/subject", "limits.subject"),
    ("GET", "/rate-limits", "limits.rate_limits"),
    # testdata
    ("POST", "/testdata/subject", "testdata.create_subject"),
    ("POST", "/testdata/subject/remove", "testdata.remove_subject"),
    ("POST", "/testdata/person", "testdata.create_person"),
    ("POST", "/testdata/person/remove", "testdata.remove_person"),
    ("POST", "/testdata/permissions", "testdata.grant_permissions"),
    ("POST", "/testdata/permissions/revoke", "testdata.revoke_permissions"),
    ("POST", "/testdata/attachment", "testdata.allow_attachments"),
    ("POST", "/testdata/attachment/revoke", "testdata.revoke_attachments"),
    ("POST", "/testdata/context/block", "testdata.block_context"),
    ("POST", "/testdata/context/unblock", "testdata.unblock_context"),
    ("POST", "/testdata/limits/context/session", "testdata.set_session_limits"),
    ("DELETE", "/testdata/limits/context/session", "testdata.reset_session_limits"),
    ("POST", "/testdata/limits/subject/certificate", "testdata.set_certificate_limits"),
    ("DELETE", "/testdata/limits/subject/certificate", "testdata.reset_certificate_limits"),
    ("POST", "/testdata/rate-limits", "testdata.set_rate_limits"),
    ("DELETE", "/testdata/rate-limits", "testdata.reset_rate_limits"),
    ("POST", "/testdata/rate-limits/production", "testdata.set_production_rate_limits"),
    ("PUT", "/testdata/certificates/{serialNumber}", "testdata.update_certificate"),
    # permissions
    ("POST", "/permissions/persons/grants", "permissions.grant_persons"),
    ("POST", "/permissions/entities/grants", "permissions.grant_entities"),
    ("POST", "/permissions/authorizations/grants", "permissions.grant_authorizations"),
    ("POST", "/permissions/indirect/grants", "permissions.grant_indirect"),
    ("POST", "/permissions/subunits/grants", "permissions.grant_subunits"),
    (
        "POST",
        "/permissions/eu-entities/administration/grants",
        "permissions.grant_eu_entity_administration",
    ),
    ("POST", "/permissions/eu-entities/grants", "permissions.grant_eu_entities"),
    ("DELETE", "/permissions/common/grants/{permissionId}", "permissions.revoke_common"),
    (
        "DELETE",
        "/permissions/authorizations/grants/{permissionId}",
        "permissions.revoke_authorization",
    ),
    ("GET", "/permissions/operations/{referenceNumber}", "permissions.operation_status"),
    ("GET", "/permissions/attachments/status", "permissions.attachment_status"),
    ("POST", "/permissions/query/personal/grants", "permissions.query_personal"),
    ("POST", "/permissions/query/persons/grants", "permissions.query_persons"),
    ("POST", "/permissions/query/subunits/grants", "permissions.query_subunits"),
    ("POST", "/permissions/query/entities/grants", "permissions.query_entities"),
    ("GET", "/permissions/query/entities/roles", "permissions.query_entity_roles"),
    (
        "POST",
        "/permissions/query/subordinate-entities/roles",
        "permissions.query_subordinate_roles",
    ),
    ("POST", "/permissions/query/authorizations/grants", "permissions.query_authorizations"),
    ("POST", "/permissions/query/eu-entities/grants", "permissions.query_eu_entities"),
    # sessions
    ("POST", "/sessions/online", "sessions.open_online"),
    ("POST", "/sessions/online/{referenceNumber}/invoices", "sessions.send_invoice"),
    ("POST", "/sessions/online/{referenceNumber}/close", "sessions.close_online"),
    ("POST", "/sessions/batch", "sessions.open_batch"),
    ("POST", "/sessions/batch/{referenceNumber}/close", "sessions.close_batch"),
    ("GET", "/sessions", "sessions.list"),
    ("GET", "/sessions/{referenceNumber}", "sessions.status"),
    ("GET", "/sessions/{referenceNumber}/invoices", "sessions.invoices"),
    ("GET", "/sessions/{referenceNumber}/invoices/failed", "sessions.failed_invoices"),
    (
        "GET",
        "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}",
        "sessions.invoice_status",
    ),
    (
        "GET",
        "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo",
        "sessions.invoice_upo_by_ksef",
    ),
    (
        "GET",
        "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo",
        "sessions.invoice_upo",
    ),
    ("GET", "/sessions/{referenceNumber}/upo/{upoReferenceNumber}", "sessions.session_upo"),
    # invoices
    ("GET", "/invoices/ksef/{ksefNumber}", "invoices.download"),
    ("POST", "/invoices/query/metadata", "invoices.query_metadata"),
    ("POST", "/invoices/exports", "invoices.export"),
    ("GET", "/invoices/exports/{referenceNumber}", "invoices.export_status"),
    # collective identifiers
    ("POST", "/collective-identifiers", "collective.create"),
    ("POST", "/collective-identifiers/query", "collective.query"),
    (
        "GET",
        "/collective-identifiers/{collectiveIdentifierNumber}/invoices",
        "collective.invoices_v270",
    ),
    ("GET", "/collective-identifiers/ksef/{ksefNumber}", "collective.by_ksef_number"),
    # peppol
    ("GET", "/peppol/query", "peppol.query"),
]

# Operations that appeared after API 2.7.0 (reference part C).
_NEWER: list[tuple[str, str, str]] = [
    ("POST", "/collective-identifiers/invoices", "collective.invoices"),
]


def _build() -> tuple[Operation, ...]:
    ops = [Operation(i, m, p, i.split(".")[0]) for m, p, i in _TABLE]
    ops += [Operation(i, m, p, i.split(".")[0], newer_than_spec=True) for m, p, i in _NEWER]
    return tuple(ops)


OPERATIONS: tuple[Operation, ...] = _build()
BY_ID: dict[str, Operation] = {op.id: op for op in OPERATIONS}
BY_KEY: dict[tuple[str, str], Operation] = {(op.method, op.path): op for op in OPERATIONS}


def get(op_id: str) -> Operation:
    return BY_ID[op_id]


def match(method: str, path: str) -> Operation | None:
    """Find the operation a concrete request path belongs to.

    Literal segments win over parameters (``/auth/sessions`` before
    ``/auth/{referenceNumber}``), as in the real router.
    """
    best: tuple[int, Operation] | None = None
    for op in OPERATIONS:
        if op.method != method.upper() or not op.regex.match(path):
            continue
        literal = sum(1 for seg in op.path.split("/") if seg and not seg.startswith("{"))
        if best is None or literal > best[0]:
            best = (literal, op)
    return best[1] if best else None
