"""Every catalogue scenario, driven by a client, with the exact symptom it promises.

Each test activates one scenario from ``scenarios/`` (the catalogue) on an
in-process app with a virtual clock and then does what a connector does
(challenge, token or XAdES login, sessions, queries), over raw HTTP through the
helpers of ``tests/kit.py`` or the bundled
``ksefclient``. The assertions are the scenario's ``explain.symptom``: status,
exception code, Polish text, header.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from ksefclient import (
    Checkpoint,
    KsefClient,
    KsefConfigurationError,
    KsefRateLimitError,
    KsefTokenCredentials,
    RetryPolicy,
)
from ksefclient.xades import (
    SigningCredentials,
    auth_token_request,
    personal_certificate,
    sign_auth_token_request,
)
from mockksef import MockState
from mockksef.clock import parse_datetime
from mockksef.invoicegen import InvoiceGenerator
from mockksef.scenarios.faults import NetworkFault
from mockksef.scenarios.model import Scenario, catalogue_dir, catalogue_names
from mockksef.seeding import add_certificate, make_token
from tests import kit, spec_check
from tests.conftest import bearer, legacy_codes

NIP = "5265877635"
BETA = "7352765225"

FAILURES = (
    "legacy-api-retired",
    "token-unauthorized",
    "token-write-only",
    "nip-context-mismatch",
    "rate-limit-invoices",
    "challenge-unavailable",
    "environment-mismatch",
    "demo-reset-overnight",
    "token-before-go-live",
    "token-ksef-1-format",
    "certificate-unusable",
    "token-owner-lost-permissions",
    "invoice-rejections",
    "import-large-growing",
)
DATASETS = ("dataset-small", "dataset-medium", "dataset-large")


# -- helpers ----------------------------------------------------------------------------------------


def tokens_of(name: str) -> dict[str, str]:
    """The fixed token values a scenario file gives (id -> token), as a connector is configured."""
    scenario = Scenario.from_path(_path(name))
    return {t["id"]: t["value"] for t in scenario.setup.get("tokens", ()) if "value" in t}


def _activated_token(mock: MockState, scenario: str, token_id: str) -> str:
    """Activate ``scenario`` on the virtual clock; the token it gives as ``token_id``."""
    mock.scenarios.activate(scenario, clock="virtual")
    return tokens_of(scenario)[token_id]


# The user-facing catalogue at the top of the repository (the wheel ships a copy).
CATALOGUE = Path(__file__).resolve().parent.parent.parent / "scenarios"


def _path(name: str) -> Path:
    return CATALOGUE / f"{name}.yaml"


@pytest.fixture
def api(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """TEST under /v2, every answer checked against the spec."""
    with TestClient(app, base_url="http://testserver/v2") as client:
        client.event_hooks["response"] = [spec_check.hook(app.state.mock.spec)]
        yield client


def env_client(app, env: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url=f"http://testserver/{env}/v2")
    client.event_hooks["response"] = [spec_check.hook(app.state.mock.spec)]
    return client


def auth_status(client: Any, init: dict[str, Any]) -> dict[str, Any]:
    answer = client.get(
        f"/auth/{init['referenceNumber']}", headers=bearer(init["authenticationToken"]["token"])
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]  # type: ignore[no-any-return]


def token_login_status(
    client: Any, token: str, nip: str = NIP, context: str | None = None
) -> dict[str, Any]:
    """What GET /auth/{ref} ends with after a KSeF-token login (the connector's view)."""
    return auth_status(client, kit.token_login_init(client, token, nip, context_value=context))


def xades_init(client: Any, nip: str, credentials: SigningCredentials) -> httpx.Response:
    challenge = client.post("/auth/challenge").json()
    server_now = parse_datetime(challenge["timestamp"])
    signed = sign_auth_token_request(
        auth_token_request(challenge["challenge"], "Nip", nip), credentials, signing_time=server_now
    )
    return client.post(  # type: ignore[no-any-return]
        "/auth/xades-signature", content=signed, headers={"Content-Type": "application/xml"}
    )


def seeded_certificate_login(client: Any, certificate: dict[str, str]) -> dict[str, Any]:
    """XAdES login of NIP with a certificate from an activation report (PEMs)."""
    credentials = SigningCredentials.from_pem(
        certificate["certificate"].encode(), certificate["privateKey"].encode()
    )
    return auth_status(client, xades_init(client, NIP, credentials).json())


def problem(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    return answer.json()  # type: ignore[no-any-return]


# -- the catalogue as a whole -----------------------------------------------------------------------


def test_the_catalogue_has_every_failure_of_the_issue_and_the_datasets() -> None:
    assert set(catalogue_names()) >= set(FAILURES) | set(DATASETS)


def test_a_checkout_reads_the_catalogue_from_the_top_level_scenarios_folder() -> None:
    assert Path(str(catalogue_dir())) == CATALOGUE
    assert catalogue_names() == sorted(p.stem for p in CATALOGUE.glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(p.stem for p in CATALOGUE.glob("*.yaml")))
def test_scenario_files_are_user_documents_without_internal_headers(name: str) -> None:
    text = _path(name).read_text(encoding="utf-8")
    assert not re.search(r"(?im)^#.*\b(issue|catalogue item)\s*\d", text), name


@pytest.mark.parametrize("name", sorted(p.stem for p in CATALOGUE.glob("*.yaml")))
def test_catalogue_scenarios_with_a_start_date_run_on_from_it(name: str) -> None:
    # A client outside the process cannot move a frozen clock: Retry-After would
    # never run out and every journal line would carry one instant.
    scenario = Scenario.from_path(_path(name))
    assert scenario.clock_mode in (None, "offset"), name


@pytest.mark.server
def test_a_served_catalogue_scenario_gives_an_outside_client_a_running_clock(config, spec) -> None:  # type: ignore[no-untyped-def]
    from mockksef import create_app
    from mockksef.server import ThreadedServer

    # As `mockksef serve --scenario dataset-small` builds it: a real clock, then the scenario.
    state = MockState(replace(config, clock_mode="real", extra={}), spec=spec)
    report = state.scenarios.activate("dataset-small")
    assert state.clock.mode == "offset"
    certificate = report["setup"]["test"]["certificates"][0]
    with ThreadedServer(create_app(state=state)) as server:
        with httpx.Client(base_url=server.url + "/v2", timeout=10) as api:
            assert seeded_certificate_login(api, certificate)["code"] == 200
    times = [e["time"] for e in state.journal.entries(kind="request")]
    assert len(times) >= 3 and len(set(times)) == len(times)
    assert parse_datetime(times[-1]) - parse_datetime(times[0]) < timedelta(minutes=5)
    assert parse_datetime(times[0]) >= datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", FAILURES + DATASETS)
def test_each_scenario_validates_and_explains_itself_in_polish_and_english(name: str) -> None:
    scenario = Scenario.from_path(_path(name))
    assert scenario.name == name
    raw = yaml.safe_load(_path(name).read_text(encoding="utf-8"))
    for language in ("pl", "en"):
        text = raw["explain"][language]
        assert set(text) == {"symptom", "cause", "fix"}
        assert all(len(value) > 40 for value in text.values()), (name, language)
    # Polish texts are Polish (diacritics), English ones are not.
    assert any(ch in "ąćęłńóśźż" for ch in " ".join(raw["explain"]["pl"].values()).lower())
    for value in tokens_of(name).values():
        assert value.count("|") == 2


# -- 1. the KSeF 1.0 / pre-2026 addresses are switched off -------------------------------------------


def test_legacy_api_retired(mock: MockState, app, api) -> None:  # type: ignore[no-untyped-def]
    mock.scenarios.activate("legacy-api-retired")
    with TestClient(app, base_url="http://testserver") as raw:
        old_path = raw.post(
            "/api/online/Session/AuthorisationChallenge",
            json={"contextIdentifier": {"type": "onip", "identifier": NIP}},
        )
        assert old_path.status_code == 410
        assert problem(old_path)["detail"] == (
            "Interfejs KSeF 1.0 został wyłączony. Użyj API KSeF 2.0 (https://api.ksef.mf.gov.pl/v2)."
        )
        assert raw.get("/api/common/Status/X").status_code == 410
        for host in ("ksef-test.mf.gov.pl", "ksef-demo.mf.gov.pl", "ksef.mf.gov.pl"):
            with pytest.raises(NetworkFault, match="reset"):
                raw.post(f"https://{host}/api/v2/auth/challenge")
    # The KSeF 2.0 address keeps working.
    assert api.post("/auth/challenge").status_code == 200
    mock.scenarios.check()


# -- 2. token refused as unauthorised ------------------------------------------------------------------


def test_token_unauthorized(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    report = mock.scenarios.activate("token-unauthorized", clock="virtual")
    tokens = tokens_of("token-unauthorized")
    listed = {t["id"]: t for t in report["setup"]["test"]["tokens"]}
    assert listed["revoked"]["status"] == "Revoked" and listed["valid"]["status"] == "Active"

    revoked = token_login_status(api, tokens["revoked"])
    assert revoked["code"] == 450
    assert (
        revoked["description"]
        == "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu"
    )
    assert revoked["details"] == ["Token unieważniony"]

    before_switch = make_token(NIP, 23, day="20251020")  # never in KSeF 2.0
    unknown = token_login_status(api, before_switch)
    assert (unknown["code"], unknown["details"]) == (450, ["Nieprawidłowy token"])

    session = kit.token_login(api, tokens["valid"], NIP)
    assert api.get("/tokens", headers=session.headers).status_code == 200
    mock.clock.advance(16 * 60)
    expired = api.get("/tokens", headers=session.headers)
    assert expired.status_code == 401
    assert problem(expired)["status"] == 401
    refreshed = api.post("/auth/token/refresh", headers=bearer(session.refresh_token))
    assert refreshed.status_code == 200
    assert (
        api.get("/tokens", headers=bearer(refreshed.json()["accessToken"]["token"])).status_code
        == 200
    )


# -- 3. token with "issue invoices" only ---------------------------------------------------------------


def test_token_write_only(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    mock.scenarios.activate("token-write-only", clock="virtual")
    session = kit.token_login(api, tokens_of("token-write-only")["write-only"], NIP)
    query = api.post(
        "/invoices/query/metadata",
        json={
            "subjectType": "Subject1",
            "dateRange": {
                "dateType": "Invoicing",
                "from": "2026-02-01T00:00:00Z",
                "to": "2026-03-02T00:00:00Z",
            },
        },
        headers=session.headers,
    )
    assert query.status_code == 403
    body = problem(query)
    assert body["reasonCode"] == "missing-permissions"
    assert body["security"]["requiredAnyOfPermissions"] == ["InvoiceRead"]
    assert body["security"]["presentPermissions"] == ["InvoiceWrite"]
    some_invoice = mock.env("test").invoices.invoices.row(0).ksef_number
    download = api.get(f"/invoices/ksef/{some_invoice}", headers=session.headers)
    assert download.status_code == 403 and problem(download)["reasonCode"] == "missing-permissions"
    # Sending still works: the token can issue invoices.
    kit.open_online(api, session.headers, kit.Crypto())


# -- 4. connector NIP differs from the token's context --------------------------------------------------


def test_nip_context_mismatch(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    token = _activated_token(mock, "nip-context-mismatch", "acme")
    wrong = token_login_status(api, token, NIP, context=BETA)
    assert wrong["code"] == 450
    assert wrong["details"] == [f"Token nie może być użyty w kontekście {BETA}"]
    assert token_login_status(api, token, NIP)["code"] == 200
    # The bundled client refuses this configuration before sending anything.
    with pytest.raises(KsefConfigurationError, match=BETA):
        KsefClient(
            base_url="http://testserver/v2", nip=BETA, credentials=KsefTokenCredentials(token)
        )


# -- 5. rate limits on metadata queries and downloads ---------------------------------------------------


def test_rate_limit_invoices(mock: MockState, app, api) -> None:  # type: ignore[no-untyped-def]
    token = _activated_token(mock, "rate-limit-invoices", "erp")
    session = kit.token_login(api, token, NIP)
    query = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": "2026-02-01T00:00:00Z"},
    }
    for _ in range(2):
        ok = api.post("/invoices/query/metadata", json=query, headers=session.headers)
        assert ok.status_code == 200
    limited = api.post("/invoices/query/metadata", json=query, headers=session.headers)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "300"
    assert limited.json()["status"]["details"] == [
        "Przekroczono limit 20 żądań na godzinę. Spróbuj ponownie po 300 sekundach."
    ]
    number = ok.json()["invoices"][0]["ksefNumber"]
    assert api.get(f"/invoices/ksef/{number}", headers=session.headers).status_code == 200
    download = api.get(f"/invoices/ksef/{number}", headers=session.headers)
    assert download.status_code == 429 and download.headers["Retry-After"] == "120"
    # Retrying at once does not help...
    assert (
        api.post("/invoices/query/metadata", json=query, headers=session.headers).status_code == 429
    )
    # The bundled client reports a wait beyond its budget as a typed error...
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        mock.clock.advance(seconds)

    def client(http: TestClient, retry: RetryPolicy | None = None) -> KsefClient:
        return KsefClient(
            base_url="http://testserver/v2",
            nip=NIP,
            credentials=KsefTokenCredentials(token),
            http_client=http,
            sleep=sleep,
            retry=retry,
        )

    since = _filters(datetime(2026, 2, 1, tzinfo=UTC))
    with TestClient(app) as http:
        with pytest.raises(KsefRateLimitError) as caught:
            client(http).query_invoice_metadata(since, page_size=250)
        assert caught.value.retry_after == 300 and waits == []
        # ...and, allowed to wait that long, waits as told (on the virtual clock) and succeeds.
        patient = client(http, RetryPolicy(max_retry_after=600, max_wait=900))
        page = patient.query_invoice_metadata(since, page_size=250)
        assert waits == [300] and len(page.invoices) > 0
        assert patient.download_invoice(number).startswith(b"<?xml")
    mock.scenarios.check()


def _filters(since: datetime) -> Any:
    from ksefclient import DateRange, InvoiceQueryFilters

    return InvoiceQueryFilters(
        subject_type="Subject1", date_range=DateRange("PermanentStorage", since)
    )


# -- 6. server unreachable or overloaded at the challenge ------------------------------------------------


def test_challenge_unavailable_in_process(mock: MockState, app) -> None:  # type: ignore[no-untyped-def]
    mock.scenarios.activate("challenge-unavailable", clock="virtual")
    with TestClient(app, base_url="http://testserver/v2") as raw:
        with pytest.raises(NetworkFault, match="reset"):
            raw.post("/auth/challenge")
        before = mock.clock.now()
        with pytest.raises(NetworkFault, match="stalled"):
            raw.post("/auth/challenge")
        assert mock.clock.now() - before == timedelta(seconds=30)
        maintenance = raw.post("/auth/challenge")
        assert maintenance.status_code == 503 and maintenance.headers["Retry-After"] == "120"
        assert "Trwają prace serwisowe systemu KSeF" in maintenance.text
        gateway = raw.post("/auth/challenge")
        assert (gateway.status_code, gateway.text) == (502, "502 Bad Gateway")
        assert raw.post("/auth/challenge").status_code == 200
    mock.scenarios.check()


@pytest.mark.server
def test_challenge_unavailable_over_a_socket(server) -> None:  # type: ignore[no-untyped-def]
    server.state.scenarios.activate("challenge-unavailable")
    url = server.url + "/v2/auth/challenge"
    with httpx.Client(timeout=2.0) as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.post(url)
    with httpx.Client(timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post(url)
    with httpx.Client(timeout=5.0) as client:
        assert client.post(url).status_code == 503
        assert client.post(url).status_code == 502
        assert client.post(url).status_code == 200


# -- 7. DEMO token on PROD and PROD token on DEMO --------------------------------------------------------


def test_environment_mismatch(mock: MockState, app) -> None:  # type: ignore[no-untyped-def]
    report = mock.scenarios.activate("environment-mismatch", clock="virtual")
    assert {t["id"] for t in report["setup"]["demo"]["tokens"] if "id" in t} == {"demo-token"}
    tokens = tokens_of("environment-mismatch")
    with env_client(app, "demo") as demo, env_client(app, "prod") as prod:
        on_prod = token_login_status(prod, tokens["demo-token"])
        assert (on_prod["code"], on_prod["details"]) == (450, ["Nieprawidłowy token"])
        on_demo = token_login_status(demo, tokens["prod-token"])
        assert (on_demo["code"], on_demo["details"]) == (450, ["Nieprawidłowy token"])
        assert token_login_status(demo, tokens["demo-token"])["code"] == 200
        assert token_login_status(prod, tokens["prod-token"])["code"] == 200


# -- 8. DEMO data reset overnight ---------------------------------------------------------------------------


def test_demo_reset_overnight(mock: MockState, app) -> None:  # type: ignore[no-untyped-def]
    token = _activated_token(mock, "demo-reset-overnight", "yesterday")
    query = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": "2026-02-01T00:00:00Z"},
    }
    with env_client(app, "demo") as demo:
        yesterday = kit.token_login(demo, token, NIP)
        listed = demo.post("/invoices/query/metadata", json=query, headers=yesterday.headers)
        assert listed.status_code == 200 and listed.json()["invoices"]
        mock.clock.set(datetime(2026, 3, 3, 7, 30, tzinfo=UTC))  # 08:30 in Warsaw, after 03:00
        refreshed = demo.post("/auth/token/refresh", headers=bearer(yesterday.refresh_token))
        assert refreshed.status_code == 401 and problem(refreshed)["status"] == 401
        again = token_login_status(demo, token)
        assert (again["code"], again["details"]) == (450, ["Nieprawidłowy token"])
        # A certificate login still works (here: a KSeF certificate issued after the reset).
        seal = add_certificate(mock.env("demo"), NIP)
        fresh = kit.xades_login(demo, NIP, SigningCredentials(seal.certificate, seal.private_key))
        empty = demo.post("/invoices/query/metadata", json=query, headers=fresh.headers)
        assert empty.status_code == 200 and empty.json()["invoices"] == []


# -- 9. a token from before the go-live date ----------------------------------------------------------------


def test_token_before_go_live(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    token = _activated_token(mock, "token-before-go-live", "early")
    early = token_login_status(api, token)
    assert early["code"] == 450 and early["details"] == ["Token nieaktywny"]
    owner = kit.xades_login(api, NIP)
    reference = token.split("|")[0]
    assert api.get(f"/tokens/{reference}", headers=owner.headers).json()["status"] == "Pending"
    mock.clock.set(datetime(2026, 2, 1, 7, 0, tzinfo=UTC))
    assert token_login_status(api, token)["code"] == 200


# -- 10. a KSeF 1.0 token where a 2.0 token is expected -----------------------------------------------------


def test_token_ksef_1_format(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    mock.scenarios.activate("token-ksef-1-format", clock="virtual")
    legacy = "8A3F9C1E0B7D4A6F2E5C8B1D9F0A3C6E7B4D2F1A8C5E9B0D3F6A2C7E1B8D4F09"
    status = token_login_status(api, legacy)
    assert status["code"] == 450
    assert (
        status["description"]
        == "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu"
    )
    assert status["details"] == ["Nieprawidłowe kodowanie tokena"]
    assert token_login_status(api, tokens_of("token-ksef-1-format")["ksef-2-0"])["code"] == 200
    # The bundled client says what is wrong instead of the puzzling status 450.
    with pytest.raises(KsefConfigurationError, match="KSeF 1.0"):
        KsefTokenCredentials(legacy)


# -- 11. unusable certificates -------------------------------------------------------------------------------


def test_certificate_unusable(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    report = mock.scenarios.activate("certificate-unusable", clock="virtual")
    certificates = {c["id"]: c for c in report["setup"]["test"]["certificates"]}

    def credentials(name: str) -> SigningCredentials:
        entry = certificates[name]
        return SigningCredentials.from_pem(
            entry["certificate"].encode(), entry["privateKey"].encode()
        )

    good = xades_init(api, NIP, credentials("valid"))
    assert good.status_code == 202 and auth_status(api, good.json())["code"] == 200

    stranger = personal_certificate(nip=NIP).private_key
    mismatched = SigningCredentials(credentials("valid").certificate, stranger)
    bad_key = xades_init(api, NIP, mismatched)
    assert bad_key.status_code == 400 and legacy_codes(bad_key) == [9105]

    for name, detail in (("expired", "Nieważny certyfikat"), ("revoked", "Certyfikat odwołany")):
        init = xades_init(api, NIP, credentials(name))
        assert init.status_code == 202, init.text
        status = auth_status(api, init.json())
        assert status["code"] == 460, name
        assert status["description"] == (
            "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu"
        )
        assert status["details"] == [detail]

    other = xades_init(api, NIP, credentials("other-company"))
    assert other.status_code == 202
    status = auth_status(api, other.json())
    assert (status["code"], status["details"]) == (415, ["Brak przypisanych uprawnień"])


# -- 12. the token's owner lost the permissions behind it -----------------------------------------------------


def test_token_owner_lost_permissions(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    mock.scenarios.activate("token-owner-lost-permissions", clock="virtual")
    tokens = tokens_of("token-owner-lost-permissions")
    lost = token_login_status(api, tokens["anna"])
    assert lost["code"] == 415
    assert lost["description"] == "Uwierzytelnianie zakończone niepowodzeniem"
    assert lost["details"] == ["Brak przypisanych uprawnień"]

    partial = kit.token_login(api, tokens["piotr"], NIP)
    opened = api.post(
        "/sessions/online",
        json={"formCode": kit.FA3, "encryption": kit.Crypto().encryption(api)},
        headers=partial.headers,
    )
    assert opened.status_code == 403 and problem(opened)["reasonCode"] == "missing-permissions"

    # Granting the permission again (as the owner would) brings the token back.
    owner = kit.xades_login(api, NIP)
    granted = api.post(
        "/testdata/permissions",
        json={
            "contextIdentifier": {"type": "Nip", "value": NIP},
            "authorizedIdentifier": {"type": "Pesel", "value": "85041208026"},
            "permissions": [{"permissionType": "InvoiceRead", "description": "Przywrócone"}],
        },
        headers=owner.headers,
    )
    assert granted.status_code == 200, granted.text
    assert token_login_status(api, tokens["anna"])["code"] == 200


# -- 13. invoice-level rejections ---------------------------------------------------------------------------------


def test_invoice_rejections(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    mock.scenarios.activate("invoice-rejections", clock="virtual")
    env = mock.env("test")
    session = kit.xades_login(api, NIP)
    crypto = kit.Crypto()
    ref = kit.open_online(api, session.headers, crypto)
    generator = InvoiceGenerator(13)
    today = date(2026, 3, 2)
    seeded = env.invoices.invoices.row(0)
    original = api.get(f"/invoices/ksef/{seeded.ksef_number}", headers=session.headers)
    assert original.status_code == 200

    def sent(xml: bytes) -> dict[str, Any]:
        invoice_ref = kit.send_ok(api, session.headers, ref, crypto, xml)
        return kit.invoice_status(api, session.headers, ref, invoice_ref)["status"]

    duplicate = sent(original.content)
    assert (duplicate["code"], duplicate["description"]) == (440, "Duplikat faktury")
    assert duplicate["details"] == [
        f"Duplikat faktury. Faktura o numerze KSeF: {seeded.ksef_number} została już prawidłowo "
        f"przesłana do systemu w sesji: {seeded.session_reference_number}"
    ]
    assert duplicate["extensions"] == {
        "originalSessionReferenceNumber": seeded.session_reference_number,
        "originalKsefNumber": seeded.ksef_number,
    }

    broken = generator.document(NIP, BETA, issue_date=today).replace(b"<P_2>", b"<P_2X>", 1)
    broken = broken.replace(b"</P_2>", b"</P_2X>", 1)
    schema = sent(broken)
    assert (schema["code"], schema["description"]) == (
        450,
        "Błąd weryfikacji semantyki dokumentu faktury",
    )
    assert any("P_2X" in d for d in schema["details"])

    future = sent(generator.document(NIP, BETA, issue_date=today + timedelta(days=1)))
    assert future["code"] == 450
    assert future["details"] == [
        "Data wystawienia faktury 2026-03-03 jest późniejsza niż data przyjęcia faktury 2026-03-02."
    ]

    foreign = sent(generator.document(BETA, NIP, issue_date=today))
    assert (foreign["code"], foreign["description"]) == (410, "Nieprawidłowy zakres uprawnień")
    assert foreign["details"] == [
        f"Podmiot {NIP} nie posiada uprawnień do wystawienia faktury w imieniu sprzedawcy {BETA}."
    ]

    with_attachment = kit.fa3(NIP, "ZAL-1", today, name="invoice-template-fa-3-with-attachment.xml")
    online = sent(with_attachment)
    assert (online["code"], online["description"]) == (
        415,
        "Brak możliwości wysyłania faktury z załącznikiem",
    )

    batch_ref = kit.send_batch(api, session.headers, {"zal.xml": with_attachment})
    failed = api.get(f"/sessions/{batch_ref}/invoices/failed", headers=session.headers).json()
    [entry] = failed["invoices"]
    assert (entry["status"]["code"], entry["status"]["description"]) == (
        410,
        "Nieprawidłowy zakres uprawnień",
    )
    assert entry["status"]["details"] == [
        f"Sprzedawca {NIP} nie posiada zgody do wysyłania faktur z załącznikami"
    ]


# -- 14. import across a large, growing dataset --------------------------------------------------------------------


def test_import_large_growing(mock: MockState, app, api) -> None:  # type: ignore[no-untyped-def]
    token = _activated_token(mock, "import-large-growing", "importer")
    session = kit.token_login(api, token, NIP)
    february = {
        "subjectType": "Subject2",
        "dateRange": {
            "dateType": "Issue",
            "from": "2026-01-25T00:00:00Z",
            "to": "2026-03-01T00:00:00Z",
        },
    }
    # The naive period import: 40 pages of 250, then the cap. (The first page is checked
    # against the spec; the others go through a plain client, schema checks of 10 000
    # records would cost more than the whole scenario.)
    assert (
        api.post(
            "/invoices/query/metadata?pageSize=250", json=february, headers=session.headers
        ).status_code
        == 200
    )
    last = None
    with TestClient(app, base_url="http://testserver/v2") as plain:
        for offset in range(1, 40):
            last = plain.post(
                f"/invoices/query/metadata?pageOffset={offset}&pageSize=250",
                json=february,
                headers=session.headers,
            )
            assert last.status_code == 200
    assert last is not None and last.json()["hasMore"] and last.json()["isTruncated"]
    beyond = api.post(
        "/invoices/query/metadata?pageOffset=40&pageSize=250",
        json=february,
        headers=session.headers,
    )
    assert beyond.status_code == 400 and legacy_codes(beyond) == [21405]

    with TestClient(app) as http:
        client = KsefClient(
            base_url="http://testserver/v2",
            nip=NIP,
            credentials=KsefTokenCredentials(token),
            http_client=http,
            sleep=mock.clock.advance,
        )
        first = client.import_new(
            Checkpoint.start(datetime(2026, 1, 1, tzinfo=UTC), "Subject2"), fetch_xml=False
        )
        numbers = [i.metadata.ksef_number for i in first.invoices]
        assert len(numbers) == len(set(numbers)) == 12000
        # A day later, the invoices that arrived meanwhile - exactly once.
        mock.clock.advance(24 * 3600)
        second = client.import_new(first.checkpoint, fetch_xml=False)
        new = {i.metadata.ksef_number for i in second.invoices}
        assert len(new) == 480 and not new & set(numbers)
        assert client.import_new(second.checkpoint, fetch_xml=False).invoices == ()
        # By KSeF number: the document is the one the metadata describe.
        chosen = second.invoices[0].metadata
        xml = client.download_invoice(chosen.ksef_number)
        assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == chosen.invoice_hash


# -- the happy-path datasets ----------------------------------------------------------------------------------------


def test_dataset_small_serves_a_connector(mock: MockState, api) -> None:  # type: ignore[no-untyped-def]
    report = mock.scenarios.activate("dataset-small", clock="virtual")
    setup = report["setup"]["test"]
    assert setup["invoices"][0]["count"] == 150
    session = kit.token_login(api, tokens_of("dataset-small")["erp"], NIP)
    answer = api.post(
        "/invoices/query/metadata?pageSize=250",
        json={
            "subjectType": "Subject1",
            "dateRange": {"dateType": "PermanentStorage", "from": "2026-01-30T00:00:00Z"},
        },
        headers=session.headers,
    )
    assert answer.status_code == 200 and 40 < len(answer.json()["invoices"]) < 110
    assert seeded_certificate_login(api, setup["certificates"][0])["code"] == 200


def test_dataset_medium_is_deterministic(mock: MockState, config, spec) -> None:  # type: ignore[no-untyped-def]
    from mockksef.clock import Clock

    first = mock.scenarios.activate("dataset-medium", clock="virtual")
    other = MockState(config, spec=spec, clock=Clock.virtual(datetime(2026, 1, 1, tzinfo=UTC)))
    second = other.scenarios.activate("dataset-medium", clock="virtual")
    assert first["setup"]["test"]["invoices"] == second["setup"]["test"]["invoices"]
    assert mock.env("test").invoices.count() == 20000
    rows = [mock.env("test").invoices.invoices.row(i) for i in (0, 777, 19999)]
    again = [other.env("test").invoices.invoices.row(i) for i in (0, 777, 19999)]
    assert [r.metadata() for r in rows] == [r.metadata() for r in again]


def test_dataset_large_is_a_million_invoices() -> None:
    scenario = Scenario.from_path(_path("dataset-large"))
    assert sum(item["count"] for item in scenario.setup["invoices"]) == 1_000_000
