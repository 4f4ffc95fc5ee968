"""x-request-id on every response; JSON log lines in production, with no secret in them."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.auth_client import API, session_cookie, unique_email
from tests.support.postgres import PrivatePostgres, create_database
from tests.support.server import LiveServer

GENERATED = re.compile(r"^[0-9a-f]{16}$")


def test_a_request_id_is_generated_for_every_response(client: httpx.Client) -> None:
    seen = set()
    for path in ("/health", "/ready", "/api/auth/ok", "/nowhere"):
        request_id = client.get(path).headers["x-request-id"]
        assert GENERATED.match(request_id), request_id
        seen.add(request_id)
    assert len(seen) == 4
    preflight = client.options(
        f"{API}/get-session",
        headers={"origin": "http://elsewhere.example", "access-control-request-method": "GET"},
    )
    assert GENERATED.match(preflight.headers["x-request-id"])


@pytest.mark.parametrize(
    "incoming", ["abc-123", "A.b_c-9", "x" * 128, "7f3c2a10-6d1e-4b8e-9a7c-2f4d5e6a7b8c"]
)
def test_a_valid_incoming_request_id_is_echoed(client: httpx.Client, incoming: str) -> None:
    for path in ("/health", "/api/auth/ok", "/nowhere"):
        response = client.get(path, headers={"x-request-id": incoming})
        assert response.headers.get_list("x-request-id") == [incoming]


@pytest.mark.parametrize("incoming", ["x" * 129, "has space", "semi;colon", "ümlaut", "a/b", ""])
def test_an_invalid_incoming_request_id_is_replaced(client: httpx.Client, incoming: str) -> None:
    response = client.get("/health", headers={"x-request-id": incoming.encode()})
    assert response.headers.get_list("x-request-id") != [incoming]
    assert GENERATED.match(response.headers["x-request-id"])


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pgdata")
    yield server
    server.close()


def test_production_logs_are_json_lines_with_the_request_id_and_no_secret(
    private_postgres: PrivatePostgres, server_factory: Callable[..., LiveServer]
) -> None:
    secret = secrets.token_urlsafe(48)
    password = "pw-" + secrets.token_hex(12)
    url = create_database(private_postgres.as_server(), "logs")
    server = server_factory(
        env={
            "ENVIRONMENT": "production",
            "BETTER_AUTH_SECRET": secret,
            "DB_TIMEOUT_SECONDS": "2",
            "RATE_LIMIT_STORAGE": "memory",
        },
        database=url,
    )
    email = unique_email("logs")
    with server.client() as http:
        origin = {"origin": server.url}
        signed_up = http.post(
            f"{API}/sign-up/email",
            json={"name": "Logs", "email": email, "password": password},
            headers=origin,
        )
        assert signed_up.status_code == 200, signed_up.text
        signed_in = http.post(
            f"{API}/sign-in/email", json={"email": email, "password": password}, headers=origin
        )
        assert signed_in.status_code == 200
        token = signed_in.json()["token"]
        cookie = session_cookie(token, secret=secret)
        assert http.get(f"{API}/get-session", headers={"cookie": cookie}).status_code == 200

        private_postgres.stop()
        request_id = "outage-" + secrets.token_hex(4)
        during = http.get(
            f"{API}/get-session", headers={"cookie": cookie, "x-request-id": request_id}
        )
        assert during.status_code == 503
        assert during.headers["x-request-id"] == request_id

    server.stop()
    text = server.log()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    outage = [r for r in records if "database unavailable" in r["message"]]
    assert outage, text
    assert outage[0]["level"] == "WARNING"
    assert outage[0]["request_id"] == request_id
    for value in (secret, password, token, cookie.split("=", 1)[1]):
        assert value not in text
