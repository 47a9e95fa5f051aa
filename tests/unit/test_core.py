"""Core services: clock, config, error rendering, spec validation, official files."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mockksef import official
from mockksef.clock import Clock, format_datetime, parse_datetime, to_millis
from mockksef.config import MockConfig
from mockksef.environments import Env, env_for_host
from mockksef.errors import (
    ErrorContext,
    Forbidden,
    Gone,
    KsefError,
    MissingPermissions,
    TooManyRequests,
    Unauthorized,
    render,
    wants_problem_details,
)
from mockksef.ids import RandomSource, is_reference_number

CTX = ErrorContext(
    "/v2/x", "2026-01-01T00:00:00.0000000+00:00", "a" * 32, "guid", problem_details=False
)


def test_virtual_clock_moves_only_when_told():
    clock = Clock.virtual("2026-03-02T09:00:00Z")
    first = clock.now()
    assert clock.now() == first
    clock.advance(61.5)
    assert clock.now() - first == timedelta(seconds=61.5)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2027
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_real_clock_advance_becomes_offset():
    clock = Clock("real")
    before = clock.now()
    clock.advance(3600)
    assert clock.mode == "offset"
    assert clock.now() - before >= timedelta(seconds=3600)


def test_datetime_format_is_dotnet_like_and_millis_consistent():
    when = datetime(2025, 7, 11, 12, 23, 56, 15430, tzinfo=UTC)
    text = format_datetime(when)
    assert text == "2025-07-11T12:23:56.0154300+00:00"
    assert to_millis(parse_datetime(text)) == to_millis(when) == 1752236636015
    assert parse_datetime("2025-07-11T12:23:56.0154302Z").microsecond == 15430


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-11T12:23:56.0154302+00:00", "2025-07-11T12:23:56.015430+00:00"),  # .NET, 7 digits
        ("2025-07-11T12:23:56.015430211Z", "2025-07-11T12:23:56.015430+00:00"),  # Java, 9 digits
        ("2025-07-11T12:23:56z", "2025-07-11T12:23:56+00:00"),
        ("2025-07-11T14:23:56+02:00", "2025-07-11T14:23:56+02:00"),
        (" 2025-07-11T12:23 ", "2025-07-11T12:23:00+00:00"),  # no offset: the naive zone
        ("2025-07-11", "2025-07-11T00:00:00+00:00"),
    ],
)
def test_date_times_are_read_as_ksef_reads_them(text, expected):
    assert parse_datetime(text).isoformat() == expected


@pytest.mark.parametrize("text", ["2025-07-11.1", "2025-07-11Z", "11.07.2025", ""])
def test_what_is_not_iso_8601_is_refused(text):
    # The old hand-made reader took "2025-07-11.1" for 10:00 on that day.
    with pytest.raises(ValueError):
        parse_datetime(text)


def test_config_precedence_and_coercion():
    config = MockConfig.from_env(
        environ={
            "MOCKKSEF_SEED": "7",
            "MOCKKSEF_ENVIRONMENTS": "test,prd",
            "MOCKKSEF_TRUSTED_PROXY": "yes",
        }
    )
    assert config.seed == 7
    assert config.environments == (Env.TEST, Env.PROD)
    assert config.trusted_proxy is True
    flags = MockConfig.from_mapping({"seed": 9, "port": 1}, base=config)
    assert flags.seed == 9 and flags.environments == (Env.TEST, Env.PROD)


def test_hosts_select_environments():
    assert env_for_host("api-test.ksef.mf.gov.pl") is Env.TEST
    assert env_for_host("api-demo.ksef.mf.gov.pl:443") is Env.DEMO
    assert env_for_host("api.ksef.mf.gov.pl") is Env.PROD
    assert env_for_host("ksef-demo.mf.gov.pl") is Env.DEMO
    assert env_for_host("localhost:8080") is None


def test_random_source_is_deterministic_per_seed_and_stream():
    a, b = RandomSource(5, "x"), RandomSource(5, "x")
    assert [a.hex(10) for _ in range(3)] == [b.hex(10) for _ in range(3)]
    assert RandomSource(5, "y").hex(10) != RandomSource(5, "x").hex(10)
    ref = a.reference_number("AU", datetime(2026, 1, 1, 23, 30, tzinfo=UTC))
    assert is_reference_number(ref)
    assert ref.startswith("20260102-AU-"), "the date part is the Europe/Warsaw day"
    assert len(a.uuid()) == 36


def test_legacy_400_shape():
    status, media, body = render(KsefError(21405, "x: bad"), CTX)
    assert (status, media) == (400, "application/json")
    detail = body["exception"]["exceptionDetailList"][0]
    assert detail == {
        "exceptionCode": 21405,
        "exceptionDescription": "Błąd walidacji danych wejściowych.",
        "details": ["x: bad"],
    }
    assert len(body["exception"]["referenceNumber"] or "") in (0, 4, 36)


def test_problem_400_shape_lists_every_error():
    ctx = ErrorContext("/v2/x", "t", "b" * 32, "g", problem_details=True)
    from mockksef.errors import ApiError

    status, media, body = render(KsefError(21405, "a", more=[ApiError(21157, ("b",))]), ctx)
    assert media == "application/problem+json"
    assert [e["code"] for e in body["errors"]] == [21405, 21157]
    assert body["detail"] == "Żądanie jest nieprawidłowe."
    assert body["instance"] == "/v2/x"


@pytest.mark.parametrize(
    "error", [Unauthorized(), Forbidden("insufficient-resource-access"), Gone()]
)
def test_401_403_410_are_always_problem_json(error):
    status, media, body = render(error, CTX)
    assert media == "application/problem+json"
    assert body["status"] == status
    assert body["detail"]


def test_403_carries_reason_and_security():
    _, _, body = render(MissingPermissions(["InvoiceRead"], ["CredentialsRead"]), CTX)
    assert body["reasonCode"] == "missing-permissions"
    assert body["security"] == {
        "requiredAnyOfPermissions": ["InvoiceRead"],
        "presentPermissions": ["CredentialsRead"],
    }


def test_429_both_formats():
    error = TooManyRequests(
        30, "Przekroczono limit 20 żądań na minutę. Spróbuj ponownie po 30 sekundach."
    )
    assert error.headers == {"Retry-After": "30"}
    _, media, body = render(error, CTX)
    assert media == "application/json" and body["status"]["code"] == 429
    _, media, body = render(error, ErrorContext("/x", "t", "c" * 32, "g", problem_details=True))
    assert media == "application/problem+json" and body["title"] == "Too Many Requests"


def test_problem_details_header_is_case_insensitive():
    assert wants_problem_details("Problem-Details")
    assert not wants_problem_details(None)
    assert not wants_problem_details("legacy")


def test_unknown_codes_are_refused():
    with pytest.raises(ValueError):
        KsefError(12345)


def test_spec_validation_canonicalises_names_and_enums(spec):
    op = spec.operation("POST", "/tokens")
    schema = op.request_schema()
    result = spec.validate_value(
        schema, {"Permissions": ["invoiceread"], "DESCRIPTION": "Opis tokenu"}
    )
    assert result.errors == []
    assert result.value == {"permissions": ["InvoiceRead"], "description": "Opis tokenu"}
    bad = spec.validate_value(schema, {"permissions": ["Nope"], "description": "x"})
    assert len(bad.errors) == 2


def test_spec_exposes_rate_limits_permissions_and_codes(spec):
    op = spec.operation("POST", "/sessions/online")
    assert op.rate_limits == {"perSecond": 10, "perMinute": 30, "perHour": 120}
    assert "InvoiceWrite" in op.required_permissions
    assert {21470, 21405} <= op.documented_codes


def test_official_sync_verifies_pins(tmp_path: Path):
    source = official.locate()
    target = official.sync(str(source), tmp_path / "cache")
    assert official.verify(target) == {}
    # A tampered source is refused and nothing is written.
    bad = tmp_path / "bad"
    official.sync(str(source), bad)
    (bad / "open-api.json").write_text("{}")
    with pytest.raises(official.PinMismatch):
        official.sync(str(bad), tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_official_sync_from_url_uses_the_fetcher(tmp_path: Path):
    source = official.locate()

    def fetch(url: str) -> bytes:
        rel = url.split("/base/", 1)[1]
        return (source / rel).read_bytes()

    target = official.sync("https://example.invalid/base", tmp_path / "c", fetch=fetch)
    assert official.verify(target) == {}


def test_locate_explains_what_to_do(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MOCKKSEF_OFFICIAL_DIR", str(tmp_path / "none"))
    monkeypatch.setattr(official, "checkout_dir", lambda: tmp_path / "none2")
    monkeypatch.setattr(official, "cache_dir", lambda: tmp_path / "none3")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(official.OfficialFilesMissing) as info:
        official.locate()
    assert "MOCKKSEF_OFFICIAL_DIR" in str(info.value) and "mockksef sync" in str(info.value)


def test_pins_are_hashes_only():
    data = json.loads(official.PINS_FILE.read_text())
    for rel, digest in data["files"].items():
        assert len(digest) == 64 and int(digest, 16) >= 0, rel
    assert hashlib.sha256(official.PINS_FILE.read_bytes()).hexdigest()
