"""The performance changes of issue 8 keep every answer as it was.

Each test pins one fast path against the slow original (or its rule): the
timestamp and reference-number formatting, the environment lookup, the
challenge purge, the JWT and scalar-validation memos, the inlined request
schemas, the discouraged-character scan, the Ministry key caches and the
Host-header cache.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from jsonschema import Draft7Validator

from mockksef.app import EnvSelector
from mockksef.clock import Clock, format_datetime, format_datetime_seconds
from mockksef.environments import Env
from mockksef.errors import KsefError
from mockksef.ids import WARSAW, RandomSource
from mockksef.jwts import InvalidJwt, JwtSigner
from mockksef.spec import _formats
from mockksef.xml import xsd

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INSTANTS = [
    START,
    datetime(2026, 3, 2, 9, 0, 0, 999_999, tzinfo=UTC),
    datetime(2026, 3, 28, 23, 30, 1, 5, tzinfo=UTC),  # Warsaw is already on the 29th
    datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # Warsaw midnight in summer time
    datetime(2026, 3, 2, 23, 59, 1, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(1999, 12, 31, 1, 2, 3, 400_000, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.mark.parametrize("when", INSTANTS)
def test_timestamps_render_as_strftime_did(when):
    utc = when.astimezone(UTC)
    assert format_datetime(when) == utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"
    assert format_datetime_seconds(when) == utc.strftime("%Y-%m-%dT%H:%M:%S+00:00")


@pytest.mark.parametrize("when", INSTANTS)
def test_reference_numbers_carry_the_warsaw_day(when):
    number = RandomSource(1).reference_number("SO", when)
    assert number[:8] == when.astimezone(WARSAW).strftime("%Y%m%d")


def test_reference_numbers_match_the_plain_formula_across_hours_and_dst():
    from mockksef.ids import with_checksum

    fast, plain = RandomSource(5, "x"), RandomSource(5, "x")
    offsets = [timedelta(minutes=7 * i, microseconds=13 * i) for i in range(1500)]
    offsets += [-timedelta(minutes=11 * i) for i in range(300)]  # a clock set back
    for base in (datetime(2026, 3, 28, 20, tzinfo=UTC), datetime(2026, 10, 24, 18, tzinfo=UTC)):
        for n, offset in enumerate(offsets):
            when = (base + offset).astimezone(timezone(timedelta(hours=5, minutes=30)))
            code = "SO" if n % 3 else "EE"
            local = when.astimezone(WARSAW)
            first = f"{int(when.timestamp() * 1000) % 16**7:07X}000"
            expected = with_checksum(f"{local:%Y%m%d}-{code}-{first}-{plain.hex(10)}")
            assert fast.reference_number(code, when) == expected


def test_response_json_is_what_json_dumps_writes():
    import json

    from mockksef.http.endpoint import _dumps

    for data in (
        {"a": 1, "b": [1, 2.5, None, True], "ż": 'ółć \u2028 "q"', "n": {"m": {}}},
        "text",
        1e300,
        [],
    ):
        assert _dumps(data) == json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("status", [200, 201, 202, 204, 304, 400, 429, 500])
@pytest.mark.parametrize("headers", [None, {"x-continuation-token": "abc"}])
def test_json_answers_carry_what_starlettes_response_would(status, headers):
    from starlette.responses import Response

    from mockksef.http.endpoint import _dumps, json_response

    data = {"referenceNumber": "x", "ż": [1, None]}
    answer = json_response(data, status, headers)
    plain = Response(
        _dumps(data), status_code=status, media_type="application/json", headers=headers
    )
    assert (answer.status_code, answer.body, answer.raw_headers) == (
        plain.status_code,
        plain.body,
        plain.raw_headers,
    )
    answer.headers["x-late"] = "1"  # handlers' extra headers still reach the answer
    assert (b"x-late", b"1") in answer.raw_headers


def test_environments_are_found_by_enum_value_and_alias(mock):
    test = mock.env(Env.TEST)
    assert mock.env("test") is test
    assert mock.env("TEST") is test
    assert mock.env("te") is test
    with pytest.raises(ValueError):
        mock.env("nope")


# -- challenges ---------------------------------------------------------------------------


def test_a_used_challenge_behind_a_live_one_is_refused_then_purged(mock):
    auth = mock.env(Env.TEST).auth
    first = auth.challenge("10.0.0.1", mock.clock.now())["challenge"]
    mock.clock.advance(300)
    second = auth.challenge("10.0.0.1", mock.clock.now())["challenge"]
    auth._consume_challenge(auth._usable_challenge(second, mock.clock.now()))
    with pytest.raises(KsefError) as refused:
        auth._usable_challenge(second, mock.clock.now())
    assert refused.value.code == 21111
    assert list(auth.challenges) == [first, second]  # behind a live one: kept for now
    mock.clock.advance(301)  # the first has expired
    third = auth.challenge("10.0.0.1", mock.clock.now())["challenge"]
    assert list(auth.challenges) == [third]  # the used one went with the expired one


# -- JWTs ---------------------------------------------------------------------------------


def test_verified_tokens_are_remembered_but_expiry_and_rotation_still_apply():
    clock = Clock.virtual(START)
    signer = JwtSigner(b"k" * 32, "ksef-api-te", clock)
    token, _ = signer.issue({"typ": "AccessToken"}, timedelta(minutes=15))
    claims = signer.decode(token)
    claims["typ"] = "changed by a caller"
    assert signer.decode(token)["typ"] == "AccessToken"  # callers get copies
    clock.advance(15 * 60)
    with pytest.raises(InvalidJwt):
        signer.decode(token)  # expired, although verified before
    clock.set(START)
    signer.rotate(b"n" * 32)
    with pytest.raises(InvalidJwt):
        signer.decode(token)  # the old secret's tokens die with it
    with pytest.raises(InvalidJwt):
        JwtSigner(b"x" * 32, "ksef-api-te", clock).decode(token)


# -- request validation -------------------------------------------------------------------


def test_scalar_results_are_remembered_per_schema_and_place(spec):
    op = spec.operation("GET", "/sessions/{referenceNumber}")
    schema = next(p for p in op.parameters if p["name"] == "referenceNumber")["schema"]
    bad = spec.validate_value(schema, "nope", "referenceNumber")
    assert bad.errors and bad.errors[0].startswith("'referenceNumber' ")
    bad.errors.append("mutated by a caller")
    again = spec.validate_value(schema, "nope", "referenceNumber")
    assert again.errors == bad.errors[:-1]
    assert spec.validate_value(schema, "nope", "x").errors[0].startswith("'x' ")
    good = "20250514-SO-2DFC46C000-3AC6D5877F-D4"
    assert spec.validate_value(schema, good, "referenceNumber").errors == []
    order = spec.operation("GET", "/sessions")
    sort = next((p for p in order.parameters if p["schema"].get("enum")), None)
    if sort is not None:  # enum values are still matched case-insensitively
        value = sort["schema"]["enum"][0]
        assert spec.validate_value(sort["schema"], value.upper()).value == value


def _samples(schema: dict) -> list:  # type: ignore[type-arg]
    return [{}, [], "x", 1, None, {"a": 1}, {k: "x" for k in schema.get("required", [])}]


def test_inlined_request_schemas_give_the_same_messages(spec):
    compared = 0
    for op in spec.operations():
        schema = op.request_schema("application/json")
        if schema is None:
            continue
        inlined = spec.validator(schema)
        original = Draft7Validator(spec.standalone(schema), format_checker=_formats)
        for value in _samples(schema):
            fast = sorted(e.message for e in inlined.iter_errors(value))
            slow = sorted(e.message for e in original.iter_errors(value))
            assert fast == slow, (op.method, op.path, value)
            compared += 1
    assert compared > 100


_CANDIDATES = [
    "",
    "x",
    "5265877635",
    "1111111111",
    "20250514-SO-2DFC46C000-3AC6D5877F-D4",
    "5265877635-20250826-0100001AF629-AF",
    "2026-03-02",
    "2026-03-02T09:00:00Z",
    "2026-03-02T09:00:00.1234567+01:00",
    "47Q0zRWQhaX6T4Fcuq4Lw2oA+VcTn5Hmgt8H3QmjDvk=",
    "QUJD",
    "not base64!",
    "a" * 300,
    "Nip",
    "nip",
    "PL",
    "FA",
    "FA (3)",
    "1-0E",
    "0123456789ABCDEF",
    "12345678901",
    "10.0.0.1",
]
_ODD = [None, True, False, 0, 1, -1, 1.0, 1.5, 2**40, "", "x", [], {}, [1], {"a": 1}]


def _value(schema, rng, depth=0):  # type: ignore[no-untyped-def]
    """A value shaped by ``schema``, often valid, sometimes subtly not."""
    if depth > 6 or not isinstance(schema, dict) or rng.random() < 0.06:
        return rng.choice(_ODD)
    for key in ("allOf", "anyOf", "oneOf"):
        if schema.get(key):
            merged = {k: v for k, v in schema.items() if k != key}
            sub = rng.choice(schema[key]) if key != "allOf" else schema[key][0]
            return _value({**sub, **merged} if isinstance(sub, dict) else merged, rng, depth)
    if schema.get("enum"):
        return rng.choice(schema["enum"] + [str(schema["enum"][0]).upper()])
    kind = schema.get("type")
    kind = rng.choice(kind) if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        out = {}
        for name, sub in schema.get("properties", {}).items():
            if name in schema.get("required", ()) or rng.random() < 0.5:
                out[name] = _value(sub, rng, depth + 1)
        present = [name for name in schema.get("required", ()) if name in out]
        if present and rng.random() < 0.15:
            out.pop(rng.choice(present))  # a required property missing
        return out
    if kind == "array":
        return [_value(schema.get("items", {}), rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 1000)
        pick = rng.choice([low, high, low - 1, high + 1, (low + high) // 2])
        return float(pick) if kind == "number" and rng.random() < 0.3 else pick
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "string":
        import re

        fitting = [
            c
            for c in _CANDIDATES
            if (not schema.get("pattern") or re.search(schema["pattern"], c))
            and schema.get("minLength", 0) <= len(c) <= schema.get("maxLength", 10**6)
        ]
        if fitting and "maxLength" in schema and rng.random() < 0.15:
            return rng.choice(fitting) + "x" * (schema["maxLength"] + 1)  # too long
        return rng.choice(fitting or _CANDIDATES)
    return rng.choice(_ODD)


def test_compiled_checks_never_accept_what_jsonschema_refuses(spec):
    import random

    from mockksef.spec import _convert, _inline

    rng = random.Random(8)
    accepted = refused = missed = 0
    for op in spec.operations():
        schemas = [op.request_schema("application/json")]
        schemas += [p.get("schema") for p in op.parameters]
        for schema in filter(None, schemas):
            accepts = spec._accepts(schema)
            assert accepts is not None, (op.method, op.path)
            shape = _inline(_convert(schema), spec.definitions, ())
            validator = spec.validator(schema)
            for _ in range(60):
                value = _value(shape, rng)
                valid = not any(True for _ in validator.iter_errors(value))
                if accepts(value):
                    assert valid, (op.method, op.path, value)
                    accepted += 1
                else:
                    refused += 1
                    missed += valid  # re-checked by jsonschema: only slower, never wrong
    assert accepted > 1000 and refused > 1000, (accepted, refused)
    assert missed <= accepted // 50, missed  # the fast path serves nearly every valid value


# -- XML ----------------------------------------------------------------------------------


def test_discouraged_characters_are_found_as_the_full_scan_found_them():
    for code in [*range(0, 0x300), *range(0xFD00, 0xFE00), *range(0x300, 0x110000, 97)]:
        if 0xD800 <= code < 0xE000:
            continue
        for text in (chr(code), f"Zażółć {chr(code)} jaźń", f"ascii {chr(code)}"):
            full = xsd._DISCOURAGED.search(text)
            assert xsd._first_discouraged(text) == (full.group() if full else None), hex(code)
    for plane in range(1, 17):
        assert xsd._first_discouraged(f"ą{chr(plane * 0x10000 + 0xFFFF)}") is not None


@pytest.mark.parametrize("document", [b"<a/><?pi data?>", b"<a><b><?pi data?></b></a>"])
def test_processing_instructions_anywhere_are_refused(document):
    with pytest.raises(xsd.XmlRejected) as refused:
        xsd.parse_document(document)
    assert "Instrukcje" in " ".join(refused.value.details)


# -- Ministry keys, Host header -----------------------------------------------------------


def test_key_listing_follows_recertification(mock):
    keys = mock.env(Env.TEST).public_keys
    before = {k["usage"][0]: k for k in keys.listing()}
    key = keys.recertify("SymmetricKeyEncryption")
    after = {k["usage"][0]: k for k in keys.listing()}
    assert (
        after["SymmetricKeyEncryption"]["certificate"]
        != before["SymmetricKeyEncryption"]["certificate"]
    )
    assert (
        after["SymmetricKeyEncryption"]["publicKeyId"]
        == before["SymmetricKeyEncryption"]["publicKeyId"]
    )
    assert after["KsefTokenEncryption"] == before["KsefTokenEncryption"]
    assert key.public_key_id == after["SymmetricKeyEncryption"]["publicKeyId"]


def test_host_header_cache_is_bounded_and_exact():
    selector = EnvSelector(None, None, Env.TEST, (Env.TEST, Env.DEMO))  # type: ignore[arg-type]
    assert selector._for_host(b"api-demo.ksef.mf.gov.pl:443") is Env.DEMO
    assert selector._for_host(b"API-DEMO.ksef.mf.gov.pl") is Env.DEMO
    assert selector._for_host(b"api.ksef.mf.gov.pl") is Env.TEST  # PROD not enabled
    assert selector._for_host(None) is Env.TEST
    for n in range(1000):
        selector._for_host(f"host-{n}.example".encode())
    assert len(selector._by_host) <= 256
    assert selector._for_host(b"api-demo.ksef.mf.gov.pl:443") is Env.DEMO
