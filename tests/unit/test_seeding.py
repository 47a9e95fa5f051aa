"""The seeding API: what it puts into an environment behaves like what the API would create."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from ksefclient.xades import SigningCredentials
from mockksef import MockState, seeding
from mockksef.clock import Clock
from mockksef.ids import RandomSource, is_reference_number
from mockksef.models import ContextIdentifier, SubjectIdentifier, pesel_checksum_ok
from mockksef.scenarios import model
from mockksef.services.invoices.store import is_valid_ksef_number
from mockksef.services.tokens.models import TokenAuthError
from tests import kit
from tests.conftest import START, bearer, mint_access_token

NIP = "5265877635"
BETA = "7352765225"
PERSON_NIP = "2279040064"
PESEL = "85041208026"
ACME = ContextIdentifier("Nip", NIP)


def rng(seed: int = 1) -> RandomSource:
    return RandomSource(seed, "test")


# -- the contract with the engine ----------------------------------------------------------------


def test_setup_kinds_are_the_engines_and_in_its_order() -> None:
    assert tuple(seeding.SETUP_KINDS) == seeding.SETUP_ORDER == model.SETUP_KINDS


def test_apply_setup_runs_every_kind_and_names_the_failing_item(env) -> None:  # type: ignore[no-untyped-def]
    report = seeding.apply_setup(
        env,
        {
            "subjects": [{"nip": NIP, "name": "ACME sp. z o.o."}],
            "tokens": [{"id": "t", "context": NIP, "permissions": ["InvoiceRead"]}],
            "invoices": [{"count": 5, "seller": NIP}],
        },
        rng(),
    )
    assert [k for k in report] == ["subjects", "tokens", "invoices"]
    assert report["tokens"][0]["id"] == "t"
    with pytest.raises(ValueError, match=r"^/setup/tokens/1: .*not a valid KSeF reference number"):
        seeding.apply_setup(
            env,
            {
                "tokens": [
                    {"context": NIP, "permissions": ["InvoiceRead"]},
                    {"context": NIP, "permissions": ["InvoiceRead"], "value": "x|nip-5265877635|y"},
                ]
            },
            rng(),
        )


def test_items_for_another_environment_are_skipped(mock: MockState) -> None:
    item = {"context": NIP, "permissions": ["InvoiceRead"], "environment": ["demo"]}
    skipped = seeding.SETUP_KINDS["tokens"](mock.env("prod"), item, rng())
    assert skipped == {"skipped": "not for prod"}
    assert mock.env("prod").tokens.tokens == {}
    done = seeding.SETUP_KINDS["tokens"](mock.env("demo"), item, rng())
    assert done["status"] == "Active"


# -- subjects, persons, permissions -----------------------------------------------------------------


def test_subjects_vat_groups_jst_and_enforcement_authorities(env) -> None:  # type: ignore[no-untyped-def]
    seeding.add_subject(env, NIP, name="ACME sp. z o.o.", attachments=True)
    assert env.subjects.names[NIP] == "ACME sp. z o.o."
    assert env.subjects.attachment_consent(NIP).allowed
    group = seeding.add_vat_group(env, BETA, [PERSON_NIP], name="Grupa VAT Beta")
    assert group["role"] == "VatGroupUnit"
    assert env.subjects.entities[PERSON_NIP].role == "VatGroupSubUnit"
    seeding.add_subject(env, "6395721820", type="jst", subunits=["6495654543"])
    assert env.subjects.entities["6495654543"].role == "LocalGovernmentSubUnit"
    seeding.add_subject(env, "7949237499", type="enforcement_authority")
    assert env.subjects.is_enforcement_context("7949237499")
    with pytest.raises(ValueError, match="30001"):
        seeding.add_subject(env, "7949237499", type="enforcement_authority")
    with pytest.raises(ValueError, match="not a valid NIP"):
        seeding.add_subject(env, "1234567890")
    with pytest.raises(ValueError, match="only a vat_group or a jst"):
        seeding.add_subject(env, "2102054733", subunits=[NIP])


def test_persons_get_a_valid_pesel_and_their_flags(env) -> None:  # type: ignore[no-untyped-def]
    drawn = seeding.add_person(env, PERSON_NIP, name="Jan Kowalski", rng=rng())
    assert pesel_checksum_ok(drawn["pesel"])
    assert seeding.add_person(env, "3397499608", rng=rng())["pesel"] != drawn["pesel"]
    seeding.add_person(env, "7453517517", PESEL, bailiff=True, deceased=True)
    assert env.subjects.roles_of("7453517517")[0][0] == "CourtBailiff"
    assert env.subjects.is_deceased(SubjectIdentifier("Pesel", PESEL))
    with pytest.raises(ValueError, match="not a valid PESEL"):
        seeding.add_person(env, "6495654543", "85041208027")


def test_grants_are_effective_at_once(env) -> None:  # type: ignore[no-untyped-def]
    seeding.grant(env, NIP, {"pesel": PESEL}, ["InvoiceRead", "InvoiceWrite"])
    held = env.permissions.resolve(SubjectIdentifier("Pesel", PESEL), ACME)
    assert {"InvoiceRead", "InvoiceWrite"} <= set(held)
    with pytest.raises(ValueError, match="Owner not grantable"):
        seeding.grant(env, NIP, {"nip": BETA}, ["Owner"])
    with pytest.raises(ValueError, match="exactly one"):
        seeding.grant(env, NIP, {"nip": BETA, "pesel": PESEL}, ["InvoiceRead"])


# -- tokens ---------------------------------------------------------------------------------------


def test_a_fixed_token_value_authenticates(env) -> None:  # type: ignore[no-untyped-def]
    value = seeding.make_token(NIP, 7)
    seeded = seeding.add_token(env, NIP, ["InvoiceRead"], value=value, description="Token ERP")
    assert seeded.token == value and seeded.status == "Active"
    assert is_reference_number(seeded.reference_number)
    token = env.tokens.authenticate(value, ACME)
    assert token.author == SubjectIdentifier("Nip", NIP)
    assert env.tokens.token_permissions(token) == {"InvoiceRead"}
    with pytest.raises(ValueError, match="already exists"):
        seeding.add_token(env, NIP, ["InvoiceRead"], value=value)


def test_token_values_are_checked_with_helpful_messages(env) -> None:  # type: ignore[no-untyped-def]
    value = seeding.make_token(NIP, 8)
    reference, _, secret = value.split("|")
    broken = reference[:-2] + ("00" if reference[-2:] != "00" else "01")
    with pytest.raises(ValueError, match=f"with its checksum it reads {reference}"):
        seeding.add_token(env, NIP, ["InvoiceRead"], value=f"{broken}|nip-{NIP}|{secret}")
    with pytest.raises(ValueError, match="names context 'nip-7352765225'"):
        seeding.add_token(env, NIP, ["InvoiceRead"], value=seeding.make_token(BETA, 8))
    with pytest.raises(ValueError, match="64 lowercase hex"):
        seeding.add_token(env, NIP, ["InvoiceRead"], value=f"{reference}|nip-{NIP}|ABC")
    with pytest.raises(ValueError, match="token must be"):
        seeding.add_token(env, NIP, ["InvoiceRead"], value="8A3F9C1E0B7D4A6F")
    with pytest.raises(ValueError, match="status"):
        seeding.add_token(env, NIP, ["InvoiceRead"], status="sleeping")


def test_token_statuses_and_activation_date(mock: MockState, env) -> None:  # type: ignore[no-untyped-def]
    def detail(value: str) -> str:
        with pytest.raises(TokenAuthError) as caught:
            env.tokens.authenticate(value, ACME)
        return caught.value.detail

    revoked = seeding.add_token(env, NIP, ["InvoiceRead"], status="revoked")
    assert revoked.status == "Revoked" and detail(revoked.token) == "Token unieważniony"
    failed = seeding.add_token(env, NIP, ["InvoiceRead"], status="failed")
    assert failed.status == "Failed" and detail(failed.token) == "Token nieaktywny"
    pending = seeding.add_token(env, NIP, ["InvoiceRead"], status="pending")
    assert detail(pending.token) == "Token nieaktywny"
    later = seeding.add_token(
        env, NIP, ["InvoiceRead"], created="2026-01-15", valid_from=START + timedelta(days=1)
    )
    assert later.status == "Pending" and detail(later.token) == "Token nieaktywny"
    mock.clock.advance(86400)
    assert env.tokens.authenticate(later.token, ACME).created == datetime(2026, 1, 15, tzinfo=UTC)
    assert env.tokens.get_token(pending.reference_number).status == "Pending"


def test_a_token_of_an_author_without_permissions_logs_in_with_415(mock, client) -> None:  # type: ignore[no-untyped-def]
    env = mock.env("test")
    seeding.add_person(env, PERSON_NIP, PESEL)
    orphan = seeding.add_token(env, NIP, ["InvoiceRead"], owner={"pesel": PESEL})
    status = client.get(
        f"/auth/{(init := kit.token_login_init(client, orphan.token, NIP))['referenceNumber']}",
        headers=bearer(init["authenticationToken"]["token"]),
    ).json()["status"]
    assert (status["code"], status["details"]) == (415, ["Brak przypisanych uprawnień"])
    seeding.grant(env, NIP, {"pesel": PESEL}, ["InvoiceRead"])
    session = kit.token_login(client, orphan.token, NIP)
    listed = client.get("/tokens", headers=session.headers)
    assert listed.status_code == 200


# -- certificates -------------------------------------------------------------------------------------


def test_ca_certificates_log_in_and_are_listed(mock, client) -> None:  # type: ignore[no-untyped-def]
    env = mock.env("test")
    seeded = seeding.add_certificate(env, NIP, name="ACME pieczęć", rng=rng())
    assert env.certificates.issued_by_ca(seeded.certificate)
    record = env.certificates.find_issued(seeded.certificate)
    assert record is not None and record.status == "Active" and record.owner.value == NIP
    assert seeded.valid_to == seeded.valid_from.replace(year=seeded.valid_from.year + 2)
    credentials = SigningCredentials.from_pem(seeded.certificate_pem, seeded.private_key_pem)
    session = kit.xades_login(client, NIP, credentials)
    assert session.status["authenticationMethod"] == "InternalCertificate"
    listed = client.post("/certificates/query", json={}, headers=session.headers).json()
    assert [c["certificateSerialNumber"] for c in listed["certificates"]] == [seeded.serial_number]
    report = seeding.SETUP_KINDS["certificates"](env, {"owner": {"pesel": PESEL}, "id": "p"}, rng())
    assert report["id"] == "p" and "BEGIN CERTIFICATE" in report["certificate"]
    assert "PNOPL-" + PESEL in report["certificate"] or report["owner"]["value"] == PESEL


def test_expired_revoked_and_self_signed_certificates(mock: MockState, env) -> None:  # type: ignore[no-untyped-def]
    expired = seeding.add_certificate(env, NIP, valid_to="2026-01-31T00:00:00Z", rng=rng(2))
    assert expired.certificate.not_valid_after_utc == datetime(2026, 1, 31, tzinfo=UTC)
    record = env.certificates.get(expired.serial_number)
    assert record.status == "Expired"
    revoked = seeding.add_certificate(env, NIP, revoked=True, rng=rng(3))
    assert env.certificates.get(revoked.serial_number).status == "Revoked"
    both = seeding.add_certificate(
        env, NIP, valid_from="2026-03-01", valid_to="2026-03-03", rng=rng(4)
    )
    assert env.certificates.get(both.serial_number).status == "Active"
    mock.clock.advance(2 * 86400)
    assert env.certificates.get(both.serial_number).status == "Expired"
    own = seeding.add_certificate(env, {"pesel": PESEL}, self_signed=True, rng=rng(5))
    assert own.serial_number is None and not env.certificates.issued_by_ca(own.certificate)
    assert own.certificate.issuer == own.certificate.subject
    with pytest.raises(ValueError, match="later than valid_from"):
        seeding.add_certificate(env, NIP, valid_from="2026-03-03", valid_to="2026-03-01")
    with pytest.raises(ValueError, match="fingerprint"):
        seeding.add_certificate(env, {"fingerprint": "AB" * 32})


def test_certificate_keys_come_from_the_seed(mock: MockState, config, spec) -> None:  # type: ignore[no-untyped-def]
    def key_of(state: MockState, source: RandomSource) -> bytes:
        seeded = seeding.add_certificate(state.env("test"), NIP, rng=source)
        return seeded.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    other = MockState(config, spec=spec, clock=Clock.virtual(START))
    assert key_of(mock, rng(9)) == key_of(other, rng(9))
    shared = rng(9)  # as the engine passes one source to all items of a setup
    assert key_of(mock, shared) != key_of(mock, shared)


# -- invoices ---------------------------------------------------------------------------------------------


def test_invoices_are_stored_visible_and_downloadable(mock, client) -> None:  # type: ignore[no-untyped-def]
    env = mock.env("test")
    seeding.add_subject(env, NIP, name="ACME sp. z o.o.")
    batch = seeding.add_invoices(env, 120, context=NIP, sellers=5, buyers=10, seed=4)
    assert env.invoices.count() == 120 and batch.count == 120
    assert batch.as_json()["sellers"] == [NIP, *batch.sellers[1:]]
    rows = env.invoices.invoices.rows_table()
    mine = [r for r in rows if NIP in (r.seller_nip, r.buyer_identifier[1])]
    assert len(mine) == 120
    assert {r.seller_name for r in rows if r.seller_nip == NIP} == {"ACME sp. z o.o."}
    assert all(is_valid_ksef_number(r.ksef_number) for r in rows)
    token = mint_access_token(mock, nip=NIP, permissions=("InvoiceRead",))
    answer = client.post(
        "/invoices/query/metadata?pageSize=250",
        json={
            "subjectType": "Subject2",
            "dateRange": {"dateType": "PermanentStorage", "from": "2026-01-01T00:00:00Z"},
        },
        headers=bearer(token),
    )
    assert answer.status_code == 200
    bought = answer.json()["invoices"]
    assert 30 < len(bought) < 90
    first = bought[0]
    download = client.get(f"/invoices/ksef/{first['ksefNumber']}", headers=bearer(token))
    assert download.status_code == 200
    assert (
        base64.b64encode(hashlib.sha256(download.content).digest()).decode() == first["invoiceHash"]
    )


def test_invoices_are_deterministic_and_numbering_continues(mock: MockState, config, spec) -> None:  # type: ignore[no-untyped-def]
    def load(state: MockState) -> list[dict]:  # type: ignore[type-arg]
        env = state.env("test")
        seeding.add_invoices(env, 50, seller=NIP, buyers=3, seed=11)
        return [r.metadata() for r in env.invoices.invoices.rows_table()]

    other = MockState(config, spec=spec, clock=Clock.virtual(START))
    assert load(mock) == load(other)
    env = mock.env("test")
    seeding.add_invoices(env, 50, seller=NIP, buyers=3, seed=11)
    numbers = [r.invoice_number for r in env.invoices.invoices.rows_table()]
    sequence = sorted(int(n.split("/")[1]) for n in numbers)
    assert sequence == list(range(1, 101))
    assert len({r.ksef_number for r in env.invoices.invoices.rows_table()}) == 100


def test_future_invoices_appear_as_the_clock_reaches_them(mock, client) -> None:  # type: ignore[no-untyped-def]
    env = mock.env("test")
    seeding.add_invoices(
        env, 48, seller=NIP, buyers=2, start=START, end=START + timedelta(days=2), seed=3
    )
    query = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": "2026-03-01T00:00:00Z"},
    }

    def visible() -> int:
        token = bearer(mint_access_token(mock, nip=NIP, permissions=("InvoiceRead",)))
        answer = client.post("/invoices/query/metadata?pageSize=250", json=query, headers=token)
        return len(answer.json()["invoices"])

    assert visible() == 0
    mock.clock.advance(86400)
    assert 15 < visible() < 35
    mock.clock.advance(86400 + 60)
    assert visible() == 48


def test_invoice_arguments_are_checked(env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="count"):
        seeding.add_invoices(env, -1)
    with pytest.raises(ValueError, match="ends before"):
        seeding.add_invoices(env, 1, start="2026-03-02", end="2026-02-28")
    with pytest.raises(ValueError, match="either context or seller"):
        seeding.add_invoices(env, 1, context=NIP, seller=BETA)
    with pytest.raises(ValueError, match="either seller or sellers"):
        seeding.add_invoices(env, 1, seller=NIP, sellers=3)
    with pytest.raises(ValueError, match="only FA\\(3\\)"):
        seeding.SETUP_KINDS["invoices"](env, {"count": 1, "form": "FA(2)"}, rng())
    with pytest.raises(ValueError, match="unknown option"):
        seeding.SETUP_KINDS["invoices"](env, {"count": 1, "generator": {"speed": 2}}, rng())
    assert seeding.add_invoices(env, 0).count == 0


def test_setup_invoices_options_reach_the_generator(env) -> None:  # type: ignore[no-untyped-def]
    report = seeding.SETUP_KINDS["invoices"](
        env,
        {
            "count": 40,
            "context": NIP,
            "from": "2026-02-01",
            "to": "2026-02-28",
            "generator": {"sales_share": 1.0, "consumer_share": 1.0, "storage_seconds": 2},
        },
        rng(),
    )
    assert report["count"] == 40 and report["to"].startswith("2026-03-01T00:00:00")
    rows = env.invoices.invoices.rows_table()
    assert {r.seller_nip for r in rows} == {NIP}
    assert {r.buyer_identifier for r in rows} == {("None", None)}
    assert all(
        (r.permanent_storage_date - r.acquisition_date).total_seconds() == pytest.approx(2)
        for r in rows
    )
