"""GET /peppol/query: public, paged, sorted by dateCreated desc then id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mockksef.errors import InvalidInputData
from tests.conftest import START, legacy_codes


def schema(spec) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return spec.operation("GET", "/peppol/query").raw["responses"]["200"]["content"][
        "application/json"
    ]["schema"]


def test_empty_by_default_and_public(client, spec):
    response = client.get("/peppol/query")
    assert response.status_code == 200
    assert response.json() == {"peppolProviders": [], "hasMore": False}
    assert spec.validate_value(schema(spec), response.json()).errors == []


def test_registered_providers_sorted_and_paged(client, spec, mock):
    peppol = mock.env("TEST").peppol
    for i in range(12):
        # Two providers per timestamp: the id breaks the tie, ascending.
        peppol.register_provider(
            f"PPL{100 + i:06d}", f"Dostawca {i}", START + timedelta(minutes=i // 2)
        )
    first = client.get("/peppol/query").json()
    assert first["hasMore"] is True and len(first["peppolProviders"]) == 10
    assert [p["id"] for p in first["peppolProviders"][:3]] == [
        "PPL000110",
        "PPL000111",
        "PPL000108",
    ]
    assert first["peppolProviders"][0] == {
        "id": "PPL000110",
        "name": "Dostawca 10",
        "dateCreated": "2026-03-02T09:05:00.0000000+00:00",
    }
    assert spec.validate_value(schema(spec), first).errors == []
    second = client.get("/peppol/query", params={"pageOffset": 1, "pageSize": 10}).json()
    assert [p["id"] for p in second["peppolProviders"]] == ["PPL000100", "PPL000101"] and second[
        "hasMore"
    ] is False
    assert client.get("/peppol/query", params={"pageOffset": 5}).json() == {
        "peppolProviders": [],
        "hasMore": False,
    }


@pytest.mark.parametrize(
    "params", [{"pageSize": 9}, {"pageSize": 101}, {"pageOffset": -1}, {"pageSize": "abc"}]
)
def test_paging_validation(client, params):  # type: ignore[no-untyped-def]
    response = client.get("/peppol/query", params=params)
    assert response.status_code == 400 and legacy_codes(response) == [21405]


def test_auto_registration_keeps_the_first_entry(mock):
    peppol = mock.env("TEST").peppol
    first = peppol.ensure_provider("PPL123456", None, START)
    assert first.name == "PPL123456" and first.date_created == START
    again = peppol.ensure_provider("PPL123456", "Inna nazwa", START + timedelta(days=1))
    assert again is first and again.name == "PPL123456"
    renamed = peppol.register_provider("PPL123456", "Dostawca Peppol", START + timedelta(days=2))
    assert renamed.name == "Dostawca Peppol" and renamed.date_created == START
    with pytest.raises(InvalidInputData):
        peppol.register_provider("P123", "Zły identyfikator", START)
    assert mock.env("DEMO").peppol.query(0, 10)["peppolProviders"] == []
