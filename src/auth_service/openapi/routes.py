"""GET /open-api/generate-schema, GET /reference and the reference page's own assets.

The page is Swagger UI (the `swagger-ui-bundle-v2` wheel: Swagger UI 5, which reads OpenAPI
3.1) served entirely by this service: no CDN, and a Content-Security-Policy that allows no
other origin, so it works offline and cannot leak anything to a third party.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from importlib.resources import files
from pathlib import Path

import orjson
from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.context import AuthContext
from auth_service.auth.router import BASE_PATH
from auth_service.openapi.document import build_document, is_auth_path, uncatalogued
from auth_service.settings import Settings

log = logging.getLogger("auth_service.openapi")

SCHEMA_PATH = "/open-api/generate-schema"
REFERENCE_PATH = "/reference"
ASSETS_PATH = f"{REFERENCE_PATH}/assets"
# The files of the Swagger UI distribution the page needs (nothing else is served).
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
INITIALIZER = "reference.js"
ASSET_CACHE = "public, max-age=86400"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>auth-service API reference</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-schema-url="{schema}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/reference.js"></script>
</body>
</html>
"""
# Inline scripts are refused by the page's policy, so the start-up code is a file as well.
_INITIALIZER = """"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-schema-url"),
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""


def reference_enabled(settings: Settings) -> bool:
    """The page: OPENAPI_REFERENCE_ENABLED, else on outside production; never without the
    document it shows."""
    if not settings.openapi_enabled:
        return False
    if settings.openapi_reference_enabled is not None:
        return settings.openapi_reference_enabled
    return not settings.is_production


def page_policy(settings: Settings) -> str:
    """Same-origin only. Swagger UI sets inline style attributes; `connect-src` also admits the
    service's public origin, where "Try it out" sends requests."""
    connect = "'self'" if settings.base_origin in ("", None) else f"'self' {settings.base_origin}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self'; connect-src {connect}; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


@cache
def swagger_ui_dir() -> Path:
    """The Swagger UI distribution inside the `swagger-ui-bundle-v2` wheel (vendor/swagger-ui-*)."""
    vendor = Path(str(files("swagger_ui_bundle") / "vendor"))
    return next(path for path in sorted(vendor.iterdir()) if path.name.startswith("swagger-ui-"))


@cache
def _asset(name: str) -> tuple[bytes, str] | None:
    if name == INITIALIZER:
        return _INITIALIZER.encode(), "text/javascript; charset=utf-8"
    if name not in SWAGGER_FILES:
        return None
    path = swagger_ui_dir() / name
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    return path.read_bytes(), media_type


def _not_found() -> Response:
    return Response(status_code=404)  # as Better Auth's unknown paths


def document_bytes(app: FastAPI) -> bytes:
    """The document, built once per application (its routes are fixed after start-up)."""
    cached: bytes | None = getattr(app.state, "openapi_document", None)
    if cached is None:
        settings: Settings = app.state.settings
        ctx: AuthContext = app.state.auth
        document = build_document(
            app,
            settings,
            session_cookie=ctx.cookies.session_token,
            reference_enabled=reference_enabled(settings),
        )
        cached = orjson.dumps(document)
        app.state.openapi_document = cached
    return cached


@asynccontextmanager
async def _check_coverage(app: FastAPI) -> AsyncIterator[None]:
    """Say at start-up which routes the catalog does not describe (they are still listed)."""
    missing = [
        f"{method} {path}"
        for method, path in uncatalogued(app)
        if is_auth_path(path) or path.startswith("/api/internal")
    ]
    if missing:
        log.warning(
            "OpenAPI: no catalog entry (auth_service/openapi/catalog.py) for %s",
            ", ".join(missing),
        )
    yield


router = APIRouter(lifespan=_check_coverage)


@router.get(SCHEMA_PATH)
async def generate_schema(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not settings.openapi_enabled:
        return _not_found()
    return Response(
        document_bytes(request.app),
        media_type="application/json",
        headers={"cache-control": "no-cache"},
    )


@router.get(REFERENCE_PATH)
async def reference_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not reference_enabled(settings):
        return _not_found()
    page = _PAGE.format(assets=BASE_PATH + ASSETS_PATH, schema=BASE_PATH + SCHEMA_PATH)
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"content-security-policy": page_policy(settings), "cache-control": "no-cache"},
    )


@router.get(ASSETS_PATH + "/{name}")
async def reference_asset(request: Request, name: str) -> Response:
    settings: Settings = request.app.state.settings
    asset = _asset(name) if reference_enabled(settings) else None
    if asset is None:
        return _not_found()
    content, media_type = asset
    return Response(content, media_type=media_type, headers={"cache-control": ASSET_CACHE})
