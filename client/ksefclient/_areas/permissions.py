"""Permissions: grant to a person, query one's own, revoke, follow the operation (``/permissions``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ksefclient._core import Flow, ProtocolCore, segment
from ksefclient._exceptions import KsefStatusError
from ksefclient._models import ContextIdentifier, PersonalPermission, StatusInfo
from ksefclient._responses import parse

__all__ = [
    "grant_person_permissions",
    "permission_operation_status",
    "query_personal_permissions",
    "revoke_permission",
    "wait_for_permission_operation",
]

# KSeF requires a name with a grant by identifier (personById: first name 2-30,
# last name 2-81 characters); the public signature takes none, so a placeholder.
_PERSON_NAME = {"firstName": "Jan", "lastName": "Kowalski"}


def grant_person_permissions(
    core: ProtocolCore,
    subject: ContextIdentifier,
    permissions: Sequence[str],
    description: str,
    *,
    wait: bool = True,
) -> Flow[str]:
    """Grant permissions to a person (``Nip``/``Pesel``/``Fingerprint``); the operation's reference.

    A grant of permissions already held changes nothing, so a retry after a
    lost answer is harmless.
    """
    body = {
        "subjectIdentifier": subject.to_json(),
        "permissions": list(permissions),
        "description": description,
        "subjectDetails": {
            "subjectDetailsType": "PersonByIdentifier",
            "personById": dict(_PERSON_NAME),
        },
    }
    data = yield from core.json_call(
        "POST", "/permissions/persons/grants", json=body, expected=(200, 201, 202)
    )
    reference = parse(lambda d: str(d["referenceNumber"]), data)
    if wait:
        yield from wait_for_permission_operation(core, reference)
    return reference


def permission_operation_status(core: ProtocolCore, reference: str) -> Flow[StatusInfo]:
    data = yield from core.json_call("GET", f"/permissions/operations/{segment(reference)}")
    return parse(lambda d: StatusInfo.from_json(d["status"]), data)


def wait_for_permission_operation(core: ProtocolCore, reference: str) -> Flow[StatusInfo]:
    status = yield from core.poll(
        lambda: permission_operation_status(core, reference),
        lambda s: s.code != 100,
        what=f"permission operation {reference}",
        reference_number=reference,
    )
    if status.code != 200:
        raise KsefStatusError(
            f"permission operation {reference} ended with {status.code} {status.description} "
            f"{'; '.join(status.details)}",
            code=status.code,
            description=status.description,
            details=status.details,
            reference_number=reference,
        )
    return status


def query_personal_permissions(
    core: ProtocolCore, /, **filters: Any
) -> Flow[list[PersonalPermission]]:
    """Permissions held by the caller (``POST /permissions/query/personal/grants``), every page.

    ``filters`` is the request body (``contextIdentifier``, ``permissionTypes``…).
    """
    items: list[PersonalPermission] = []
    offset = 0
    while True:
        data = yield from core.json_call(
            "POST",
            "/permissions/query/personal/grants",
            params={"pageOffset": offset, "pageSize": 100},
            json=dict(filters),
        )
        items += parse(lambda d: [PersonalPermission.from_json(i) for i in d["permissions"]], data)
        if not (isinstance(data, dict) and data.get("hasMore")):
            return items
        offset += 1


def revoke_permission(core: ProtocolCore, permission_id: str, *, wait: bool = True) -> Flow[str]:
    data = yield from core.json_call(
        "DELETE",
        f"/permissions/common/grants/{segment(permission_id)}",
        expected=(200, 201, 202),
    )
    reference = parse(lambda d: str(d["referenceNumber"]), data)
    if wait:
        yield from wait_for_permission_operation(core, reference)
    return reference
