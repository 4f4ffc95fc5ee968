"""The OpenAPI 3.1 document, built from the application's live routes and the catalog.

Shaped as Better Auth's openAPI plugin shapes its own (spec §9.3): `openapi: 3.1.1`, its title
and version, `servers: [<baseURL>/api/auth]`, the `apiKeyCookie` and `bearerAuth` schemes, tag
"Default" for the core and the plugin's name for plugin endpoints. Paths outside /api/auth
(probes, gateway, features) carry their own `servers` entry (the service root).

Nothing goes undocumented silently: a route with no catalog entry is still listed, from
FastAPI's own description of it (enough for feature routes, which declare their models the
FastAPI way), and `uncatalogued` names it for the start-up warning and the coverage test.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from auth_service import __version__
from auth_service.auth.deps import EndpointOptions, SessionNeed
from auth_service.auth.router import BASE_PATH
from auth_service.openapi.catalog import BY_KEY, Access, Operation, Reply, route_key
from auth_service.openapi.inventory import LiveRoute, live_routes
from auth_service.openapi.schemas import COMPONENT_SCHEMAS, Schema, body_schema, obj, ref
from auth_service.settings import Settings

OPENAPI_VERSION = "3.1.1"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

TAGS = (
    ("Default", "Better Auth's core endpoints (no plugin)."),
    ("Jwt", "JWT plugin: JSON Web Tokens for other services and the public key set."),
    ("Open API", "This document and its reference page."),
    ("Gateway", "Internal endpoints for the API gateway and other services; never public."),
    ("Health", "Probes and metrics."),
    ("Features", "Application feature routes (auth_service/features)."),
)

_SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    Access.PUBLIC: [],
    Access.OPTIONAL_SESSION: [{}, {"apiKeyCookie": []}, {"bearerAuth": []}],
    Access.SESSION: [{"apiKeyCookie": []}, {"bearerAuth": []}],
    Access.FRESH_SESSION: [{"apiKeyCookie": []}, {"bearerAuth": []}],
    Access.GATEWAY: [{"gatewayAuth": []}],
    Access.SERVICE: [{"serviceAuth": []}],
}
_SESSION_ACCESS = {SessionNeed.REQUIRED: Access.SESSION, SessionNeed.FRESH: Access.FRESH_SESSION}
_ERROR_TEXT = {
    400: "Bad request: invalid JSON, a validation error or a rule of the endpoint",
    401: "No valid session or credential",
    403: "Refused: untrusted origin or callback URL, or a session that is not fresh",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported Content-Type",
    417: "Expectation failed",
    422: "Unprocessable: e.g. the user already exists",
    429: "Too many requests (see the X-Retry-After header)",
    503: "The database is unavailable; retry shortly",
}
_HEADER_TEXT = {
    "Location": "Where to go next.",
    "set-auth-jwt": "A JWT for the session (JWT plugin), when there is a session.",
    "set-auth-token": "The new session's token, signed (bearer plugin).",
    "X-Retry-After": "Seconds until a request is allowed again.",
}


def is_auth_path(path: str) -> bool:
    return path == BASE_PATH or path.startswith(BASE_PATH + "/")


def _access(operation: Operation, options: EndpointOptions | None) -> Access:
    if options is not None and options.session in _SESSION_ACCESS:
        return _SESSION_ACCESS[options.session]
    return operation.access


def _request_body(operation: Operation, options: EndpointOptions | None) -> Schema | None:
    """The requestBody object, from the route's own fields when it is live."""
    form = operation.form
    catalog_body = operation.body
    required = operation.body_required
    if options is not None:
        form = options.allow_form
        if options.schema is None:
            if operation.method != "POST":
                return None
            # A route validating by hand: the catalog's schema, else "any object".
            schema: Schema | None = catalog_body if isinstance(catalog_body, dict) else obj({})
            required = False
        else:
            extra = catalog_body.get("properties", {}) if isinstance(catalog_body, dict) else {}
            schema = body_schema(options.schema, extra=extra)
            required = not options.body_optional
    elif isinstance(catalog_body, tuple):
        schema = body_schema(catalog_body)
    else:
        schema = catalog_body
    if schema is None:
        return None
    if required is None:
        required = bool(schema.get("required"))
    content = {JSON: {"schema": schema}}
    if form:
        content[FORM] = {"schema": schema}
    return {"required": required, "content": content}


def _error_statuses(
    operation: Operation,
    access: Access,
    request_body: Schema | None,
    options: EndpointOptions | None,
) -> set[int]:
    statuses = set(operation.errors)
    if is_auth_path(operation.path):
        statuses.add(429)
        runs_pipeline = options is not None or operation.body is not None
        if runs_pipeline and operation.method == "POST":
            statuses.update((400, 403, 413, 415))  # body, content type, origin checks
    if request_body is not None:
        statuses.update((400, 413))
    if operation.database:
        statuses.add(503)
    if access in (Access.SESSION, Access.FRESH_SESSION, Access.GATEWAY, Access.SERVICE):
        statuses.add(401)
    if access is Access.FRESH_SESSION:
        statuses.add(403)
    if access in (Access.GATEWAY, Access.SERVICE):
        statuses.add(503)  # the secret is not configured
    return statuses


def _reply(reply: Reply, header_names: dict[str, str]) -> Schema:
    answer: Schema = {"description": reply.description}
    if reply.headers:
        answer["headers"] = {
            header_names.get(name, name): {
                "description": _HEADER_TEXT.get(name, "Identity header."),
                "schema": {"type": "string"},
            }
            for name in reply.headers
        }
    if reply.media_type is not None:
        answer["content"] = {reply.media_type: {"schema": reply.schema or {}}}
    return answer


def _operation(
    operation: Operation, options: EndpointOptions | None, header_names: dict[str, str]
) -> Schema:
    access = _access(operation, options)
    request_body = _request_body(operation, options)
    result: Schema = {
        "tags": [operation.tag],
        "summary": operation.summary,
        "operationId": operation.operation_id,
    }
    if operation.description:
        result["description"] = operation.description
    result["security"] = _SECURITY[access]
    if operation.params:
        result["parameters"] = [
            {
                "name": param.name,
                "in": param.location,
                "required": param.required,
                **({"description": param.description} if param.description else {}),
                "schema": param.schema,
            }
            for param in operation.params
        ]
    if request_body is not None:
        result["requestBody"] = request_body
    responses: dict[str, Schema] = {
        str(status): _reply(reply, header_names) for status, reply in operation.replies.items()
    }
    for status in sorted(_error_statuses(operation, access, request_body, options)):
        if str(status) in responses:
            continue
        text = _ERROR_TEXT.get(status) or HTTPStatus(status).phrase
        responses[str(status)] = {
            "description": text,
            "content": {JSON: {"schema": ref("Error")}},
        }
        if status == 429:
            responses["429"]["headers"] = {
                "X-Retry-After": {
                    "description": _HEADER_TEXT["X-Retry-After"],
                    "schema": {"type": "string"},
                }
            }
    result["responses"] = dict(sorted(responses.items()))
    return result


def _operation_id(method: str, path: str) -> str:
    """`GET /api/orders/{order_id}` -> `getApiOrdersOrderId` (FastAPI's own ignores prefixes)."""
    words = re.findall(r"[A-Za-z0-9]+", path)
    return method.lower() + "".join(word[:1].upper() + word[1:] for word in words)


def _from_fastapi(route: LiveRoute, components: dict[str, Schema]) -> Schema | None:
    """FastAPI's own description of a route with no catalog entry (e.g. a new feature)."""
    if route.route is None:
        return None
    generated = get_openapi(title="-", version="-", openapi_version="3.1.0", routes=[route.route])
    for name, schema in generated.get("components", {}).get("schemas", {}).items():
        components.setdefault(name, schema)
    for item in generated.get("paths", {}).values():
        found: Schema | None = item.get(route.method.lower())
        if found is not None:
            found["tags"] = ["Features"]
            found["operationId"] = _operation_id(route.method, route.path)
            found["x-from-route"] = True
            return found
    return None


def uncatalogued(app: FastAPI) -> list[tuple[str, str]]:
    """Live (method, path) pairs with no catalog entry: documented from FastAPI at best."""
    return [
        (r.method, r.path) for r in live_routes(app) if route_key(r.method, r.path) not in BY_KEY
    ]


def unrouted(app: FastAPI) -> list[tuple[str, str]]:
    """Catalogued endpoints with no route in this application (not written yet, or off)."""
    live = {route_key(r.method, r.path) for r in live_routes(app)}
    return sorted((op.method, op.path) for key, op in BY_KEY.items() if key not in live)


def build_document(
    app: FastAPI,
    settings: Settings,
    *,
    session_cookie: str,
    include_unrouted: bool = False,
    reference_enabled: bool = True,
) -> dict[str, Any]:
    header_names = {
        "X-Auth-User-Id": settings.gateway_user_id_header,
        "X-Auth-User-Email": settings.gateway_user_email_header,
        "X-Auth-Session-Id": settings.gateway_session_id_header,
    }
    components: dict[str, Schema] = dict(COMPONENT_SCHEMAS)
    entries: dict[tuple[str, str], Schema] = {}
    for route in live_routes(app):
        operation = BY_KEY.get(route_key(route.method, route.path))
        if operation is None:
            generated = _from_fastapi(route, components)
            if generated is not None:
                entries[route.method, route.path] = generated
            continue
        if operation.tag == "Open API" and "reference" in route.path and not reference_enabled:
            continue
        entries[operation.method, operation.path] = _operation(
            operation, route.options, header_names
        )
    if include_unrouted:
        for operation in BY_KEY.values():
            entries.setdefault(
                (operation.method, operation.path), _operation(operation, None, header_names)
            )

    root_server = [{"url": settings.base_url, "description": "The service root"}]
    paths: dict[str, Schema] = {}
    for (method, path), entry in sorted(entries.items(), key=lambda item: item[0][1]):
        if is_auth_path(path):
            item = paths.setdefault(path[len(BASE_PATH) :] or "/", {})
        else:
            item = paths.setdefault(path, {"servers": root_server})
        item[method.lower()] = entry

    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Better Auth",
            "description": (
                f"auth-service {__version__}: Better Auth's REST API (core, JWT and bearer "
                "plugins) with the service's own gateway, probe and feature endpoints."
            ),
            "version": "1.1.0",
        },
        "servers": [{"url": settings.base_url + BASE_PATH}],
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "security": [{"apiKeyCookie": []}, {"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKeyCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": session_cookie,
                    "description": "The signed session cookie set by every sign-in.",
                },
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "The session token (`set-auth-token` header, or `token` of a sign-in "
                        "answer), signed or bare (bearer plugin)."
                    ),
                },
                "gatewayAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-gateway-auth",
                    "description": "API_GATEWAY_SECRET, sent by the gateway.",
                },
                "serviceAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-service-auth",
                    "description": "INTERNAL_SERVICE_SECRET, sent by internal services.",
                },
            },
        },
    }
