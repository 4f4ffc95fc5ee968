"""A database written by the REAL Better Auth works unchanged with our server, and back.

tests/interop/seed_better_auth_db.mjs runs better-auth 1.7.25 itself (betterAuth() on a pg
Pool, i.e. its built-in Kysely adapter):

- camelCase: Better Auth's own migrator (`getMigrations`, what `npx auth migrate` runs)
  creates its schema (quoted camelCase columns, timestamptz); it signs up two users; our
  server (DB_NAMING=camelCase, same secret) must read their cookies and scrypt hashes, and
  Better Auth must read the sessions and rows that our server writes.
- snake_case: our own migrations create the Drizzle-CLI layout, Better Auth writes to it
  through its `*.fields` mapping, and our server (default naming) reads it.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from auth_service.db import migrate as migrations
from auth_service.db.schema import Naming
from tests.conftest import TEST_SECRET
from tests.support.npm import ensure_interop_node_modules, run_node_json
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.server import LiveServer

SEEDER = "seed_better_auth_db.mjs"
SEED_BASE_URL = "http://127.0.0.1:3000"  # only decides the cookie prefix (none on http)
COOKIE = "better-auth.session_token"
ID_RE = re.compile(r"^[A-Za-z0-9]{32}$")
SCRYPT_RE = re.compile(r"^[0-9a-f]{32}:[0-9a-f]{128}$")
# Kysely + pg write JS Dates into `timestamp without time zone` columns in the Node process's
# local time (Drizzle writes UTC), so Better Auth on the Drizzle layout must run in UTC.
NODE_ENV = {"TZ": "UTC"}


@dataclass(frozen=True)
class SeededDatabase:
    name: str
    url: str
    dsn: str
    migration: dict[str, Any]
    users: list[dict[str, Any]]
    naming: str

    def better_auth_check(
        self,
        *,
        cookies: Sequence[str] = (),
        sign_ins: Sequence[dict[str, str]] = (),
    ) -> dict[str, Any]:
        """Ask the real Better Auth (same secret, same database) to read cookies / sign in."""
        payload = json.dumps({"cookies": list(cookies), "signIns": list(sign_ins)})
        result: dict[str, Any] = run_node_json(
            SEEDER,
            self.url,
            TEST_SECRET,
            SEED_BASE_URL,
            "--naming",
            self.naming,
            "--check",
            payload,
            env=NODE_ENV,
        )
        return result


def _query(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [dict(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def _seed(postgres: PostgresServer, naming: str) -> Iterator[SeededDatabase]:
    ensure_interop_node_modules()
    name = f"ba_{naming.lower()}_{secrets.token_hex(4)}"
    # camelCase: an empty database that Better Auth's migrator fills;
    # snake_case: our migrations create the schema and Better Auth only writes rows.
    url = create_database(postgres, name, migrate=naming == "snake_case")
    args = ["--naming", naming] + (["--no-migrate"] if naming == "snake_case" else [])
    try:
        seeded = run_node_json(SEEDER, url, TEST_SECRET, SEED_BASE_URL, *args, env=NODE_ENV)
        if naming == "camelCase":
            # Adopting a Better Auth database: our migration keeps its tables as they are and
            # adds what our plugins need (jwks, rateLimit), in its naming.
            migrations.upgrade(url, Naming(preset="camelCase"))
        yield SeededDatabase(
            name=name,
            url=url,
            dsn=postgres.asyncpg_dsn(name),
            migration=seeded["migration"],
            users=seeded["users"],
            naming=naming,
        )
    finally:
        drop_database(postgres, name)


@pytest.fixture(scope="module")
def camel_db(postgres: PostgresServer) -> Iterator[SeededDatabase]:
    yield from _seed(postgres, "camelCase")


@pytest.fixture(scope="module")
def snake_db(postgres: PostgresServer) -> Iterator[SeededDatabase]:
    yield from _seed(postgres, "snake_case")


@pytest.fixture(scope="module")
def camel_server(camel_db: SeededDatabase, server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory(env={"DB_NAMING": "camelCase"}, database=camel_db.url)


@pytest.fixture(scope="module")
def snake_server(snake_db: SeededDatabase, server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory(env={"DB_NAMING": "snake_case"}, database=snake_db.url)


def _get_session(server: LiveServer, cookie_value: str) -> httpx.Response:
    with server.client() as http:
        return http.get("/api/auth/get-session", headers={"cookie": f"{COOKIE}={cookie_value}"})


def _post(server: LiveServer, path: str, body: dict[str, Any]) -> httpx.Response:
    with server.client() as http:
        return http.post(f"/api/auth{path}", json=body, headers={"origin": server.url})


def _session_cookie(response: httpx.Response) -> str:
    for line in response.headers.get_list("set-cookie"):
        pair = line.split(";", 1)[0]
        name, _, value = pair.partition("=")
        if name == COOKIE and value:
            return value
    raise AssertionError(f"no {COOKIE} in {response.headers.get_list('set-cookie')}")


def _assert_recent(value: datetime) -> None:
    """A timestamptz read back as aware UTC, or a `timestamp` as naive UTC: within a minute."""
    now = datetime.now(UTC)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    assert abs(now - aware) < timedelta(minutes=1), (value, now)


# --- camelCase: the schema of Better Auth's own migrator ------------------------------------


def test_better_auth_migrator_made_the_camel_case_schema(camel_db: SeededDatabase) -> None:
    assert camel_db.migration["ran"] is True
    assert sorted(camel_db.migration["toBeCreated"]) == [
        "account",
        "session",
        "user",
        "verification",
    ]
    columns = {
        (row["table_name"], row["column_name"]): row["data_type"]
        for row in _query(
            camel_db.dsn,
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'public'",
        )
    }
    assert columns[("user", "emailVerified")] == "boolean"
    assert columns[("session", "expiresAt")] == "timestamp with time zone"
    assert columns[("account", "userId")] == "text"
    # Better Auth made no jwks / rateLimit table (no jwt plugin, memory rate limits); adopting
    # the database with our migration added them, in the same naming, and left the rest alone.
    assert {table for table, _ in columns} == {
        "user",
        "session",
        "account",
        "verification",
        "jwks",
        "rateLimit",
        "alembic_version",
    }
    assert columns[("jwks", "publicKey")] == "text"
    assert columns[("rateLimit", "lastRequest")] == "bigint"


def test_better_auth_cookie_is_accepted(camel_db: SeededDatabase, camel_server: LiveServer) -> None:
    seeded = camel_db.users[0]
    response = _get_session(camel_server, seeded["cookieValue"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == seeded["userId"]
    assert body["user"]["email"] == seeded["email"]
    assert body["user"]["name"] == seeded["name"]
    assert body["user"]["emailVerified"] is False
    assert body["session"]["token"] == seeded["sessionToken"]
    assert body["session"]["userId"] == seeded["userId"]
    assert body["session"]["userAgent"] == "better-auth-seeder"
    assert body["session"]["expiresAt"].endswith("Z")
    assert response.headers.get_list("set-cookie") == []  # fresh session: nothing to refresh


def test_better_auth_scrypt_password_signs_in_and_is_rehashed(
    camel_db: SeededDatabase, camel_server: LiveServer
) -> None:
    seeded = camel_db.users[1]
    query = 'select password from account where "userId" = $1 and "providerId" = \'credential\''
    [before] = _query(camel_db.dsn, query, seeded["userId"])
    assert SCRYPT_RE.match(before["password"])  # Better Auth's own hash

    wrong = _post(
        camel_server, "/sign-in/email", {"email": seeded["email"], "password": "not the password"}
    )
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["code"] == "INVALID_EMAIL_OR_PASSWORD"
    assert _query(camel_db.dsn, query, seeded["userId"]) == [before]

    ok = _post(
        camel_server, "/sign-in/email", {"email": seeded["email"], "password": seeded["password"]}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["id"] == seeded["userId"]
    [after] = _query(camel_db.dsn, query, seeded["userId"])
    assert after["password"].startswith("$argon2id$")  # rehashed with the default algorithm

    again = _post(
        camel_server, "/sign-in/email", {"email": seeded["email"], "password": seeded["password"]}
    )
    assert again.status_code == 200, again.text
    me = _get_session(camel_server, _session_cookie(again))
    assert me.json()["user"]["id"] == seeded["userId"]


def test_sign_up_writes_better_auth_row_shapes(
    camel_db: SeededDatabase, camel_server: LiveServer
) -> None:
    email = f"ours-{secrets.token_hex(4)}@example.com"
    response = _post(
        camel_server,
        "/sign-up/email",
        {"email": email, "password": "our password 1", "name": "Ours"},
    )
    assert response.status_code == 200, response.text
    user_id = response.json()["user"]["id"]
    assert ID_RE.match(user_id)

    [user] = _query(camel_db.dsn, 'select * from "user" where id = $1', user_id)
    assert user["email"] == email
    assert user["emailVerified"] is False
    _assert_recent(user["createdAt"])
    assert user["createdAt"].tzinfo is not None  # timestamptz

    [account] = _query(camel_db.dsn, 'select * from account where "userId" = $1', user_id)
    assert ID_RE.match(account["id"])
    assert account["accountId"] == user_id
    assert account["providerId"] == "credential"
    assert account["password"].startswith("$argon2id$")
    _assert_recent(account["updatedAt"])

    [session] = _query(camel_db.dsn, 'select * from session where "userId" = $1', user_id)
    assert ID_RE.match(session["id"])
    assert re.fullmatch(r"[A-Za-z0-9]{32}", session["token"])
    assert _session_cookie(response).startswith(session["token"] + ".")
    assert session["expiresAt"] - session["createdAt"] == timedelta(days=7)

    # Better Auth and our sign-ups share the same user table and e-mail uniqueness.
    taken = _post(
        camel_server,
        "/sign-up/email",
        {"email": camel_db.users[0]["email"], "password": "another password", "name": "Dup"},
    )
    assert taken.status_code == 422, taken.text


def test_better_auth_reads_sessions_we_create(
    camel_db: SeededDatabase, camel_server: LiveServer
) -> None:
    seeded = camel_db.users[0]
    signed_in = _post(
        camel_server, "/sign-in/email", {"email": seeded["email"], "password": seeded["password"]}
    )
    assert signed_in.status_code == 200, signed_in.text
    email = f"ours-{secrets.token_hex(4)}@example.com"
    signed_up = _post(
        camel_server, "/sign-up/email", {"email": email, "password": "our password 2", "name": "O"}
    )
    assert signed_up.status_code == 200, signed_up.text

    result = camel_db.better_auth_check(
        cookies=[f"{COOKIE}={_session_cookie(signed_in)}", f"{COOKIE}={_session_cookie(signed_up)}"]
    )
    first, second = result["sessions"]
    assert first is not None, "Better Auth rejected a session cookie we issued"
    assert first["user"]["id"] == seeded["userId"]
    assert first["session"]["token"] == signed_in.json()["token"]
    assert second is not None
    assert second["user"]["email"] == email
    assert second["session"]["token"] == signed_up.json()["token"]


def test_better_auth_verifies_scrypt_hashes_we_write(
    camel_db: SeededDatabase, server_factory: Callable[..., LiveServer]
) -> None:
    """With PASSWORD_ALGORITHM=scrypt our users can still sign in on the real Better Auth;
    argon2id hashes (the default) it cannot verify: switching back needs a password reset."""
    server = server_factory(
        env={"DB_NAMING": "camelCase", "PASSWORD_ALGORITHM": "scrypt"}, database=camel_db.url
    )
    email = f"scrypt-{secrets.token_hex(4)}@example.com"
    password = "scrypt password ﬁne"  # the ligature ﬁ: NFKC makes it "fi" on both sides
    response = _post(server, "/sign-up/email", {"email": email, "password": password, "name": "S"})
    assert response.status_code == 200, response.text
    [row] = _query(
        camel_db.dsn,
        'select password from account where "userId" = $1',
        response.json()["user"]["id"],
    )
    assert SCRYPT_RE.match(row["password"])

    rehashed = camel_db.users[1]  # signed in on our argon2id server above
    result = camel_db.better_auth_check(
        sign_ins=[
            {"email": email, "password": password},
            {"email": email, "password": "scrypt password fine"},  # NFKC of the above
            {"email": email, "password": "wrong password"},
            {"email": rehashed["email"], "password": rehashed["password"]},
        ]
    )
    ours, nfkc, wrong, argon2 = result["signIns"]
    assert ours["ok"] is True, ours
    assert ours["userId"] == response.json()["user"]["id"]
    assert nfkc["ok"] is True, nfkc
    assert wrong == {
        "ok": False,
        "status": 401,
        "code": "INVALID_EMAIL_OR_PASSWORD",
        "message": wrong["message"],
    }
    assert argon2["ok"] is False  # Better Auth's scrypt verifier throws on an argon2id hash


# --- snake_case: our migrations (the Drizzle CLI layout), rows written by Better Auth -------


def test_better_auth_accepts_our_snake_case_schema(snake_db: SeededDatabase) -> None:
    # Better Auth's own migrator, with the snake_case field mapping, finds nothing to add.
    assert snake_db.migration["toBeCreated"] == []
    assert snake_db.migration["toBeAdded"] == []
    assert snake_db.migration["schemaProblems"] == []
    assert snake_db.migration["ran"] is False
    [account] = _query(
        snake_db.dsn, "select * from account where user_id = $1", snake_db.users[0]["userId"]
    )
    assert account["account_id"] == snake_db.users[0]["userId"]
    assert SCRYPT_RE.match(account["password"])
    _assert_recent(account["created_at"])  # naive UTC, as Drizzle stores it
    assert account["created_at"].tzinfo is None


def test_snake_case_better_auth_rows_work_both_ways(
    snake_db: SeededDatabase, snake_server: LiveServer
) -> None:
    first, second = snake_db.users
    response = _get_session(snake_server, first["cookieValue"])
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == first["userId"]
    assert response.json()["session"]["token"] == first["sessionToken"]
    created = datetime.fromisoformat(response.json()["session"]["createdAt"])
    _assert_recent(created)  # no time-zone shift between Node's writes and our reads

    wrong = _post(
        snake_server, "/sign-in/email", {"email": second["email"], "password": "nope nope"}
    )
    assert wrong.status_code == 401, wrong.text
    signed_in = _post(
        snake_server, "/sign-in/email", {"email": second["email"], "password": second["password"]}
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["id"] == second["userId"]

    result = snake_db.better_auth_check(cookies=[f"{COOKIE}={_session_cookie(signed_in)}"])
    [session] = result["sessions"]
    assert session is not None, "Better Auth rejected a session cookie we issued"
    assert session["user"]["id"] == second["userId"]
    assert session["session"]["token"] == signed_in.json()["token"]


def test_every_core_endpoint_works_on_the_camel_case_schema(
    camel_db: SeededDatabase, camel_server: LiveServer
) -> None:
    """Reads that return whole rows (list-sessions, update-user, the JWKS) use logical keys."""
    seeded = camel_db.users[1]
    cookie = {"cookie": f"{COOKIE}={seeded['cookieValue']}", "origin": camel_server.url}
    with camel_server.client() as http:
        listed = http.get("/api/auth/list-sessions", headers=cookie)
        assert listed.status_code == 200, listed.text
        assert seeded["sessionToken"] in [s["token"] for s in listed.json()]
        assert all(s["userId"] == seeded["userId"] for s in listed.json())
        updated = http.post("/api/auth/update-user", json={"name": "Renamed"}, headers=cookie)
        assert updated.status_code == 200, updated.text
        assert http.get("/api/auth/get-session", headers=cookie).json()["user"]["name"] == (
            "Renamed"
        )
        token = http.get("/api/auth/token", headers=cookie)
        assert token.status_code == 200, token.text
        keys = http.get("/api/auth/jwks").json()["keys"]
        assert len(keys) == 1
        assert keys[0]["kid"] == jwt.get_unverified_header(token.json()["token"])["kid"]
        decoded = jwt.decode(
            token.json()["token"],
            jwt.PyJWK(keys[0]).key,
            algorithms=["EdDSA"],
            audience=camel_server.url,
        )
        assert decoded["sub"] == seeded["userId"]
    rows = _query(camel_db.dsn, 'select "publicKey", "privateKey" from jwks')
    assert rows[0]["privateKey"].startswith('"')  # Better Auth's encrypted, JSON-quoted form
