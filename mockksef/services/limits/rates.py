"""Rate-limit groups and their default values, read from the official spec.

No limit value is typed here twice. The official OpenAPI gives, per operation,
its ``x-rate-limits`` (req/s, req/min, req/h) and, in the 429 table, the name of
its group (``-`` for the unauthenticated operations). Reference part C (API
2.7.1–2.8.x) is newer than that document and wins where they disagree; only its
deltas are written down in ``models.NEWER_GROUP_LIMITS`` and
``models.NEWER_OPERATION_GROUPS``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mockksef import operations
from mockksef.services.limits.models import (
    NEWER_GROUP_LIMITS,
    NEWER_GROUP_PREFIXES,
    NEWER_OPERATION_GROUPS,
    RATE_LIMIT_GROUPS,
    UNNAMED_GROUP,
    WINDOW_FIELDS,
    RateLimit,
)

if TYPE_CHECKING:
    from mockksef.spec import Spec, SpecOperation

# Last row of an operation's 429 description: "| **…** | 10 | 30 | 120 | other".
_GROUP_ROW = re.compile(
    r"^\|\s*\*\*[^|]*\*\*\s*\|\s*[-\d]+\s*\|\s*[-\d]+\s*\|\s*[-\d]+\s*\|\s*([A-Za-z-]+)\s*$",
    re.MULTILINE,
)
DEFAULT_GROUP = "other"


class RateLimitSpecError(RuntimeError):
    """The spec and the newer deltas do not give one value per group."""


@dataclass(frozen=True)
class RateLimitCatalogue:
    """Which group each operation is charged to, and each group's production values."""

    defaults: dict[str, RateLimit]  # all groups, in the order of GET /rate-limits
    groups: dict[str, str]  # operation id -> group

    def group_of(self, op_id: str) -> str:
        return self.groups.get(op_id, DEFAULT_GROUP)


def spec_group(spec_op: SpecOperation) -> str | None:
    """The group named in the operation's 429 table (``-`` is the unauthenticated one)."""
    text = spec_op.raw.get("responses", {}).get("429", {}).get("description", "")
    found = _GROUP_ROW.findall(text)
    if not found:
        return None
    return UNNAMED_GROUP if found[-1] == "-" else found[-1]


def spec_limit(spec_op: SpecOperation) -> RateLimit | None:
    """``x-rate-limits`` as a RateLimit; a window the spec leaves out is unlimited (-1)."""
    raw = spec_op.rate_limits
    if not raw:
        return None
    return RateLimit(*(int(raw.get(name, -1)) for name in WINDOW_FIELDS))


@functools.lru_cache(maxsize=8)
def catalogue(spec: Spec) -> RateLimitCatalogue:
    """Build the catalogue once per loaded spec."""
    groups: dict[str, str] = {}
    values: dict[str, dict[RateLimit, list[str]]] = {}
    for op in operations.OPERATIONS:
        group = NEWER_OPERATION_GROUPS.get(op.id)
        if group is None:
            group = next(
                (g for prefix, g in NEWER_GROUP_PREFIXES.items() if op.id.startswith(prefix)),
                None,
            )
        spec_op = None if op.newer_than_spec else spec.operation(op.method, op.path)
        if group is None and spec_op is not None:
            group = spec_group(spec_op)
        groups[op.id] = group or DEFAULT_GROUP
        limit = spec_limit(spec_op) if spec_op is not None else None
        if limit is not None and group not in NEWER_GROUP_LIMITS:
            values.setdefault(groups[op.id], {}).setdefault(limit, []).append(op.id)
    defaults: dict[str, RateLimit] = {}
    for group in RATE_LIMIT_GROUPS:
        if group in NEWER_GROUP_LIMITS:
            defaults[group] = NEWER_GROUP_LIMITS[group]
            continue
        found = values.get(group, {})
        if len(found) != 1:
            raise RateLimitSpecError(
                f"rate-limit group {group!r}: expected one value in the spec, got {found or 'none'}"
            )
        defaults[group] = next(iter(found))
    return RateLimitCatalogue(defaults, groups)
