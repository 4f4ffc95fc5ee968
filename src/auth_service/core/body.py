"""Reading request bodies as Better Auth does: JSON, and form bodies where allowed."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.validation import NO_BODY

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_UTF8_BOM = b"\xef\xbb\xbf"


async def read_body(request: Request, *, allow_form: bool = False) -> Any:
    """The parsed body, or NO_BODY when the request has none."""
    raw = await request.body()
    if not raw:
        return NO_BODY
    allowed = [FORM, JSON] if allow_form else [JSON]
    content_type = request.headers.get("content-type")
    if not content_type:
        raise APIError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type is required. Allowed types: {', '.join(allowed)}",
        )
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in allowed:
        # Better Auth quotes the header as sent, parameters and case included.
        raise APIError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f'Content-Type "{content_type}" is not allowed. Allowed types: {", ".join(allowed)}',
        )
    if media_type == FORM:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise APIError(400, ErrorCode.BAD_REQUEST, "Invalid form body") from exc
        return dict(parse_qsl(text, keep_blank_values=True))
    if raw.startswith(_UTF8_BOM):  # fetch's Request.json() drops a leading BOM
        raw = raw[len(_UTF8_BOM) :]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, "BAD_REQUEST", "Invalid JSON in request body") from exc
