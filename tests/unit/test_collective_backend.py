"""CollectiveBackend without HTTP: numbers, visibility, keyset paging, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import ContextIdentifier
from mockksef.services.collective.backend import decode_token, encode_token, page_size
from mockksef.services.collective.models import is_valid_number
from tests.unit.test_invoices_factory import put

SELLER = ContextIdentifier("Nip", "5265877635")
BUYER = ContextIdentifier("Nip", "7352765225")


def body(*numbers: str, **item) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {"invoices": [{"ksefNumber": n, **item} for n in numbers]}


def test_create_and_list_by_ksef_number(env, mock) -> None:  # type: ignore[no-untyped-def]
    a, b = put(env), put(env)
    mock.clock.advance(5)
    now = mock.clock.now()
    number = env.collective.create(SELLER, body(a.ksef_number, b.ksef_number), now)
    assert is_valid_number(number) and number.startswith("5265877635-IZ202603-")
    found = env.collective.by_ksef_number(SELLER, a.ksef_number, 10, None)
    assert [i["collectiveIdentifierNumber"] for i in found["collectiveIdentifiers"]] == [number]
    # The buyer neither created it nor sells: it does not see it there.
    assert (
        env.collective.by_ksef_number(BUYER, a.ksef_number, 10, None)["collectiveIdentifiers"] == []
    )


def test_invisible_invoice_is_71001_and_waiting_one_too(env, mock) -> None:  # type: ignore[no-untyped-def]
    a = put(env)
    waiting = put(env, storage_delay=60)
    mock.clock.advance(5)
    with pytest.raises(KsefError) as caught:
        env.collective.create(SELLER, body(a.ksef_number, waiting.ksef_number), mock.clock.now())
    assert caught.value.code == 71001
    with pytest.raises(KsefError) as caught:
        env.collective.create(
            ContextIdentifier("Nip", "9999999999"),
            body(a.ksef_number, a.ksef_number),
            mock.clock.now(),
        )
    assert caught.value.code == 71005  # repeated numbers are checked first


def test_tokens_round_trip_and_reject_garbage() -> None:
    token = encode_token({"KsefNumber": "x", "CollectiveIdentifierNumber": "y"})
    assert decode_token(token, ("KsefNumber", "CollectiveIdentifierNumber")) == ("x", "y")
    assert decode_token(None, ("a",)) is None
    for bad in ("%%%", "e30=", encode_token({"KsefNumber": "x"})):
        with pytest.raises(KsefError) as caught:
            decode_token(bad, ("KsefNumber", "CollectiveIdentifierNumber"))
        assert caught.value.code == 21418
        assert caught.value.errors[0].description == (
            "Przesłany token kontynuacji jest nieprawidłowy."
        )


def test_page_size_bounds() -> None:
    assert page_size(None, 10, 500) == 10
    assert page_size("500", 10, 500) == 500
    for bad in ("9", "501", "ten"):
        with pytest.raises(InvalidInputData):
            page_size(bad, 10, 500)


def test_query_window_and_keyset(env, mock) -> None:  # type: ignore[no-untyped-def]
    a, b = put(env), put(env)
    mock.clock.advance(5)
    made = []
    for _ in range(15):
        made.append(
            env.collective.create(SELLER, body(a.ksef_number, b.ksef_number), mock.clock.now())
        )
        mock.clock.advance(1)
    now = mock.clock.now()
    window = {
        "dateCreatedFrom": (now - timedelta(hours=1)).isoformat(),
        "dateCreatedTo": now.isoformat(),
    }
    first = env.collective.query(SELLER, window, 10, None)
    second = env.collective.query(SELLER, window, 10, first["continuationToken"])
    listed = [
        i["collectiveIdentifierNumber"]
        for i in first["collectiveIdentifiers"] + second["collectiveIdentifiers"]
    ]
    assert listed == made[::-1] and second["continuationToken"] is None
