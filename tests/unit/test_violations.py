"""The one generator of 21405 details: its sentences, its field names, and that no one else words one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mockksef import violations
from mockksef.errors import InvalidInputData

PACKAGE = Path(__file__).resolve().parents[2] / "mockksef"


def test_the_two_sentences_seen_on_test_word_for_word():
    """java QueryInvoiceIntegrationTest (pageSize 5) and BatchIntegrationTest (fileSize)."""
    assert violations.between("pageSize", 10, 250, 5) == (
        "'pageSize' must be between 10 and 250. You entered 5."
    )
    assert violations.at_most("fileSize", 5_000_000_000) == (
        "'fileSize' must be less than or equal to '5000000000'."
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (("rateLimits", "onlineSession", "perHour"), "rateLimits.onlineSession.perHour"),
        (("batchFile", "fileSize"), "fileSize"),
        (("batchFile", "fileParts", 1, "fileHash"), "fileParts[1].fileHash"),
        (("batchFile",), "batchFile"),
        (("permissions", 0), "permissions[0]"),
        (("pageSize",), "pageSize"),
    ],
)
def test_fields_are_named_by_their_json_path(path, name):
    assert violations.field_name(path) == name


@pytest.mark.parametrize(
    ("low", "high", "entered", "text"),
    [
        (36, 36, 4, "'x' must be 36 characters in length. You entered 4 characters."),
        (5, 256, 3, "'x' must be between 5 and 256 characters. You entered 3 characters."),
        (5, None, 3, "The length of 'x' must be at least 5 characters. You entered 3 characters."),
        (
            None,
            9,
            12,
            "The length of 'x' must be 9 characters or fewer. You entered 12 characters.",
        ),
    ],
)
def test_length_sentences(low, high, entered, text):
    assert violations.length("x", low, high, entered) == text


def test_a_field_is_reported_once_and_a_repeated_text_once():
    error = InvalidInputData(
        violations.not_empty("rateLimits.other"),
        violations.bad_format("rateLimits.other"),
        violations.service("body_required"),
        violations.service("body_required"),
        violations.between("pageSize", 10, 250, 5),
    )
    assert list(error.errors[0].details) == [
        "'rateLimits.other' must not be empty.",
        "Treść żądania jest wymagana.",
        "'pageSize' must be between 10 and 250. You entered 5.",
    ]


@pytest.mark.parametrize(
    ("schema", "value", "text"),
    [
        (
            {"type": "integer", "minimum": 10, "maximum": 250},
            5,
            "'v' must be between 10 and 250. You entered 5.",
        ),
        ({"type": "integer", "maximum": 9}, 12, "'v' must be less than or equal to '9'."),
        ({"type": "integer", "minimum": 1}, 0, "'v' must be greater than or equal to '1'."),
        (
            {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            0,
            "'v' must be greater than '0'.",
        ),
        (
            {"type": "string", "enum": ["Asc", "Desc"]},
            "Up",
            "'v' has a range of values which does not include 'Up'.",
        ),
        ({"type": "string", "pattern": "^[0-9]+$"}, "x1", "'v' is not in the correct format."),
        (
            {"type": "string", "format": "date-time"},
            "yesterday",
            "'v' is not in the correct format.",
        ),
        ({"type": "integer"}, "ten", "'v' is not in the correct format."),
        ({"type": "integer"}, None, "'v' must not be empty."),
        (
            {"type": "string", "nullable": True, "maxLength": 3},
            "four",
            "The length of 'v' must be 3 characters or fewer. You entered 4 characters.",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
            [],
            "'v' must not be empty.",
        ),
    ],
)
def test_schema_violations_in_the_validators_words(spec, schema, value, text):
    assert spec.validate_value(schema, value, "v").errors == [text]


def test_a_missing_member_is_named_by_its_path(spec):
    schema = {
        "type": "object",
        "required": ["batchFile"],
        "properties": {
            "batchFile": {
                "type": "object",
                "required": ["fileSize"],
                "properties": {"fileSize": {"type": "integer"}},
            },
            "rateLimits": {
                "type": "object",
                "required": ["other"],
                "properties": {"other": {"type": "object"}},
            },
        },
    }
    assert spec.validate_value(schema, {"batchFile": {}, "rateLimits": {}}).errors == [
        "'fileSize' must not be empty.",
        "'rateLimits.other' must not be empty.",
    ]


# -- no other module words a 21405 detail ----------------------------------------------------------

# Callables whose arguments are 21405 details.
_DETAIL_SINKS = {"InvalidInputData", "bad"}


def _is_text(node: ast.expr) -> bool:
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    return False


def _worded_details(source: str) -> list[int]:
    """Lines where a literal text is passed as a 21405 detail."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        args = list(node.args)
        if name == "KsefError" and args and getattr(args[0], "value", None) == 21405:
            args = args[1:]
        elif name not in _DETAIL_SINKS:
            continue
        if any(_is_text(arg) for arg in args):
            found.append(node.lineno)
    return found


def test_the_check_finds_a_worded_detail():
    assert _worded_details('raise InvalidInputData(f"{x}: zła wartość")') == [1]
    assert _worded_details('raise KsefError(21405, "a" + b)') == [1]
    assert _worded_details("raise InvalidInputData(violations.not_empty('x'))") == []
    assert _worded_details('raise KsefError(21161, "Liczba części")') == []


def test_every_21405_detail_comes_from_the_generator():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "violations.py"
        for line in _worded_details(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
