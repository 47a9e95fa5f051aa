"""JSON from a request: one decoder for every body, token or field a client controls.

``json.loads`` raises ``RecursionError``, not ``ValueError``, on deeply nested
arrays (``[[[…`` a few thousand deep fits in a small body or a continuation
token); callers that caught ``ValueError`` answered 500. Here every unreadable
input is a ``ValueError``.
"""

from __future__ import annotations

import json
from typing import Any


def json_loads(data: str | bytes, **options: Any) -> Any:
    """``json.loads(data, **options)``; any input it cannot read raises ``ValueError``."""
    try:
        return json.loads(data, **options)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
