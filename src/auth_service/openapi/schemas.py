"""JSON Schemas of the wire objects (OpenAPI 3.1 = JSON Schema 2020-12) and of request bodies.

Request bodies are derived from the `Field` tuples the routes validate with (`body_schema`), so
a field added to a route appears in the document without being written twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auth_service.core.validation import EMAIL_PATTERN, Field

Schema = dict[str, Any]

DATE_TIME: Schema = {"type": "string", "format": "date-time"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    properties: dict[str, Schema],
    required: Iterable[str] = (),
    *,
    nullable: bool = False,
    description: str | None = None,
) -> Schema:
    """An object schema; extra properties stay allowed (Better Auth adds configured fields)."""
    schema: Schema = {"type": ["object", "null"] if nullable else "object"}
    if description:
        schema["description"] = description
    schema["properties"] = properties
    required = list(required)
    if required:
        schema["required"] = required
    return schema


def const(value: Any) -> Schema:
    kind = {bool: "boolean", str: "string", int: "integer"}[type(value)]
    return {"type": kind, "const": value}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


USER = obj(
    {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "emailVerified": {"type": "boolean"},
        "image": NULLABLE_STRING,
        "createdAt": DATE_TIME,
        "updatedAt": DATE_TIME,
    },
    ["id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"],
    description="A user, every column in camelCase (plus configured additional fields).",
)
SESSION = obj(
    {
        "id": {"type": "string"},
        "token": {"type": "string", "description": "The raw session token."},
        "userId": {"type": "string"},
        "expiresAt": DATE_TIME,
        "createdAt": DATE_TIME,
        "updatedAt": DATE_TIME,
        "ipAddress": NULLABLE_STRING,
        "userAgent": NULLABLE_STRING,
    },
    ["id", "token", "userId", "expiresAt", "createdAt", "updatedAt"],
    description="A session row. Better Auth sends the raw token.",
)
ACCOUNT = obj(
    {
        "id": {
            "type": "string",
            "description": "The local account id (what unlink-account takes).",
        },
        "providerId": {"type": "string"},
        "accountId": {"type": "string", "description": "The id at the provider."},
        "userId": {"type": "string"},
        "createdAt": DATE_TIME,
        "updatedAt": DATE_TIME,
        "scopes": array({"type": "string"}),
    },
    ["id", "providerId", "accountId", "userId", "createdAt", "updatedAt", "scopes"],
    description="A linked account as list-accounts returns it; tokens and passwords never are.",
)
VERIFICATION = obj(
    {
        "id": {"type": "string"},
        "identifier": {"type": "string"},
        "value": {"type": "string"},
        "expiresAt": DATE_TIME,
        "createdAt": DATE_TIME,
        "updatedAt": DATE_TIME,
    },
    ["id", "identifier", "value", "expiresAt", "createdAt", "updatedAt"],
    description="A verification row (database model; no endpoint returns it).",
)
JWK = obj(
    {
        "kid": {"type": "string"},
        "kty": {"type": "string"},
        "alg": {"type": "string"},
        "crv": {"type": "string"},
        "x": {"type": "string"},
        "y": {"type": "string"},
        "n": {"type": "string"},
        "e": {"type": "string"},
        "use": {"type": "string"},
    },
    ["kid", "kty", "alg"],
    description="A public signing key.",
)
ERROR = obj(
    {
        "message": {"type": "string"},
        "code": {"type": "string", "description": "UPPER_SNAKE error code, when there is one."},
    },
    ["message"],
    description='Better Auth\'s error body: `{"message", "code"}` (a few errors carry no code).',
)

COMPONENT_SCHEMAS: dict[str, Schema] = {
    "User": USER,
    "Session": SESSION,
    "Account": ACCOUNT,
    "Verification": VERIFICATION,
    "Jwk": JWK,
    "Error": ERROR,
}

STATUS_TRUE = obj({"status": const(True)}, ["status"])
SESSION_AND_USER = obj({"session": ref("Session"), "user": ref("User")}, ["session", "user"])
TOKEN_AND_USER = obj(
    {"token": NULLABLE_STRING, "user": ref("User")},
    ["token", "user"],
)


# The JSON Schema of each validation kind; a kind this module does not know yet is described as
# "any value" rather than guessed (the route still validates it).
_KIND_SCHEMAS: dict[str, Schema] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "email": {"type": "string", "pattern": EMAIL_PATTERN.pattern},
}


def field_schema(field: Field) -> Schema:
    schema = dict(_KIND_SCHEMAS.get(str(field.kind), {}))
    if field.min_length and schema.get("type") == "string":
        schema["minLength"] = field.min_length
    if field.nullable and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    if not field.allow_nul and schema.get("type") in ("string", ["string", "null"]):
        schema["description"] = "Must not contain NUL characters."
    return schema


def body_schema(fields: Iterable[Field], *, extra: dict[str, Schema] | None = None) -> Schema:
    """The object schema of a request body validated by `fields` (unknown keys are ignored)."""
    fields = list(fields)
    properties = {field.name: field_schema(field) for field in fields}
    for name, schema in (extra or {}).items():
        properties[name] = {**properties.get(name, {}), **schema}
    return obj(properties, [field.name for field in fields if not field.optional])
