"""The official OpenAPI as data.

Loaded once from the official directory (never from a committed copy). It is
the source of truth for cross-cutting rules: rate limits per operation
(``x-rate-limits``), required permissions (``x-required-permissions``), the
exception codes documented per operation (the 400 tables), and the request
schemas that every JSON body and query string is validated against.

The OpenAPI 3.0 schemas are converted to JSON Schema (``nullable`` becomes a
union with null) and compiled lazily, once per operation.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import threading
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft7Validator, FormatChecker

from mockksef import spec_overlay, violations
from mockksef.clock import parse_datetime

_CODE_ROW = re.compile(r"^\|\s*(\d{4,5})\s*\|", re.MULTILINE)
_METHODS = ("get", "post", "put", "delete", "patch")


class SpecError(RuntimeError):
    pass


@dataclass(frozen=True)
class SpecOperation:
    method: str
    path: str
    raw: dict[str, Any]

    @property
    def rate_limits(self) -> dict[str, int] | None:
        return self.raw.get("x-rate-limits")

    @property
    def required_permissions(self) -> tuple[str, ...]:
        return tuple(self.raw.get("x-required-permissions") or ())

    @property
    def secured(self) -> bool:
        return bool(self.raw.get("security"))

    @property
    def response_codes(self) -> tuple[str, ...]:
        return tuple(self.raw.get("responses", {}))

    @property
    def documented_codes(self) -> frozenset[int]:
        text = self.raw.get("responses", {}).get("400", {}).get("description", "")
        return frozenset(int(code) for code in _CODE_ROW.findall(text))

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.raw.get("tags", ()))

    def request_schema(self, media_type: str = "application/json") -> dict[str, Any] | None:
        content = self.raw.get("requestBody", {}).get("content", {})
        entry = content.get(media_type)
        return entry.get("schema") if entry else None

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return list(self.raw.get("parameters", ()))


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema (draft 7)."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _convert(v)
        for k, v in node.items()
        if k
        not in (
            "example",
            "examples",
            "nullable",
            "deprecated",
            "xml",
            "readOnly",
            "writeOnly",
            "discriminator",
        )
    }
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    if out.get("exclusiveMinimum") is True:
        out["exclusiveMinimum"] = out.pop("minimum", 0)
    elif out.get("exclusiveMinimum") is False:
        out.pop("exclusiveMinimum")
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


_formats = FormatChecker()


@_formats.checks("date-time", raises=(ValueError, TypeError))
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        raise ValueError("not an ISO 8601 date-time")
    parse_datetime(value)
    return True


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


@_formats.checks("byte", raises=(ValueError, binascii.Error))
def _is_base64(value: object) -> bool:
    if isinstance(value, str):
        base64.b64decode(value, validate=True)
    return True


@_formats.checks("int32", raises=())
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_formats.checks("int64", raises=())
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@dataclass
class Validation:
    """Result of validating one request part: canonical value and messages."""

    value: Any
    errors: list[str] = field(default_factory=list)


class Spec:
    def __init__(
        self, data: dict[str, Any], source: Path | None = None, overlay: bool = True
    ) -> None:
        # The newer contract (reference part C) is laid over the official 2.7.0 document.
        self.official = data
        self.data = copy.deepcopy(data) if overlay else data
        self.overlay_changes = spec_overlay.apply(self.data) if overlay else []
        self.source = source
        self._lock = threading.Lock()
        self._validators: dict[int, Draft7Validator] = {}
        # (schema id, type, value, where) -> (canonical value, messages) for scalars:
        # path and query parameters repeat (a session's reference number on every call).
        self._scalars: dict[tuple[Any, ...], tuple[Any, tuple[str, ...]]] = {}
        # id(OAS schema) -> (that schema, its JSON Schema / its compiled check)
        self._conversions: dict[int, tuple[Any, Any]] = {}
        self._compiled: dict[int, tuple[Any, Callable[[Any], bool] | None]] = {}
        self._operations: dict[tuple[str, str], SpecOperation] = {}
        for path, item in data.get("paths", {}).items():
            for method, raw in item.items():
                if method in _METHODS:
                    self._operations[(method.upper(), path)] = SpecOperation(
                        method.upper(), path, raw
                    )

    @classmethod
    def from_dir(cls, directory: Path) -> Spec:
        path = Path(directory) / "open-api.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SpecError(f"cannot read the official OpenAPI at {path}: {exc}") from exc
        return cls(data, path)

    @property
    def version(self) -> str:
        match = re.search(
            r"Wersja API:\*\*\s*([0-9.]+)", self.data.get("info", {}).get("description", "")
        )
        return match.group(1) if match else "unknown"

    def operations(self) -> list[SpecOperation]:
        return list(self._operations.values())

    def operation(self, method: str, path: str) -> SpecOperation | None:
        return self._operations.get((method.upper(), path))

    @cached_property
    def definitions(self) -> dict[str, Any]:
        schemas: dict[str, Any] = _convert(self.data.get("components", {}).get("schemas", {}))
        return schemas

    def schema(self, name: str) -> dict[str, Any]:
        """A component schema as standalone JSON Schema."""
        return {"allOf": [{"$ref": f"#/definitions/{name}"}], "definitions": self.definitions}

    def standalone(self, oas_schema: dict[str, Any]) -> dict[str, Any]:
        return {"allOf": [_convert(oas_schema)], "definitions": self.definitions}

    def validator(self, oas_schema: dict[str, Any]) -> Draft7Validator:
        key = id(oas_schema)
        validator = self._validators.get(key)
        if validator is None:
            with self._lock:
                # $refs inlined: resolving them through the registry on every request
                # was a third of the validation time (the messages are the same).
                schema = self.standalone(oas_schema)
                schema["allOf"] = _inline(schema["allOf"], self.definitions, ())
                validator = Draft7Validator(schema, format_checker=_formats)
                self._validators[key] = validator
        return validator

    # -- request validation -------------------------------------------------

    def validate_value(self, oas_schema: dict[str, Any], value: Any, where: str = "") -> Validation:
        scalar = value is None or type(value) in (str, int, float, bool)
        if scalar:
            key = (id(oas_schema), type(value), value, where)
            known = self._scalars.get(key)
            if known is not None:
                return Validation(known[0], list(known[1]))
        canonical = canonicalize(value, self._converted(oas_schema), self.definitions)
        accepts = self._accepts(oas_schema)
        if accepts is not None and accepts(canonical):
            # The compiled check agrees with jsonschema on every value (tests compare
            # them); jsonschema runs only to word the messages of a refused value.
            if scalar:
                self._remember(key, canonical, [])
            return Validation(canonical, [])
        validator = self.validator(oas_schema)
        messages: list[str] = []
        for error in sorted(validator.iter_errors(canonical), key=lambda e: list(e.absolute_path)):
            messages.append(_detail(error, where))
        if scalar:
            self._remember(key, canonical, messages)
        return Validation(canonical, messages)

    def _remember(self, key: tuple[Any, ...], canonical: Any, messages: list[str]) -> None:
        if len(self._scalars) >= _SCALARS_MAX:
            self._scalars.clear()
        self._scalars[key] = (canonical, tuple(messages))

    def _converted(self, oas_schema: dict[str, Any]) -> Any:
        key = id(oas_schema)
        found = self._conversions.get(key)
        if found is None or found[0] is not oas_schema:
            found = self._conversions[key] = (oas_schema, _convert(oas_schema))
        return found[1]

    def _accepts(self, oas_schema: dict[str, Any]) -> Callable[[Any], bool] | None:
        """The compiled validity check of a schema, or None when it uses a keyword
        the compiler does not handle (then jsonschema alone decides)."""
        key = id(oas_schema)
        found = self._compiled.get(key)
        if found is None or found[0] is not oas_schema:
            schema = _inline(self._converted(oas_schema), self.definitions, ())
            try:
                check: Callable[[Any], bool] | None = _compile(schema)
            except _Unsupported:
                check = None
            found = self._compiled[key] = (oas_schema, check)
        return found[1]


_SCALARS_MAX = 10_000


def _inline(node: Any, definitions: dict[str, Any], stack: tuple[str, ...]) -> Any:
    """``node`` with every non-recursive ``#/definitions/`` $ref replaced by its target.

    Draft 7 ignores the siblings of ``$ref``, so the target replaces the whole
    node. A recursive reference stays a $ref (resolved through ``definitions``).
    """
    if isinstance(node, list):
        return [_inline(item, definitions, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref[len("#/definitions/") :]
        if name in stack or name not in definitions:
            return node
        return _inline(definitions[name], definitions, (*stack, name))
    return {key: _inline(value, definitions, stack) for key, value in node.items()}


# -- compiled validity checks ----------------------------------------------------
#
# jsonschema walks a schema anew for every value (~70 µs for the body of a sent
# invoice); request validation is on every call. ``_compile`` turns a schema into
# nested closures that answer only "valid or not", for the Draft 7 keywords the
# official request schemas use, each exactly as jsonschema evaluates it (same type
# checker, same format checker, re.search for patterns). A schema with any other
# Draft 7 keyword is not compiled.


class _Unsupported(Exception):
    pass


_TYPES = Draft7Validator.TYPE_CHECKER
_SIMPLE_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: _TYPES.is_type(v, "integer"),
    "number": lambda v: _TYPES.is_type(v, "number"),
}
_COMPILED_KEYWORDS = frozenset(
    (
        "type",
        "properties",
        "required",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "enum",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "format",
        "allOf",
        "anyOf",
        "oneOf",
    )
)

_Compare = Callable[[Any, Any], bool]
_LENGTH_KEYWORDS: tuple[tuple[str, type[Sized], _Compare], ...] = (
    ("minItems", list, lambda n, limit: n >= limit),
    ("maxItems", list, lambda n, limit: n <= limit),
    ("minLength", str, lambda n, limit: n >= limit),
    ("maxLength", str, lambda n, limit: n <= limit),
)
# Written as jsonschema tests them (it refuses "v < minimum", not "not v >= minimum").
_BOUND_KEYWORDS: tuple[tuple[str, _Compare], ...] = (
    ("minimum", lambda v, limit: not v < limit),
    ("maximum", lambda v, limit: not v > limit),
    ("exclusiveMinimum", lambda v, limit: not v <= limit),
    ("exclusiveMaximum", lambda v, limit: not v >= limit),
)


def _length_check(kind: type[Sized], compare: _Compare, limit: Any) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, kind) or compare(len(v), limit)


def _bound_check(
    is_number: Callable[[Any], bool], compare: _Compare, limit: Any
) -> Callable[[Any], bool]:
    return lambda v: not is_number(v) or compare(v, limit)


def _compile(schema: Any) -> Callable[[Any], bool]:
    if schema is True:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, dict):
        raise _Unsupported(schema)
    if "$ref" in schema:
        raise _Unsupported("$ref")  # only recursive ones are left after _inline
    checks: list[Callable[[Any], bool]] = []
    for keyword in schema:
        if keyword in Draft7Validator.VALIDATORS and keyword not in _COMPILED_KEYWORDS:
            raise _Unsupported(keyword)
    is_number = _SIMPLE_TYPES["number"]
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if any(name not in _SIMPLE_TYPES for name in names):
            raise _Unsupported(schema["type"])
        tests = [_SIMPLE_TYPES[name] for name in names]
        checks.append(lambda v: any(test(v) for test in tests))
    if "properties" in schema:
        props = [(name, _compile(sub)) for name, sub in schema["properties"].items()]
        checks.append(
            lambda v: (
                not isinstance(v, dict) or all(check(v[name]) for name, check in props if name in v)
            )
        )
    if "required" in schema:
        required = list(schema["required"])
        checks.append(lambda v: not isinstance(v, dict) or all(name in v for name in required))
    if "items" in schema:
        if isinstance(schema["items"], list):
            raise _Unsupported("items as a list")
        item = _compile(schema["items"])
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    for keyword, kind, compare in _LENGTH_KEYWORDS:
        if keyword in schema:
            checks.append(_length_check(kind, compare, schema[keyword]))
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda v: not isinstance(v, str) or bool(search(v)))
    if "enum" in schema:
        values = list(schema["enum"])
        if any(isinstance(x, (dict, list)) for x in values):
            raise _Unsupported("enum of containers")
        # Stricter than jsonschema's equality (1 == 1.0 there): a refusal is re-checked.
        checks.append(lambda v: any(type(v) is type(x) and v == x for x in values))
    for keyword, compare in _BOUND_KEYWORDS:
        if keyword in schema:
            checks.append(_bound_check(is_number, compare, schema[keyword]))
    if "format" in schema:
        fmt = schema["format"]
        checks.append(lambda v: _formats.conforms(v, fmt))
    if "allOf" in schema:
        parts = [_compile(sub) for sub in schema["allOf"]]
        checks.append(lambda v: all(part(v) for part in parts))
    if "anyOf" in schema:
        options = [_compile(sub) for sub in schema["anyOf"]]
        checks.append(lambda v: any(option(v) for option in options))
    if "oneOf" in schema:
        choices = [_compile(sub) for sub in schema["oneOf"]]
        checks.append(lambda v: sum(1 for c in choices if c(v)) == 1)
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


_REQUIRED = re.compile(r"^(['\"])(?P<name>.*)\1 is a required property$", re.DOTALL)
_NULL_BRANCH = {"type": "null"}


def _detail(error: jsonschema.ValidationError, where: str) -> violations.Detail:
    """A refused value as the service's validator words it (one rule, one sentence)."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        # A nullable value is a union with null: what matters is why the value
        # failed its own schema, not that it is not null either.
        own = [e for e in error.context if e.schema != _NULL_BRANCH]
        best = jsonschema.exceptions.best_match(own or error.context)
        if best is not None:
            return _detail(best, where)
    path: list[str | int] = [where] if where else []
    path += list(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    if kind == "required":
        missing = _REQUIRED.match(error.message)
        return violations.not_empty(
            violations.field_name([*path, missing.group("name") if missing else "?"])
        )
    name = violations.field_name(path)
    if kind == "type":
        return violations.not_empty(name) if value is None else violations.bad_format(name)
    if kind in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return violations.between(name, low, high, value)
        return (
            violations.at_least(name, low) if kind == "minimum" else violations.at_most(name, high)
        )
    if kind == "exclusiveMinimum":
        return violations.greater_than(name, schema["exclusiveMinimum"])
    if kind == "exclusiveMaximum":
        return violations.less_than(name, schema["exclusiveMaximum"])
    if kind == "enum":
        return violations.not_in_enum(name, value)
    if kind in ("pattern", "format"):
        return violations.bad_format(name)
    if kind in ("minLength", "maxLength") and isinstance(value, str):
        return violations.length(name, schema.get("minLength"), schema.get("maxLength"), len(value))
    if kind == "minItems" and value == []:
        return violations.not_empty(name)
    return violations.condition(name)


def _resolve(schema: Any, definitions: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """Flatten $ref/allOf/anyOf/oneOf into the list of object schemas involved."""
    if not isinstance(schema, dict) or depth > 12:
        return []
    out: list[dict[str, Any]] = []
    ref = schema.get("$ref")
    if ref:
        out += _resolve(definitions.get(ref.rsplit("/", 1)[-1]), definitions, depth + 1)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, ()):
            out += _resolve(sub, definitions, depth + 1)
    out.append(schema)
    return out


def canonicalize(value: Any, schema: Any, definitions: dict[str, Any]) -> Any:
    """Map property names and string enum values to the schema's spelling.

    KSeF reads JSON case-insensitively (the official C# client sends
    PascalCase) and the docs' own examples use lower-case enum values.
    """
    parts = _resolve(schema, definitions)
    if isinstance(value, dict):
        props: dict[str, Any] = {}
        for part in parts:
            for name, sub in part.get("properties", {}).items():
                props.setdefault(name.lower(), (name, sub))
        if not props:
            return value
        result: dict[str, Any] = {}
        for key, item in value.items():
            name, sub = props.get(key.lower(), (key, None)) if isinstance(key, str) else (key, None)
            if name in result and name != key:
                # Both spellings sent: keep the exact one.
                continue
            result[name] = canonicalize(item, sub, definitions) if sub is not None else item
        return result
    if isinstance(value, list):
        for part in parts:
            if "items" in part:
                return [canonicalize(item, part["items"], definitions) for item in value]
        return value
    if isinstance(value, str):
        for part in parts:
            enum = part.get("enum")
            if enum and value not in enum:
                lowered = {str(e).lower(): e for e in enum}
                if value.lower() in lowered:
                    return lowered[value.lower()]
        return value
    return value


def spec_copy(spec: Spec) -> dict[str, Any]:
    """A deep copy of the raw spec, for tools that mutate what they load."""
    return copy.deepcopy(spec.data)
