"""The OpenAPI document (GET /api/auth/open-api/generate-schema) and the offline reference page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import APIRouter
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from pydantic import BaseModel

from auth_service.app import create_app
from auth_service.auth.email_password.routes import SIGN_IN, SIGN_UP
from auth_service.openapi.catalog import route_key
from auth_service.openapi.document import build_document, uncatalogued, unrouted
from auth_service.openapi.inventory import live_routes
from auth_service.settings import Settings
from tests.support.server import LiveServer

SCHEMA = "/api/auth/open-api/generate-schema"
REFERENCE = "/api/auth/reference"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def document(live_server: LiveServer) -> dict[str, Any]:
    response = httpx.get(live_server.url + SCHEMA, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def app_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, base_url="http://127.0.0.1:3000")


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, full path, operation) of every operation, paths resolved against servers."""
    root = urlsplit(document["servers"][0]["url"]).path
    for path, item in document["paths"].items():
        prefix = urlsplit(item["servers"][0]["url"]).path if "servers" in item else root
        for method in METHODS:
            if method in item:
                yield method.upper(), prefix.rstrip("/") + path, item[method]


def test_document_is_valid_openapi_3_1(document: dict[str, Any], live_server: LiveServer) -> None:
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["openapi"] == "3.1.1"
    assert document["info"]["title"] == "Better Auth"
    assert document["info"]["version"] == "1.1.0"
    assert document["servers"] == [{"url": f"{live_server.url}/api/auth"}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKeyCookie"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "better-auth.session_token",
        "description": schemes["apiKeyCookie"]["description"],
    }
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["gatewayAuth"]["name"] == "x-gateway-auth"
    assert schemes["serviceAuth"]["name"] == "x-service-auth"
    for name in ("User", "Session", "Account", "Verification", "Error"):
        assert name in document["components"]["schemas"]


def test_every_route_of_the_app_is_documented(
    document: dict[str, Any], app_settings: Settings
) -> None:
    """A route added anywhere (auth, gateway, probes, features, fast path) must be in the
    document, and every route of the contract must have its own catalog entry."""
    app = create_app(app_settings)
    documented = {route_key(method, path) for method, path, _ in operations(document)}
    routes = {route_key(route.method, route.path) for route in live_routes(app)}
    assert routes, "no routes found: the inventory is broken"
    assert sorted(routes - documented) == []
    contract = [
        (method, path)
        for method, path in uncatalogued(app)
        if path.startswith(("/api/auth", "/api/internal")) or not path.startswith("/api/")
    ]
    assert contract == [], "add these to auth_service/openapi/catalog.py"
    # Endpoints of the catalog with no route (documented ahead of their code): none left.
    assert unrouted(app) == []
    # The fast path and any-method routes are included.
    assert ("GET", "/metrics") in routes
    assert ("DELETE", "/api/internal/forward-auth/{}") in routes
    assert ("GET", "/api/me") in documented


def test_a_route_without_catalog_entry_is_still_listed_and_reported(
    app_settings: Settings,
) -> None:
    """A new feature route is documented from its FastAPI declaration; a new /api/auth route
    without a catalog entry is named by `uncatalogued` (start-up warning, test above)."""

    class Order(BaseModel):
        id: str
        total: int

    app = create_app(app_settings)
    extra = APIRouter()

    @extra.get("/{order_id}", response_model=Order)
    async def one_order(order_id: str) -> Order:
        return Order(id=order_id, total=1)

    app.include_router(extra, prefix="/api/orders")
    app.include_router(extra, prefix="/api/auth/orders")
    document = build_document(app, app_settings, session_cookie="better-auth.session_token")
    validate(document, cls=OpenAPIV31SpecValidator)
    feature = document["paths"]["/api/orders/{order_id}"]
    assert feature["servers"] == [{"url": app_settings.base_url, "description": "The service root"}]
    assert feature["get"]["x-from-route"] is True
    assert feature["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Order"
    }
    assert "Order" in document["components"]["schemas"]
    assert "/orders/{order_id}" in document["paths"]
    assert uncatalogued(app) == [
        ("GET", "/api/auth/orders/{order_id}"),
        ("GET", "/api/orders/{order_id}"),
    ]


def test_the_whole_catalog_validates(app_settings: Settings) -> None:
    app = create_app(app_settings)
    full = build_document(
        app, app_settings, session_cookie="better-auth.session_token", include_unrouted=True
    )
    validate(full, cls=OpenAPIV31SpecValidator)


def _walk_refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_refs(value)


def _resolve(document: dict[str, Any], pointer: str) -> object:
    assert pointer.startswith("#/"), f"only local references are used: {pointer}"
    node: Any = document
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"unresolvable $ref {pointer}"
        assert part in node, f"unresolvable $ref {pointer}"
        node = node[part]
    return node


def test_refs_resolve_and_operation_ids_are_unique(document: dict[str, Any]) -> None:
    refs = set(_walk_refs(document))
    assert "#/components/schemas/User" in refs
    for pointer in refs:
        assert isinstance(_resolve(document, pointer), dict)
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", op_id) for op_id in ids), ids
    assert len(ids) == len(set(ids))


def _body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for op_method, op_path, op in operations(document):
        if (op_method, op_path) == (method, path):
            schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
            return schema
    raise AssertionError(f"{method} {path} not documented")


def test_request_bodies_come_from_the_route_fields(document: dict[str, Any]) -> None:
    sign_up = _body_schema(document, "POST", "/api/auth/sign-up/email")
    assert list(sign_up["properties"]) == [field.name for field in SIGN_UP]
    assert sign_up["required"] == [field.name for field in SIGN_UP if not field.optional]
    assert sign_up["properties"]["rememberMe"] == {"type": "boolean"}
    assert sign_up["properties"]["password"]["minLength"] == 1
    sign_in = _body_schema(document, "POST", "/api/auth/sign-in/email")
    assert list(sign_in["properties"]) == [field.name for field in SIGN_IN]
    update_user = _body_schema(document, "POST", "/api/auth/update-user")
    assert update_user["properties"]["image"]["type"] == ["string", "null"]


def test_security_errors_and_tags(document: dict[str, Any]) -> None:
    ops = {(method, path): op for method, path, op in operations(document)}
    sign_in = ops["POST", "/api/auth/sign-in/email"]
    assert sign_in["security"] == []
    assert sign_in["tags"] == ["Default"]
    assert set(sign_in["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    for status in ("400", "401", "403", "415", "429"):
        schema = sign_in["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    list_sessions = ops["GET", "/api/auth/list-sessions"]
    assert list_sessions["security"] == [{"apiKeyCookie": []}, {"bearerAuth": []}]
    assert {"401", "403"} <= set(list_sessions["responses"])
    assert ops["GET", "/api/auth/token"]["tags"] == ["Jwt"]
    assert ops["POST", "/api/internal/validate"]["security"] == [{"gatewayAuth": []}]
    assert ops["GET", "/api/internal/user"]["security"] == [{"serviceAuth": []}]
    get_session = ops["GET", "/api/auth/get-session"]
    assert get_session["responses"]["200"]["content"]["application/json"]["schema"]["type"] == [
        "object",
        "null",
    ]


def test_fastapi_own_schema_and_docs_are_not_exposed(client: httpx.Client) -> None:
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404


def test_reference_page_is_self_contained(client: httpx.Client, live_server: LiveServer) -> None:
    page = client.get(REFERENCE)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    sources = re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text)
    assert sources
    assert all(source.startswith("/api/auth/") for source in sources), sources
    assert "<script>" not in page.text  # nothing inline: the policy would refuse it
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
    script = client.get("/api/auth/reference/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert len(script.content) > 500_000
    assert (
        client.get("/api/auth/reference/assets/swagger-ui.css")
        .headers["content-type"]
        .startswith("text/css")
    )
    for missing in ("index.html", "..%2Fpyproject.toml", "swagger-ui.js.map", "nope.js"):
        assert client.get(f"/api/auth/reference/assets/{missing}").status_code == 404


def test_switches(server_factory: Callable[..., LiveServer]) -> None:
    off = server_factory(env={"OPENAPI_ENABLED": "false"})
    with off.client() as http:
        assert http.get(SCHEMA).status_code == 404
        assert http.get(REFERENCE).status_code == 404
        assert http.get(REFERENCE + "/assets/swagger-ui.css").status_code == 404
    production = server_factory(env={"ENVIRONMENT": "production"})
    with production.client() as http:
        assert http.get(SCHEMA).status_code == 200
        assert http.get(REFERENCE).status_code == 404  # off in production unless enabled
        document = http.get(SCHEMA).json()
        assert "/reference" not in document["paths"]


def test_reference_page_renders_offline_in_chromium(live_server: LiveServer) -> None:
    from selenium import webdriver  # noqa: PLC0415 - only this test needs a browser
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support import expected_conditions  # noqa: PLC0415
    from selenium.webdriver.support.wait import WebDriverWait  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Every host but the service's is unresolvable: the page must need nothing else.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "chromedriver"), options=options
    )
    try:
        driver.set_page_load_timeout(60)
        driver.get(live_server.url + REFERENCE)
        WebDriverWait(driver, 60).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock"))
        )
        text = driver.find_element(By.ID, "swagger-ui").text
        for path in ("/sign-in/email", "/get-session", "/jwks", "/api/internal/validate"):
            assert path in text, path
        blocks = driver.find_elements(By.CSS_SELECTOR, ".opblock")
        assert len(blocks) >= 40
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([location.href]);"
        )
        own = urlsplit(live_server.url).netloc
        assert urls
        assert all(urlsplit(url).netloc == own for url in urls), urls
        assert any(url.endswith("/open-api/generate-schema") for url in urls)
        problems = [
            entry["message"]
            for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
        ]
        assert problems == []
    finally:
        driver.quit()
