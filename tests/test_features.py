"""Feature modules: the shipped GET /api/me, and the discovery convention that mounts any
`features/<name>/routes.py` exporting `router` and `base_path`."""

from __future__ import annotations

import asyncio
import secrets
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from auth_service.features import FeatureError, discover_features, mount_features, route_table
from tests.support.auth_client import (
    API,
    SignedIn,
    api_client,
    hmac_signature,
    parse_js_date,
    sign_up,
)
from tests.support.server import LiveServer

UNAUTHORIZED = {"message": "Unauthorized", "code": "UNAUTHORIZED"}


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(live_server) as client:
        yield client


@pytest.fixture
def user(http: httpx.Client) -> SignedIn:
    return sign_up(http, name="Feature User")


# --------------------------------------------------------------------------- GET /api/me


def test_me_answers_the_user_and_session_for_a_cookie_or_a_bearer(
    http: httpx.Client, user: SignedIn
) -> None:
    current = http.get(f"{API}/get-session", headers={"cookie": user.cookie}).json()
    expected = {
        "user": current["user"],
        "session": {"id": current["session"]["id"], "expiresAt": current["session"]["expiresAt"]},
    }
    signed = f"{user.token}.{hmac_signature(user.token)}"

    for headers in (
        {"cookie": user.cookie},
        {"authorization": f"Bearer {signed}"},
        {"authorization": f"Bearer {quote(signed, safe='')}"},
        {"authorization": f"Bearer {user.token}"},
    ):
        response = http.get("/api/me", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body == expected
        assert list(body["session"]) == ["id", "expiresAt"]
        assert user.token not in response.text
        parse_js_date(body["session"]["expiresAt"])


def test_me_without_a_live_session_is_401(http: httpx.Client, user: SignedIn) -> None:
    for headers in (
        {},
        {"authorization": "Bearer not-a-real-token"},
        {"authorization": f"Bearer {user.token}.AAAA"},
        {"cookie": "better-auth.session_token=forged.value"},
    ):
        response = http.get("/api/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == UNAUTHORIZED


def test_me_after_sign_out_is_401(http: httpx.Client, live_server: LiveServer) -> None:
    user = sign_up(http)
    signed_out = http.post(
        f"{API}/sign-out", headers={"cookie": user.cookie, "origin": live_server.origin}
    )
    assert signed_out.status_code == 200

    assert http.get("/api/me", headers={"cookie": user.cookie}).status_code == 401


def test_the_start_up_log_lists_the_routes(live_server: LiveServer) -> None:
    log = live_server.log()
    assert "GET    /api/me\n" in log
    assert "GET    /api/auth/get-session" in log
    assert "POST   /api/auth/sign-in/email" in log


# --------------------------------------------------------------------------- discovery


@pytest.fixture
def features_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """An empty importable package `features_<hex>` (removed from sys.modules afterwards)."""
    package = f"features_{secrets.token_hex(4)}"
    root = tmp_path / package
    root.mkdir()
    (root / "__init__.py").write_text('"""Temporary features for a test."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root, package
    for name in [name for name in sys.modules if name.split(".")[0] == package]:
        del sys.modules[name]


def write_feature(root: Path, name: str, routes: str | None) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    if routes is not None:
        (folder / "routes.py").write_text(textwrap.dedent(routes))


HELLO = """
    from fastapi import APIRouter
    from starlette.responses import JSONResponse

    base_path = "/api/hello"
    router = APIRouter()


    @router.get("")
    async def hello() -> JSONResponse:
        return JSONResponse({"hello": "world"})


    @router.post("/echo")
    async def echo(body: dict[str, str]) -> JSONResponse:
        return JSONResponse(body)
"""


def call(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(run())


def test_a_new_feature_folder_is_discovered_and_mounted(features_dir: tuple[Path, str]) -> None:
    root, package = features_dir
    write_feature(root, "hello", HELLO)
    write_feature(root, "helpers", None)  # a package without routes.py: not a feature
    write_feature(root, "_private", "raise RuntimeError('never imported')\n")
    (root / "loose.py").write_text("raise RuntimeError('not a package')\n")

    features = discover_features(package)

    assert [(feature.name, feature.base_path) for feature in features] == [("hello", "/api/hello")]
    app = FastAPI()
    mount_features(app, features)
    assert call(app, "GET", "/api/hello").json() == {"hello": "world"}
    assert call(app, "POST", "/api/hello/echo", json={"a": "b"}).json() == {"a": "b"}
    assert {"GET    /api/hello", "POST   /api/hello/echo"} <= set(route_table(app))


def test_the_shipped_features_are_found() -> None:
    assert [(feature.name, feature.base_path) for feature in discover_features()] == [
        ("me", "/api/me")
    ]


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            "from fastapi import APIRouter\nrouter = APIRouter()\n",
            "{module} must export `router: APIRouter` and `base_path: str`",
        ),
        (
            "base_path = '/api/broken'\n",
            "{module} must export `router: APIRouter` and `base_path: str`",
        ),
        (
            "base_path = '/api/broken'\nrouter = 'not a router'\n",
            "{module} must export `router: APIRouter` and `base_path: str`",
        ),
        (
            "from fastapi import APIRouter\nrouter = APIRouter()\nbase_path = 'api/broken'\n",
            "{module}: base_path must look like '/api/name'",
        ),
        (
            "from fastapi import APIRouter\nrouter = APIRouter()\nbase_path = '/api/broken/'\n",
            "{module}: base_path must look like '/api/name'",
        ),
    ],
    ids=["no-base-path", "no-router", "router-not-a-router", "relative-path", "trailing-slash"],
)
def test_a_module_breaking_the_convention_is_a_clear_error(
    features_dir: tuple[Path, str], routes: str, message: str
) -> None:
    root, package = features_dir
    write_feature(root, "hello", HELLO)
    write_feature(root, "broken", routes)
    module = f"{package}.broken.routes"

    with pytest.raises(FeatureError) as raised:
        discover_features(package)

    assert str(raised.value) == message.format(module=module)


def test_an_import_error_inside_a_feature_is_not_hidden(features_dir: tuple[Path, str]) -> None:
    root, package = features_dir
    write_feature(root, "broken", "import a_module_that_does_not_exist_anywhere\n")

    with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist_anywhere"):
        discover_features(package)
