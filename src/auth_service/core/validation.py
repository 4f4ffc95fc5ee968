"""Request body validation with zod's issue texts, as Better Auth reports them.

A schema is a tuple of fields in declaration order; issues are reported in that order as
`[body.<field>] <zod message>` and joined with `; ` into one 400 VALIDATION_ERROR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from auth_service.core.errors import APIError, ErrorCode

FieldKind = Literal["string", "boolean", "email"]
BodyShape = Literal["object", "record", "object_and_record"]
"""The zod type of an endpoint's body; it decides the issues a non-object body gets."""

EMAIL_PATTERN = re.compile(
    r"^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@"
    r"(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$"
)


def is_valid_email(value: str) -> bool:
    return EMAIL_PATTERN.fullmatch(value) is not None


def js_type_name(value: object) -> str:
    """The type zod names in `received <type>`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: FieldKind = "string"
    optional: bool = False
    nullable: bool = False
    min_length: int = 0
    allow_nul: bool = True
    """False where Better Auth would hand a NUL character to PostgreSQL and fail with a 500."""


_MISSING = object()


def _issues(field: Field, value: object) -> list[str]:
    """zod's issues for one field, in its order (a length check still runs after a type error)."""
    if value is _MISSING:
        if field.optional:
            return []
        expected = "boolean" if field.kind == "boolean" else "string"
        return [f"Invalid input: expected {expected}, received undefined"]
    if value is None and field.nullable:
        return []
    if field.kind == "boolean":
        if not isinstance(value, bool):
            return [f"Invalid input: expected boolean, received {js_type_name(value)}"]
        return []
    if not isinstance(value, str):
        issues = [f"Invalid input: expected string, received {js_type_name(value)}"]
        if isinstance(value, list) and len(value) < field.min_length:
            issues.append(f"Too small: expected array to have >={field.min_length} items")
        return issues
    if field.kind == "email" and not is_valid_email(value):
        return ["Invalid email address"]
    if not field.allow_nul and "\x00" in value:
        return ["Invalid string: must not contain NUL characters"]
    if utf16_length(value) < field.min_length:
        return [f"Too small: expected string to have >={field.min_length} characters"]
    return []


def is_js_truthy(value: object) -> bool:
    """JavaScript truthiness of a JSON value: "", 0, false and null are falsy; [] and {} are not."""
    if isinstance(value, list | dict):
        return True
    return bool(value)


def utf16_length(value: str) -> int:
    """Length as JavaScript counts it (UTF-16 code units)."""
    return len(value) + sum(1 for char in value if ord(char) > 0xFFFF)


def body_object(body: object, shape: BodyShape = "object") -> dict[str, Any]:
    """The body as an object, or Better Auth's error for a missing or non-object body.

    zod reports one issue per expected type: `z.object` gives "expected object", `z.record`
    "expected record", and sign-up's intersection of both gives the two, joined.
    """
    if isinstance(body, dict):
        return body
    received = "undefined" if body is _NO_BODY else js_type_name(body)
    expected = {
        "object": ("object",),
        "record": ("record",),
        "object_and_record": ("object", "record"),
    }[shape]
    message = "; ".join(
        f"[body] Invalid input: expected {kind}, received {received}" for kind in expected
    )
    raise APIError(400, ErrorCode.VALIDATION_ERROR, message)


_NO_BODY: Any = object()
NO_BODY: Any = _NO_BODY
"""Marker for a request without a body (distinct from a JSON `null`)."""


def validate(
    body: object, schema: tuple[Field, ...], shape: BodyShape = "object"
) -> dict[str, Any]:
    """Check `body` against `schema`; return the known fields that are present."""
    data = body_object(body, shape)
    issues: list[str] = []
    clean: dict[str, Any] = {}
    for field in schema:
        value = data.get(field.name, _MISSING)
        field_issues = _issues(field, value)
        issues.extend(f"[body.{field.name}] {issue}" for issue in field_issues)
        if not field_issues and value is not _MISSING:
            clean[field.name] = value
    if issues:
        raise APIError(400, ErrorCode.VALIDATION_ERROR, "; ".join(issues))
    return clean
