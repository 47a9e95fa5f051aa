"""Collective identifiers (part C §2): create, query, invoices, by KSeF number."""

from __future__ import annotations

import base64
import functools
import json
from datetime import timedelta

from mockksef.clock import format_datetime
from mockksef.ids import crc8
from mockksef.models import ContextIdentifier
from mockksef.services.collective.models import NUMBER_RE, is_valid_number, make_number
from tests import kit
from tests.conftest import auth_headers, legacy_codes, problem_codes
from tests.unit.test_invoices_factory import put

SELLER = "5265877635"
BUYER = "7352765225"
OTHER_SELLER = "3225081610"
STRANGER = "9999999999"


auth = functools.partial(auth_headers, permissions=("InvoiceRead",))


def stored(env, mock, count: int = 3, **kwargs):  # type: ignore[no-untyped-def]
    invoices = [put(env, **kwargs) for _ in range(count)]
    mock.clock.advance(5)
    return invoices


def create(client, headers, numbers, **item):  # type: ignore[no-untyped-def]
    body = {"invoices": [{"ksefNumber": n, **item} for n in numbers]}
    return client.post("/collective-identifiers", headers=headers, json=body)


def window(mock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    now = mock.clock.now()
    return {
        "dateCreatedFrom": format_datetime(now - timedelta(days=1)),
        "dateCreatedTo": format_datetime(now + timedelta(days=1)),
    }


def test_number_format_matches_the_official_examples() -> None:
    for example in ("1111111111-IZ202607-65ED02180000-E7", "8631941578-IZ202607-323B52184000-CD"):
        assert is_valid_number(example)
        assert f"{crc8(example[:32].encode()):02X}" == example[33:]
    assert not is_valid_number("1111111111-IZ202607-65ED02180000-E8")


def test_create_returns_a_valid_number(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    invoices = stored(env, mock)
    resp = create(
        client,
        auth(mock),
        [i.ksef_number for i in invoices],
        payment={"amount": 100, "currency": "PLN"},
        description="Rata 1",
    )
    assert resp.status_code == 201, resp.text
    number = resp.json()["collectiveIdentifierNumber"]
    op = spec.operation("POST", "/collective-identifiers")
    schema = op.raw["responses"]["201"]["content"]["application/json"]["schema"]
    assert spec.validate_value(schema, resp.json()).errors == []
    assert NUMBER_RE.match(number) and is_valid_number(number)
    assert number.startswith(f"{SELLER}-IZ202603-")
    assert make_number(SELLER, mock.clock.now(), number[20:32]) == number


def test_buyer_may_create_and_both_sides_see_it(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    invoices = stored(env, mock)
    resp = create(client, auth(mock, BUYER), [i.ksef_number for i in invoices])
    assert resp.status_code == 201, resp.text
    number = resp.json()["collectiveIdentifierNumber"]
    op = spec.operation("POST", "/collective-identifiers/query")
    schema = op.raw["responses"]["200"]["content"]["application/json"]["schema"]
    mine = client.post(
        "/collective-identifiers/query", headers=auth(mock, BUYER), json=window(mock)
    )
    assert mine.status_code == 200, mine.text
    assert spec.validate_value(schema, mine.json()).errors == []
    assert mine.json()["collectiveIdentifiers"] == [
        {
            "collectiveIdentifierNumber": number,
            "dateCreated": format_datetime(mock.clock.now()),
            "invoiceCount": 3,
            "createdInCurrentContext": True,
        }
    ]
    seller = client.post("/collective-identifiers/query", headers=auth(mock), json=window(mock))
    items = seller.json()["collectiveIdentifiers"]
    assert [i["collectiveIdentifierNumber"] for i in items] == [number]
    assert items[0]["createdInCurrentContext"] is False
    only_mine = {**window(mock), "createdInCurrentContext": True}
    assert (
        client.post("/collective-identifiers/query", headers=auth(mock), json=only_mine).json()[
            "collectiveIdentifiers"
        ]
        == []
    )
    stranger = client.post(
        "/collective-identifiers/query", headers=auth(mock, STRANGER), json=window(mock)
    )
    assert stranger.json()["collectiveIdentifiers"] == []


def test_errors_in_the_documented_order(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    a, b = stored(env, mock, 2)
    other = stored(env, mock, 1, seller=OTHER_SELLER, buyer=SELLER)[0]
    unknown = env.invoices.next_ksef_number(SELLER, mock.clock.now())

    resp = create(client, auth(mock), [a.ksef_number])
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]

    resp = create(client, auth(mock), [a.ksef_number, b.ksef_number, a.ksef_number, unknown])
    assert legacy_codes(resp) == [71005]
    detail = resp.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionDescription"] == "Powtórzony numer KSeF w żądaniu."
    assert detail["details"] == [f"Powtórzony numer KSeF {a.ksef_number}."]

    resp = create(client, auth(mock), [a.ksef_number, unknown])
    assert legacy_codes(resp) == [71001]
    detail = resp.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionDescription"] == "Faktura o podanym identyfikatorze nie istnieje."
    assert detail["details"] == [f"Faktura o numerze KSeF {unknown} nie została znaleziona."]
    # Not visible to the context = unknown.
    resp = create(client, auth(mock, STRANGER), [a.ksef_number, b.ksef_number])
    assert legacy_codes(resp) == [71001]
    assert len(resp.json()["exception"]["exceptionDetailList"][0]["details"]) == 2

    resp = create(client, auth(mock), [a.ksef_number, other.ksef_number])
    assert legacy_codes(resp) == [71004]
    detail = resp.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionDescription"] == "Faktury mają różnych sprzedawców."
    assert detail["details"] == [
        f"Faktura o numerze KSeF {other.ksef_number} ma innego sprzedawcę."
    ]

    headers = {**auth(mock), "X-Error-Format": "problem-details"}
    resp = create(client, headers, [a.ksef_number, other.ksef_number])
    assert problem_codes(resp) == [71004]


def test_132_identifiers_per_invoice_per_context(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    a, b = stored(env, mock, 2)
    for _ in range(132):
        assert create(client, auth(mock), [a.ksef_number, b.ksef_number]).status_code == 201
    resp = create(client, auth(mock), [a.ksef_number, b.ksef_number])
    assert resp.status_code == 400 and legacy_codes(resp) == [71002]
    detail = resp.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionDescription"] == (
        "Faktura jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych."
    )
    assert len(detail["details"]) == 2
    # Per context: the buyer may still group them.
    assert create(client, auth(mock, BUYER), [a.ksef_number, b.ksef_number]).status_code == 201


def test_max_invoices_follows_the_context_limit(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    invoices = stored(env, mock, 4)
    numbers = [i.ksef_number for i in invoices]
    limits = client.post(
        "/testdata/limits/context/session",
        headers=auth(mock, permissions=("Owner",)),
        json=kit.session_limits((1, 3, 10), (1, 3, 10), 3),
    )
    assert limits.status_code == 200, limits.text
    resp = create(client, auth(mock), numbers)
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    assert create(client, auth(mock), numbers[:3]).status_code == 201


def test_payment_needs_amount_and_currency(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    a, b = stored(env, mock, 2)
    resp = create(client, auth(mock), [a.ksef_number, b.ksef_number], payment={"amount": 5})
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    resp = create(
        client, auth(mock), [a.ksef_number, b.ksef_number], payment={"amount": 5, "currency": "XXY"}
    )
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    resp = create(client, auth(mock), [a.ksef_number, b.ksef_number], description="x" * 513)
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]


def test_invoices_of_identifiers_and_the_details_rule(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    # Two invoices to BUYER and one to another buyer, same seller.
    to_buyer = stored(env, mock, 2)
    to_other = stored(env, mock, 1, buyer=OTHER_SELLER)[0]
    numbers = [i.ksef_number for i in [*to_buyer, to_other]]
    first = create(
        client, auth(mock), numbers, payment={"amount": 10.5, "currency": "EUR"}, description="Opis"
    ).json()["collectiveIdentifierNumber"]
    second = create(client, auth(mock), numbers[:2]).json()["collectiveIdentifierNumber"]

    body = {"collectiveIdentifierNumbers": [first, second]}
    resp = client.post("/collective-identifiers/invoices", headers=auth(mock), json=body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    schema = {"$ref": "#/components/schemas/CollectiveIdentifierInvoicesQueryResponse"}
    assert spec.validate_value(schema, data).errors == []
    rows = [(i["ksefNumber"], i["collectiveIdentifierNumber"]) for i in data["invoices"]]
    assert rows == sorted(rows, reverse=True) and len(rows) == 5
    assert data["continuationToken"] is None
    by_key = {(i["ksefNumber"], i["collectiveIdentifierNumber"]): i for i in data["invoices"]}
    creator_view = by_key[(to_other.ksef_number, first)]
    assert creator_view["payment"] == {"amount": 10.5, "currency": "EUR"}
    assert creator_view["description"] == "Opis" and creator_view["detailsHidden"] is False
    plain = by_key[(to_buyer[0].ksef_number, second)]
    assert "payment" not in plain and plain["detailsHidden"] is False

    # The buyer of two of the invoices sees the identifier, but not the details of
    # the invoice it has no role on.
    buyer = client.post(
        "/collective-identifiers/invoices",
        headers=auth(mock, BUYER),
        json={"collectiveIdentifierNumbers": [first]},
    ).json()["invoices"]
    hidden = {i["ksefNumber"]: i for i in buyer}
    assert hidden[to_other.ksef_number] == {
        "ksefNumber": to_other.ksef_number,
        "collectiveIdentifierNumber": first,
        "detailsHidden": True,
    }
    assert hidden[to_buyer[0].ksef_number]["payment"] == {"amount": 10.5, "currency": "EUR"}
    assert hidden[to_buyer[0].ksef_number]["detailsHidden"] is False
    # A context with no role on any invoice gets no rows.
    stranger = client.post(
        "/collective-identifiers/invoices", headers=auth(mock, STRANGER), json=body
    )
    assert stranger.json()["invoices"] == []
    # The buyer does not list the identifier in its query (neither creator nor seller).
    listed = client.post(
        "/collective-identifiers/query", headers=auth(mock, BUYER), json=window(mock)
    )
    assert listed.json()["collectiveIdentifiers"] == []


def test_identifier_created_by_a_subunit_is_seen_by_the_seller(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    # Invoice seen by an InternalId context as Subject3; the IZ is created there.
    unit = ContextIdentifier("InternalId", f"{SELLER}-12345")
    a, b = stored(
        env, mock, 2, seller=OTHER_SELLER, third_subjects=(("InternalId", unit.value, None, 2),)
    )
    number = create(
        client, auth(mock, SELLER, context=unit), [a.ksef_number, b.ksef_number], description="d"
    ).json()["collectiveIdentifierNumber"]
    # The seller (OTHER_SELLER) sees it as Podmiot 1 and has a role: details shown.
    rows = client.post(
        "/collective-identifiers/invoices",
        headers=auth(mock, OTHER_SELLER),
        json={"collectiveIdentifierNumbers": [number]},
    ).json()["invoices"]
    assert [r["detailsHidden"] for r in rows] == [False, False]
    assert all(r["description"] == "d" for r in rows)


def test_invoices_paging_and_validation(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    invoices = stored(env, mock, 12)
    number = create(client, auth(mock), [i.ksef_number for i in invoices]).json()[
        "collectiveIdentifierNumber"
    ]
    body = {"collectiveIdentifierNumbers": [number]}
    first = client.post(
        "/collective-identifiers/invoices", headers=auth(mock), json=body, params={"pageSize": 10}
    ).json()
    assert len(first["invoices"]) == 10 and first["continuationToken"]
    second = client.post(
        "/collective-identifiers/invoices",
        headers={**auth(mock), "x-continuation-token": first["continuationToken"]},
        json=body,
        params={"pageSize": 10},
    ).json()
    assert len(second["invoices"]) == 2 and second["continuationToken"] is None
    got = [i["ksefNumber"] for i in first["invoices"] + second["invoices"]]
    assert got == sorted((i.ksef_number for i in invoices), reverse=True)

    bad_token = client.post(
        "/collective-identifiers/invoices",
        headers={**auth(mock), "x-continuation-token": "not-a-token"},
        json=body,
    )
    assert bad_token.status_code == 400 and legacy_codes(bad_token) == [21418]
    detail = bad_token.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionDescription"] == "Przesłany token kontynuacji jest nieprawidłowy."
    for bad in (
        {"collectiveIdentifierNumbers": []},
        {"collectiveIdentifierNumbers": [number] * 2},
        {"collectiveIdentifierNumbers": [number[:-2] + "00", *[number] * 10]},
        {"collectiveIdentifierNumbers": ["1111111111-IZ202613-65ED02180000-E7"]},
        {"something": [number]},
        [number],
    ):
        resp = client.post("/collective-identifiers/invoices", headers=auth(mock), json=bad)
        assert resp.status_code == 400 and legacy_codes(resp) == [21405], bad
    for size in ("9", "501", "x"):
        resp = client.post(
            "/collective-identifiers/invoices",
            headers=auth(mock),
            json=body,
            params={"pageSize": size},
        )
        assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    resp = client.post(
        "/collective-identifiers/invoices",
        headers=auth(mock),
        json=body,
        params={"pageSize": "500"},
    )
    assert resp.status_code == 200
    # Case-insensitive body, as the C# client sends it.
    resp = client.post(
        "/collective-identifiers/invoices",
        headers=auth(mock),
        json={"CollectiveIdentifierNumbers": [number]},
    )
    assert resp.status_code == 200 and len(resp.json()["invoices"]) == 10
    # Unknown identifiers contribute no rows.
    unknown = make_number(SELLER, mock.clock.now(), "000000000000")
    resp = client.post(
        "/collective-identifiers/invoices",
        headers=auth(mock),
        json={"collectiveIdentifierNumbers": [unknown]},
    )
    assert resp.status_code == 200 and resp.json()["invoices"] == []


def test_invoices_needs_one_of_the_permissions(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    body = {"collectiveIdentifierNumbers": [make_number(SELLER, mock.clock.now(), "0" * 12)]}
    resp = client.post(
        "/collective-identifiers/invoices",
        headers=auth(mock, permissions=("Introspection",)),
        json=body,
    )
    assert resp.status_code == 403
    assert set(resp.json()["security"]["requiredAnyOfPermissions"]) == {
        "InvoiceRead",
        "InvoiceWrite",
        "CollectiveIdentifierManage",
    }
    for permission in ("InvoiceWrite", "CollectiveIdentifierManage"):
        resp = client.post(
            "/collective-identifiers/invoices",
            headers=auth(mock, permissions=(permission,)),
            json=body,
        )
        assert resp.status_code == 200, permission


def test_v270_get_alias_returns_the_same_items(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    invoices = stored(env, mock, 2)
    number = create(
        client,
        auth(mock),
        [i.ksef_number for i in invoices],
        payment={"amount": 3, "currency": "PLN"},
    ).json()["collectiveIdentifierNumber"]
    resp = client.get(f"/collective-identifiers/{number}/invoices", headers=auth(mock))
    assert resp.status_code == 200, resp.text
    op = spec.operation("GET", "/collective-identifiers/{collectiveIdentifierNumber}/invoices")
    schema = op.raw["responses"]["200"]["content"]["application/json"]["schema"]
    assert spec.validate_value(schema, resp.json()).errors == []
    post = client.post(
        "/collective-identifiers/invoices",
        headers=auth(mock),
        json={"collectiveIdentifierNumbers": [number]},
    )
    assert resp.json() == post.json()
    bad = client.get("/collective-identifiers/not-a-number/invoices", headers=auth(mock))
    assert bad.status_code == 400 and legacy_codes(bad) == [21405]


def test_by_ksef_number(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    a, b, c = stored(env, mock, 3)
    numbers = []
    for pair in ([a, b], [a, c], [a, b, c]):
        resp = create(client, auth(mock), [i.ksef_number for i in pair])
        numbers.append(resp.json()["collectiveIdentifierNumber"])
        mock.clock.advance(1)
    resp = client.get(
        f"/collective-identifiers/ksef/{a.ksef_number}", headers=auth(mock), params={"pageSize": 10}
    )
    assert resp.status_code == 200, resp.text
    op = spec.operation("GET", "/collective-identifiers/ksef/{ksefNumber}")
    schema = op.raw["responses"]["200"]["content"]["application/json"]["schema"]
    assert spec.validate_value(schema, resp.json()).errors == []
    items = resp.json()["collectiveIdentifiers"]
    assert [i["collectiveIdentifierNumber"] for i in items] == numbers[::-1]  # newest first
    assert all(i["createdInCurrentContext"] for i in items)
    only_c = client.get(f"/collective-identifiers/ksef/{c.ksef_number}", headers=auth(mock)).json()
    assert [i["collectiveIdentifierNumber"] for i in only_c["collectiveIdentifiers"]] == numbers[
        :0:-1
    ]
    stranger = client.get(
        f"/collective-identifiers/ksef/{a.ksef_number}", headers=auth(mock, STRANGER)
    )
    assert stranger.status_code == 200 and stranger.json()["collectiveIdentifiers"] == []


def test_query_filters_paging_and_range(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    invoices = stored(env, mock, 4)
    ks = [i.ksef_number for i in invoices]
    created = []
    for size in (2, 3, 4, 2, 3, 4, 2, 3, 4, 2, 3, 4):
        created.append(create(client, auth(mock), ks[:size]).json()["collectiveIdentifierNumber"])
        mock.clock.advance(1)
    url = "/collective-identifiers/query"
    page1 = client.post(url, headers=auth(mock), json=window(mock), params={"pageSize": 10}).json()
    assert len(page1["collectiveIdentifiers"]) == 10 and page1["continuationToken"]
    decoded = json.loads(base64.b64decode(page1["continuationToken"]))
    assert set(decoded) == {"DateCreated", "CollectiveIdentifierNumber"}
    page2 = client.post(
        url,
        headers={**auth(mock), "x-continuation-token": page1["continuationToken"]},
        json=window(mock),
    ).json()
    assert page2["continuationToken"] is None
    listed = [
        i["collectiveIdentifierNumber"]
        for i in page1["collectiveIdentifiers"] + page2["collectiveIdentifiers"]
    ]
    assert listed == created[::-1]
    counts = client.post(
        url, headers=auth(mock), json={**window(mock), "invoiceCountFrom": 3, "invoiceCountTo": 3}
    ).json()["collectiveIdentifiers"]
    assert len(counts) == 4 and all(i["invoiceCount"] == 3 for i in counts)
    exact = client.post(
        url, headers=auth(mock), json={**window(mock), "collectiveIdentifierNumber": created[5]}
    ).json()["collectiveIdentifiers"]
    assert [i["collectiveIdentifierNumber"] for i in exact] == [created[5]]
    now = mock.clock.now()
    too_long = {
        "dateCreatedFrom": format_datetime(now - timedelta(days=100, seconds=1)),
        "dateCreatedTo": format_datetime(now),
    }
    resp = client.post(url, headers=auth(mock), json=too_long)
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    backwards = {
        "dateCreatedFrom": format_datetime(now),
        "dateCreatedTo": format_datetime(now - timedelta(1)),
    }
    resp = client.post(url, headers=auth(mock), json=backwards)
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    resp = client.post(url, headers=auth(mock), json={"dateCreatedFrom": format_datetime(now)})
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]
    bogus = base64.b64encode(
        b'{"DateCreated":"yesterday","CollectiveIdentifierNumber":"x"}'
    ).decode()
    resp = client.post(
        url, headers={**auth(mock), "x-continuation-token": bogus}, json=window(mock)
    )
    assert resp.status_code == 400 and legacy_codes(resp) == [21418]
