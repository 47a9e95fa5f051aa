"""Limits: the context's and the subject's, and the API rate limits (``/limits``, ``/rate-limits``)."""

from __future__ import annotations

from ksefclient._core import Flow, ProtocolCore
from ksefclient._models import ContextLimits, RateLimits, SubjectLimits
from ksefclient._responses import parse

__all__ = ["context_limits", "rate_limits", "subject_limits"]


def context_limits(core: ProtocolCore) -> Flow[ContextLimits]:
    data = yield from core.json_call("GET", "/limits/context")
    return parse(ContextLimits.from_json, data)


def subject_limits(core: ProtocolCore) -> Flow[SubjectLimits]:
    data = yield from core.json_call("GET", "/limits/subject")
    return parse(SubjectLimits.from_json, data)


def rate_limits(core: ProtocolCore) -> Flow[RateLimits]:
    data = yield from core.json_call("GET", "/rate-limits")
    return parse(RateLimits.from_json, data)
