"""Routing under /api/auth: strict paths and methods answered by an empty 404, /ok and /error."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.auth_client import API, api_client
from tests.support.server import LiveServer


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


def _assert_empty_404(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.content == b""
    assert response.headers.get_list("set-cookie") == []


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "",
        "/",
        "/OK",
        "/sign-in",
        "/sign-in/",
        "/set-password",
        "/sign-in/email/extra",
    ],
    ids=[
        "unknown",
        "base",
        "base-slash",
        "wrong-case",
        "prefix-only",
        "prefix-slash",
        "server-only-set-password",
        "deeper",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_paths_are_an_empty_404(api: httpx.Client, method: str, path: str) -> None:
    _assert_empty_404(api.request(method, f"{API}{path}", json={} if method == "POST" else None))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        # POST /forget-password is an alias of /request-password-reset (old clients); GET is not.
        ("GET", "/forget-password"),
        ("GET", "/sign-out"),
        ("GET", "/sign-in/email"),
        ("GET", "/sign-up/email"),
        ("GET", "/update-user"),
        ("POST", "/ok"),
        ("POST", "/list-sessions"),
        ("POST", "/error"),
        ("PUT", "/sign-out"),
        ("PATCH", "/update-user"),
        ("DELETE", "/get-session"),
        ("OPTIONS", "/sign-in/email"),
        ("HEAD", "/ok"),
    ],
)
def test_a_wrong_method_is_an_empty_404_not_405(api: httpx.Client, method: str, path: str) -> None:
    _assert_empty_404(api.request(method, f"{API}{path}"))


@pytest.mark.parametrize(
    "path",
    ["/ok/", "/get-session/", "/sign-in/email/", "//ok", "//get-session", "/sign-in//email"],
    ids=[
        "ok-slash",
        "get-session-slash",
        "sign-in-slash",
        "double-slash-ok",
        "double-slash-get-session",
        "inner-double-slash",
    ],
)
def test_trailing_and_double_slashes_are_an_empty_404(api: httpx.Client, path: str) -> None:
    method = "POST" if "sign-in" in path else "GET"
    _assert_empty_404(
        api.request(
            method,
            f"{API}{path}",
            json={"email": "a@example.com", "password": "password-1"} if method == "POST" else None,
        )
    )


def test_ok_answers_ok_true(api: httpx.Client) -> None:
    for path in (f"{API}/ok", f"{API}/ok?probe=1"):
        response = api.get(path)

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == b'{"ok":true}'


def test_error_page_is_html_in_development(api: httpx.Client) -> None:
    response = api.get(
        f"{API}/error",
        params={"error": "state_mismatch", "error_description": "The state did not match"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "state_mismatch" in response.text
    assert "The state did not match" in response.text


def test_error_page_escapes_what_it_echoes(api: httpx.Client) -> None:
    response = api.get(
        f"{API}/error",
        params={"error": "<script>alert(1)</script>", "error_description": "<img src=x onerror=1>"},
    )

    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "<img src=x" not in response.text
    assert "&lt;script&gt;" in response.text


def test_error_page_without_parameters_is_still_a_page(api: httpx.Client) -> None:
    response = api.get(f"{API}/error")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
