"""CORS for browser apps on CORS_ORIGINS (spec §8.1): exact origins with credentials,
preflights answered in front of Better Auth's routes, the auth headers exposed once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.auth_client import API, PASSWORD, api_client, sign_up, unique_email
from tests.support.server import LiveServer

APP = "http://app.example.test"
ADMIN = "http://admin.example.test"
EVIL = "http://evil.example.test"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@pytest.fixture(scope="module")
def cors_server(server_factory: Callable[..., LiveServer]) -> Iterator[LiveServer]:
    server = server_factory(
        env={
            "CORS_ORIGINS": f"{APP}, {ADMIN}/",
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_CUSTOM_RULES": json.dumps({"/limited": {"window": 60, "max": 1}}),
        }
    )
    yield server
    server.stop()


@pytest.fixture
def http(cors_server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(cors_server) as client:
        yield client


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def preflight(http: httpx.Client, origin: str, headers: str) -> httpx.Response:
    return http.options(
        f"{API}/sign-in/email",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": headers,
        },
    )


@pytest.mark.parametrize("origin", [APP, ADMIN])
def test_a_preflight_from_an_allowed_origin_is_answered(http: httpx.Client, origin: str) -> None:
    response = preflight(http, origin, "content-type, authorization, x-custom-header")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert allowed == METHODS
    assert (
        response.headers["access-control-allow-headers"]
        == "content-type, authorization, x-custom-header"
    )
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


def test_a_preflight_from_another_origin_gets_no_cors_headers(http: httpx.Client) -> None:
    response = preflight(http, EVIL, "content-type")
    assert response.status_code == 400
    assert cors_headers(response) == {}
    assert "Origin" in response.headers["vary"]


def test_a_credentialed_sign_in_from_an_allowed_origin_exposes_the_auth_headers(
    http: httpx.Client,
) -> None:
    email = unique_email("cors")
    sign_up(http, email=email, headers={"origin": APP})
    response = http.post(
        f"{API}/sign-in/email",
        json={"email": email, "password": PASSWORD},
        headers={"origin": APP, "cookie": "theme=dark"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["set-auth-token"]
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    # One header, each name once, although the bearer plugin added set-auth-token already.
    exposed = response.headers.get_list("access-control-expose-headers")
    assert len(exposed) == 1
    assert [name.strip() for name in exposed[0].split(",")] == ["set-auth-token", "set-auth-jwt"]
    assert response.headers.get_list("vary") == ["Origin"]


def test_another_origin_gets_no_cors_headers(http: httpx.Client) -> None:
    response = http.post(
        f"{API}/sign-in/email",
        json={"email": unique_email(), "password": PASSWORD},
        headers={"origin": EVIL, "cookie": "theme=dark"},
    )
    assert response.status_code == 403  # Better Auth's origin check, untouched by CORS
    assert cors_headers(response) == {}
    assert response.headers["vary"] == "Origin"


def test_simple_requests_from_an_allowed_origin_carry_cors_headers(http: httpx.Client) -> None:
    response = http.get(f"{API}/get-session", headers={"origin": ADMIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ADMIN
    assert response.headers["access-control-allow-credentials"] == "true"
    # Requests without Origin (servers, the gateway) get none.
    assert cors_headers(http.get(f"{API}/get-session")) == {}


def test_a_429_from_the_rate_limiter_carries_cors_headers(http: httpx.Client) -> None:
    headers = {"origin": APP, "x-forwarded-for": "198.18.250.1"}
    assert http.get(f"{API}/limited", headers=headers).status_code == 404
    limited = http.get(f"{API}/limited", headers=headers)
    assert limited.status_code == 429
    assert limited.headers["access-control-allow-origin"] == APP


def test_without_cors_origins_options_is_a_404_as_in_better_auth(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        response = preflight(client, APP, "content-type")
    assert response.status_code == 404
    assert response.content == b""
    assert cors_headers(response) == {}
