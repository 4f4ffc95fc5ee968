"""GET /ok and GET /error."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from auth_service.auth.deps import Ctx
from auth_service.auth.http import json_response
from auth_service.auth.queued_cookies import AuthRoute

router = APIRouter(route_class=AuthRoute)


@router.get("/ok")
async def ok() -> Response:
    return json_response({"ok": True})


@router.get("/error")
async def error_page(request: Request, ctx: Ctx) -> Response:
    code = request.query_params.get("error", "UNKNOWN")
    description = request.query_params.get("error_description", "")
    if ctx.settings.is_production:
        query = {"error": code}
        if description:
            query["error_description"] = description
        return RedirectResponse(f"/?{urlencode(query)}", status_code=302)
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Authentication error</title>"
        "</head><body><h1>Authentication error</h1>"
        f"<p>Code: <code>{html.escape(code)}</code></p>"
        f"<p>{html.escape(description)}</p></body></html>"
    )
    return HTMLResponse(body)
