"""What API 2.7.1–2.9.0 changed in the schemas after the official 2.7.0 spec we read.

Reference part C is newer than ``open-api.json`` and wins where they disagree.
These are facts about the newer contract (field names, enum values, required
lists), applied on top of the official document when it is loaded, so that
request validation, response checks and the contract harness all see the
contract a current client (API 2.9) expects. Nothing here copies official text.
"""

from __future__ import annotations

from typing import Any

_GROUP = {"allOf": [{"$ref": "#/components/schemas/EffectiveApiRateLimitValues"}]}
_MAX_INVOICES = {
    "required": ["maxInvoices"],
    "type": "object",
    "properties": {"maxInvoices": {"type": "integer", "format": "int32"}},
}

# (schema name, values appended to its enum)
ENUM_ADDITIONS: list[tuple[str, list[str]]] = [
    ("EntityPermissionType", ["CollectiveIdentifierManage"]),  # 2.8.1
    ("EntityPermissionItemScope", ["CollectiveIdentifierManage"]),  # 2.8.1
    ("IndirectPermissionType", ["CollectiveIdentifierManage"]),  # 2.8.1
    ("CurrencyCode", ["CNH", "VED", "XTS", "ZWG", "SLE"]),  # 2.8.x
]

# (schema name, new properties, names added to required)
PROPERTY_ADDITIONS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "EffectiveApiRateLimits",  # 2.8.0: 17 groups
        {
            "onlineSessionClose": _GROUP,
            "batchSessionClose": _GROUP,
            "anonymous": _GROUP,
            "global": _GROUP,
        },
        ["onlineSessionClose", "batchSessionClose", "anonymous", "global"],
    ),
    (
        "EffectiveContextLimits",  # 2.7.1
        {
            "collectiveIdentifier": {
                "allOf": [
                    {"$ref": "#/components/schemas/CollectiveIdentifierEffectiveContextLimits"}
                ]
            }
        },
        ["collectiveIdentifier"],
    ),
    (
        "SetSessionLimitsRequest",  # 2.7.1
        {
            "collectiveIdentifier": {
                "allOf": [
                    {"$ref": "#/components/schemas/CollectiveIdentifierContextLimitsOverride"}
                ]
            }
        },
        ["collectiveIdentifier"],
    ),
    (
        "InvoicePackage",  # 2.7.1
        {"compressionType": {"allOf": [{"$ref": "#/components/schemas/CompressionType"}]}},
        ["compressionType"],
    ),
    (
        "QueryPersonalPermissionsResponse",  # 2.9.0
        {
            "ownerPermissions": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/OwnerPermissionScope"},
                "nullable": True,
            }
        },
        [],
    ),
]

NEW_SCHEMAS: dict[str, Any] = {
    "CollectiveIdentifierEffectiveContextLimits": _MAX_INVOICES,
    "CollectiveIdentifierContextLimitsOverride": {
        "required": ["maxInvoices"],
        "type": "object",
        "properties": {
            "maxInvoices": {"type": "integer", "format": "int32", "minimum": 2, "maximum": 5000}
        },
    },
    "OwnerPermissionScope": {
        "enum": [
            "CredentialsManage",
            "CredentialsRead",
            "InvoiceWrite",
            "InvoiceRead",
            "Introspection",
            "SubunitManage",
            "EnforcementOperations",
            "CollectiveIdentifierManage",
        ],
        "type": "string",
    },
}

# (schema name, names dropped from required)
REQUIRED_REMOVALS: list[tuple[str, list[str]]] = [
    ("ForbiddenProblemDetails", ["timestamp"]),  # 2.8.x
    # Deprecated since 2.1.0, removed on 2026-11-16 (the spec's own deprecation note).
    ("AuthenticationOperationStatusResponse", ["authenticationMethod"]),
    ("AuthenticationListItem", ["authenticationMethod"]),
    # Left out when nothing failed: java QueryInvoiceIntegrationTest
    # .queryInvoiceWithAttachmentAndWithout reads a null list (TEST, 2026-04).
    ("SessionInvoicesResponse", ["invoices"]),
]


def apply(document: dict[str, Any]) -> list[str]:
    """Patch ``document`` in place; return what was changed (for reports)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    changes: list[str] = []
    for name, schema in NEW_SCHEMAS.items():
        if name not in schemas:
            schemas[name] = schema
            changes.append(f"+schema {name}")
    for name, values in ENUM_ADDITIONS:
        enum = schemas.get(name, {}).get("enum")
        if enum is not None:
            for value in values:
                if value not in enum:
                    enum.append(value)
                    changes.append(f"{name} +{value}")
    for name, props, required in PROPERTY_ADDITIONS:
        schema = schemas.get(name)
        if schema is None:
            continue
        for prop, sub in props.items():
            if prop not in schema.setdefault("properties", {}):
                schema["properties"][prop] = sub
                changes.append(f"{name}.{prop}")
        req = schema.setdefault("required", [])
        for prop in required:
            if prop not in req:
                req.append(prop)
    for name, dropped in REQUIRED_REMOVALS:
        schema = schemas.get(name)
        if schema and "required" in schema:
            schema["required"] = [r for r in schema["required"] if r not in dropped]
    return changes
