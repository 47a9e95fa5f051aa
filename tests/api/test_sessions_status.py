"""Session lists, visibility, continuation tokens, invoice lists and UPO lookups (reference B §4, §5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mockksef.models import SubjectIdentifier
from tests import kit
from tests.api.test_sessions_online import assert_conforms
from tests.conftest import bearer, legacy_codes, mint_access_token

NIP = "5265877635"
PERSON = SubjectIdentifier("Pesel", "90010112345")


@pytest.fixture
def h(mock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(mint_access_token(mock, nip=NIP, lifetime=timedelta(days=5)))


def listing(client, h, **params):  # type: ignore[no-untyped-def]
    headers = dict(h)
    token = params.pop("token", None)
    if token:
        headers["x-continuation-token"] = token
    response = client.get("/sessions", params={"sessionType": "Online", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_list_newest_first_with_continuation(client, mock, h, spec):
    refs = []
    for _ in range(12):
        refs.append(kit.open_online(client, h, kit.Crypto()))
        mock.clock.advance(1)
    first = listing(client, h)
    assert_conforms(spec, "GET", "/sessions", "200", first)
    assert [s["referenceNumber"] for s in first["sessions"]] == refs[::-1][:10]
    item = first["sessions"][0]
    assert item["status"] == {"code": 100, "description": "Sesja interaktywna otwarta"}
    assert (
        item["totalInvoiceCount"],
        item["successfulInvoiceCount"],
        item["failedInvoiceCount"],
    ) == (0, 0, 0)
    assert item["validUntil"]
    second = listing(client, h, token=first["continuationToken"])
    assert [s["referenceNumber"] for s in second["sessions"]] == refs[::-1][10:]
    assert "continuationToken" not in second
    # A session opened meanwhile does not shift the pages already served.
    kit.open_online(client, h, kit.Crypto())
    again = listing(client, h, token=first["continuationToken"])
    assert [s["referenceNumber"] for s in again["sessions"]] == refs[::-1][10:]


@pytest.mark.parametrize("token", ["garbage", "W10=", "eyJhIjoxfQ==", "W3sidG9rZW4iOjF9XQ=="])
def test_malformed_continuation_token_is_21418(client, h, token):
    response = client.get(
        "/sessions", params={"sessionType": "Online"}, headers={**h, "x-continuation-token": token}
    )
    assert legacy_codes(response) == [21418]
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionDescription"] == (
        "Przekazany token kontynuacji ma nieprawidłowy format."
    )


def test_filters(client, mock, h):
    closed = kit.open_online(client, h, kit.Crypto())
    assert client.post(f"/sessions/online/{closed}/close", headers=h).status_code == 204  # 440
    mock.clock.advance(3600)
    crypto = kit.Crypto()
    succeeded = kit.open_online(client, h, crypto)
    kit.send_ok(client, h, succeeded, crypto, kit.fa3(NIP))
    assert client.post(f"/sessions/online/{succeeded}/close", headers=h).status_code == 204
    open_ref = kit.open_online(client, h, kit.Crypto())
    batch = kit.send_batch(client, h, {"a.xml": kit.fa3(NIP, "B")})

    def refs(**params):  # type: ignore[no-untyped-def]
        return [s["referenceNumber"] for s in listing(client, h, **params)["sessions"]]

    assert set(refs()) == {closed, succeeded, open_ref}
    assert refs(sessionType="Batch") == [batch]
    assert refs(statuses="Cancelled") == [closed]
    assert refs(statuses="Succeeded") == [succeeded]
    assert refs(statuses="InProgress") == [open_ref]
    assert set(refs(statuses=["InProgress", "Succeeded"])) == {open_ref, succeeded}
    assert refs(statuses="Failed") == []
    assert refs(referenceNumber=succeeded) == [succeeded]
    assert set(refs(dateCreatedFrom="2026-03-02T09:30:00Z")) == {succeeded, open_ref}
    assert refs(dateCreatedTo="2026-03-02T09:30:00Z") == [closed]
    assert refs(dateClosedFrom="2026-03-02T09:30:00Z") == [succeeded]
    assert set(refs(dateModifiedTo="2026-03-02T09:00:00Z")) == {closed}
    bad = client.get(
        "/sessions", params={"sessionType": "Online", "dateCreatedFrom": "yesterday"}, headers=h
    )
    assert legacy_codes(bad) == [21405]
    assert legacy_codes(client.get("/sessions", headers=h)) == [21405]  # sessionType is required
    too_small = client.get("/sessions", params={"sessionType": "Online", "pageSize": 5}, headers=h)
    assert legacy_codes(too_small) == [21405]


def test_visibility_by_permission(client, mock, h):
    mine = kit.open_online(client, h, kit.Crypto())
    writer = bearer(mint_access_token(mock, nip=NIP, subject=PERSON, permissions=("InvoiceWrite",)))
    theirs = kit.open_online(client, writer, kit.Crypto())
    # InvoiceWrite only: the caller's own sessions.
    assert [s["referenceNumber"] for s in listing(client, writer)["sessions"]] == [theirs]
    # Introspection (here via Owner): every session of the context.
    assert {s["referenceNumber"] for s in listing(client, h)["sessions"]} == {mine, theirs}
    inspector = bearer(
        mint_access_token(mock, nip=NIP, subject=PERSON, permissions=("Introspection",))
    )
    assert {s["referenceNumber"] for s in listing(client, inspector)["sessions"]} == {mine, theirs}
    # InvoiceWrite alone does not see another subject's session at all, not even its status
    # (csharp OnlineSessionE2ETests.OnlineSessionAsync_TryOperateOnOnlineSessionWithNoPermission).
    hidden = client.get(f"/sessions/{mine}", headers=writer)
    assert hidden.status_code == 400 and legacy_codes(hidden) == [21173]
    # Another context sees none of them.
    stranger = bearer(mint_access_token(mock, nip="7352765225"))
    assert listing(client, stranger)["sessions"] == []
    reader = bearer(mint_access_token(mock, nip=NIP, permissions=("InvoiceRead",)))
    assert (
        client.get("/sessions", params={"sessionType": "Online"}, headers=reader).status_code == 403
    )


def test_invoice_list_paging_and_failed(client, h, spec):
    crypto = kit.Crypto()
    ref = kit.open_online(client, h, crypto)
    for n in range(12):
        xml = kit.fa3(NIP, f"P{n}") if n % 3 else b"<oops"
        kit.send_ok(client, h, ref, crypto, xml)
    first = client.get(f"/sessions/{ref}/invoices", headers=h).json()
    assert [i["ordinalNumber"] for i in first["invoices"]] == list(range(1, 11))
    second = client.get(
        f"/sessions/{ref}/invoices",
        headers={**h, "x-continuation-token": first["continuationToken"]},
    ).json()
    assert [i["ordinalNumber"] for i in second["invoices"]] == [11, 12]
    assert "continuationToken" not in second
    failed = client.get(f"/sessions/{ref}/invoices/failed", headers=h).json()
    assert_conforms(spec, "GET", "/sessions/{referenceNumber}/invoices/failed", "200", failed)
    assert [i["ordinalNumber"] for i in failed["invoices"]] == [1, 4, 7, 10]
    assert {i["status"]["code"] for i in failed["invoices"]} == {450}
    bad = client.get(f"/sessions/{ref}/invoices", headers={**h, "x-continuation-token": "%%"})
    assert legacy_codes(bad) == [21418]
    big = client.get(f"/sessions/{ref}/invoices", params={"pageSize": 1000}, headers=h).json()
    assert len(big["invoices"]) == 12
    assert legacy_codes(
        client.get(f"/sessions/{ref}/invoices", params={"pageSize": 1001}, headers=h)
    ) == [21405]


def test_lookups_that_find_nothing(client, h):
    crypto = kit.Crypto()
    ref = kit.open_online(client, h, crypto)
    bad = kit.send_ok(client, h, ref, crypto, b"<bad")
    good = kit.send_ok(client, h, ref, crypto, kit.fa3(NIP))
    ksef = kit.invoice_status(client, h, ref, good)["ksefNumber"]
    unknown = client.get(f"/sessions/{ref}/invoices/{ref}", headers=h)
    assert legacy_codes(unknown) == [21405]
    no_upo = client.get(f"/sessions/{ref}/invoices/{bad}/upo", headers=h)
    # The official table of this operation lists only 21405.
    assert legacy_codes(no_upo) == [21405]
    assert "nie zostało znalezione" in no_upo.text
    other_ksef = ksef[:-2] + ("00" if not ksef.endswith("00") else "01")
    by_ksef = client.get(f"/sessions/{ref}/invoices/ksef/{other_ksef}/upo", headers=h)
    assert legacy_codes(by_ksef) == [21178]
    assert by_ksef.json()["exception"]["exceptionDetailList"][0]["details"] == [
        f"UPO o numerze KSeF {other_ksef} i numerze referencyjnym sesji {ref} nie zostało znalezione."
    ]
    # The session UPO exists only once the session is processed.
    session_upo = client.get(f"/sessions/{ref}/upo/{ref}", headers=h)
    assert legacy_codes(session_upo) == [21178]
    assert session_upo.json()["exception"]["exceptionDetailList"][0]["details"] == [
        f"UPO o numerze referencyjnym {ref} dla sesji {ref} nie zostało znalezione."
    ]
    assert legacy_codes(client.get("/sessions/not-a-reference-number", headers=h)) == [21405]


def test_download_links_expire_and_cannot_be_altered(client, mock, h):
    crypto = kit.Crypto()
    ref = kit.open_online(client, h, crypto)
    invoice_ref = kit.send_ok(client, h, ref, crypto, kit.fa3(NIP))
    url = kit.invoice_status(client, h, ref, invoice_ref)["upoDownloadUrl"]
    assert client.get(url).status_code == 200
    assert client.get(url.replace("sp=r", "sp=w")).status_code == 401
    assert client.get(url.replace("invoice-upo", "session-upo")).status_code == 401
    mock.clock.advance(72 * 3600 + 1)
    expired = client.get(url)
    assert expired.status_code == 403 and b"<Code>" in expired.content
