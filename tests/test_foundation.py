"""The foundation: routing by environment, admin plane, error rendering, bad input."""

from __future__ import annotations

from mockksef.errors import CATALOGUE
from mockksef.ids import crc8, is_reference_number, with_checksum


def test_admin_health_and_clock(client, mock):
    health = client.get("/../_mock/health")
    assert health.status_code == 200
    before = mock.clock.now()
    moved = client.post("/../_mock/clock", json={"advance": 90})
    assert moved.status_code == 200
    assert (mock.clock.now() - before).total_seconds() == 90


def test_unknown_route_is_problem_json_404(client):
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_reference_number_checksum_matches_official_examples():
    # Examples from the official OpenAPI / docs.
    for ref in [
        "20250514-CR-226FB7B000-3ACF9BE4C0-10",
        "20250514-AU-2DFC46C000-3AC6D5877F-D4",
        "20251010-EC-1DCE3E3000-12ECB5B36E-45",
    ]:
        assert is_reference_number(ref), ref
    assert (
        with_checksum("20250514-CR-226FB7B000-3ACF9BE4C0") == "20250514-CR-226FB7B000-3ACF9BE4C0-10"
    )
    assert crc8(b"") == 0


# Codes whose description the real service words otherwise than the spec's 400 tables,
# each with the observation that shows it.
SERVICE_WORDING = {
    71001: "reworded in API 2.8.1 (reference C, collective identifiers 400 table)",
    21161: "java BatchIntegrationTest.shouldThrowWhileSendWithExceededPartCount (…pakietów.)",
}


def test_catalogue_texts_match_the_official_spec(spec):
    """Every catalogue description equals the one in the spec's 400 tables, except the
    few the real service is seen to word otherwise (and those do differ)."""
    import re

    seen: dict[int, set[str]] = {}
    for op in spec.operations():
        text = op.raw.get("responses", {}).get("400", {}).get("description", "")
        for code, description in re.findall(
            r"^\|\s*(\d{4,5})\s*\|\s*([^|]+?)\s*\|", text, re.MULTILINE
        ):
            seen.setdefault(int(code), set()).add(description.strip())
    assert seen, "no codes parsed from the spec"
    for code, descriptions in seen.items():
        assert code in CATALOGUE, f"{code} missing from the catalogue"
        documented = CATALOGUE[code].description in descriptions
        assert documented != (code in SERVICE_WORDING), (code, descriptions)
