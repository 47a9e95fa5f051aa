"""The operation registry agrees with the official spec, and routes use its names."""

from __future__ import annotations

from mockksef import operations
from mockksef.services import all_routes


def test_registry_lists_exactly_the_official_operations(spec):
    official = {(op.method, op.path) for op in spec.operations()}
    ours = {(op.method, op.path) for op in operations.OPERATIONS if not op.newer_than_spec}
    assert ours == official


def test_operation_ids_are_unique_and_area_prefixed():
    ids = [op.id for op in operations.OPERATIONS]
    assert len(ids) == len(set(ids))
    for op in operations.OPERATIONS:
        assert op.id.split(".")[0] == op.area


def test_every_route_is_a_registered_operation():
    for route in all_routes():
        op = operations.BY_ID.get(route.name)  # type: ignore[attr-defined]
        assert op is not None, route.name  # type: ignore[attr-defined]
        assert op.path == route.path  # type: ignore[attr-defined]
        assert route.methods and op.method in route.methods  # type: ignore[attr-defined]


def test_match_prefers_literal_segments():
    assert operations.match("GET", "/auth/sessions").id == "auth.list_sessions"  # type: ignore[union-attr]
    assert operations.match("GET", "/auth/20250514-AU-2DFC46C000-3AC6D5877F-D4").id == "auth.status"  # type: ignore[union-attr]
    assert operations.match("DELETE", "/auth/sessions/current").id == "auth.revoke_current_session"  # type: ignore[union-attr]
    assert operations.match("GET", "/nope") is None
