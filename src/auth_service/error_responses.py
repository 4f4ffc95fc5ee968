"""How exceptions become responses: Better Auth's error bodies, 503 for database faults.

Used by the application's exception handlers and by the fast path alike, so an error looks
the same whichever way the request went.
"""

from __future__ import annotations

import logging

import asyncpg
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.http import add_cookies, json_response
from auth_service.auth.router import BASE_PATH
from auth_service.core.errors import APIError, ErrorCode
from auth_service.db.engine import is_database_fault

log = logging.getLogger("auth_service")


def api_error_response(exc: APIError) -> Response:
    body = exc.body()
    if body is None:
        response = Response(status_code=exc.status)
        add_cookies(response, exc.cookies)
        return response
    return json_response(body, status=exc.status, cookies=exc.cookies)


async def api_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return api_error_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(BASE_PATH + "/") or request.url.path == BASE_PATH:
        # Better Auth answers unknown paths and wrong methods with an empty 404.
        return Response(status_code=404)
    if exc.status_code in (404, 405):
        return json_response({"message": "Not Found", "code": "NOT_FOUND"}, status=404)
    return json_response({"message": str(exc.detail), "code": "HTTP_ERROR"}, status=exc.status_code)


def _is_rejected_input(exc: Exception) -> bool:
    return isinstance(exc, asyncpg.DataError) or (
        isinstance(exc, DBAPIError) and isinstance(exc.orig, asyncpg.DataError)
    )


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    if _is_rejected_input(exc):
        # Input PostgreSQL cannot store (a NUL byte, an out-of-range value): the client's fault.
        return json_response(
            {"message": "Invalid input: the value cannot be stored", "code": "BAD_REQUEST"},
            status=400,
        )
    if is_database_fault(exc):
        log.warning(
            "database unavailable during %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        return json_response(
            {"message": ErrorCode.SERVICE_UNAVAILABLE.message, "code": "SERVICE_UNAVAILABLE"},
            status=503,
            headers={"retry-after": "1"},
        )
    log.exception("unhandled error during %s %s", request.method, request.url.path)
    return json_response(
        {"message": "Internal Server Error", "code": "INTERNAL_SERVER_ERROR"}, status=500
    )


async def error_response(request: Request, exc: Exception) -> Response:
    """Any exception as the response the application's handlers would give."""
    if isinstance(exc, APIError):
        return api_error_response(exc)
    if isinstance(exc, StarletteHTTPException):
        return await http_error_handler(request, exc)
    return await unexpected_error_handler(request, exc)
