"""Account deletion (spec §4 delete-user, delete-user/callback): by password, by a fresh
session, by a mailed token (through a real SMTP server); everything removed in one
transaction; disabled unless configured; every error."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.auth_client import (
    API,
    SignedIn,
    api_client,
    authed,
    clearing_lines,
    db_fetch,
    error_body,
    set_cookie_lines,
    sign_in,
    sign_up,
    unique_email,
)
from tests.support.server import LiveServer
from tests.support.smtp import SUBJECT_DELETE, SmtpSink, mail_server, mail_sink

ENABLED = {"DELETE_USER_ENABLED": "true"}
BY_MAIL = {**ENABLED, "DELETE_USER_SEND_VERIFICATION": "true"}
DELETED = {"success": True, "message": "User deleted"}


@pytest.fixture(scope="module")
def sink() -> SmtpSink:
    return mail_sink()


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., LiveServer], sink: SmtpSink) -> LiveServer:
    return mail_server(server_factory, sink, ENABLED)


@pytest.fixture(scope="module")
def mail_confirmed(server_factory: Callable[..., LiveServer], sink: SmtpSink) -> LiveServer:
    return mail_server(server_factory, sink, BY_MAIL)


def _counts(database_url: str, user_id: str) -> dict[str, int]:
    row = db_fetch(
        database_url,
        'SELECT (SELECT count(*) FROM "user" WHERE id=$1) AS users, '
        "(SELECT count(*) FROM session WHERE user_id=$1) AS sessions, "
        "(SELECT count(*) FROM account WHERE user_id=$1) AS accounts",
        user_id,
    )[0]
    return {key: int(value) for key, value in row.items()}


def _delete(
    http: httpx.Client, server: LiveServer, user: SignedIn, body: dict[str, str] | None = None
) -> httpx.Response:
    return http.post(f"{API}/delete-user", json=body or {}, headers=authed(user, server.origin))


def test_disabled_by_default(live_server: LiveServer) -> None:
    with api_client(live_server) as http:
        user = sign_up(http, email=unique_email("nodelete"))
        response = _delete(http, live_server, user, {"password": user.password})
        assert response.status_code == 404
        assert response.content == b""
        callback = http.get(
            f"{API}/delete-user/callback", params={"token": "x"}, headers={"cookie": user.cookie}
        )
        assert callback.status_code == 404
        assert callback.json() == error_body("NOT_FOUND", "Not found")


def test_delete_with_password_removes_everything(server: LiveServer, database_url: str) -> None:
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("bypw"))
        sign_in(http, user.email)  # a second session
        bystander = sign_up(http, email=unique_email("bystander"))
        assert _counts(database_url, user.user_id) == {"users": 1, "sessions": 2, "accounts": 1}
        wrong = _delete(http, server, user, {"password": "wrong-password"})
        assert wrong.status_code == 400
        assert wrong.json() == error_body("INVALID_PASSWORD", "Invalid password")
        assert _counts(database_url, user.user_id)["users"] == 1
        response = _delete(http, server, user, {"password": user.password})
        assert response.status_code == 200
        assert response.json() == DELETED
        assert set_cookie_lines(response) == clearing_lines()
        assert _counts(database_url, user.user_id) == {"users": 0, "sessions": 0, "accounts": 0}
        assert _counts(database_url, bystander.user_id) == {
            "users": 1,
            "sessions": 1,
            "accounts": 1,
        }
        gone = http.get(f"{API}/get-session", headers={"cookie": user.cookie})
        assert gone.json() is None


def test_delete_with_a_fresh_session_and_not_a_stale_one(
    server: LiveServer, database_url: str
) -> None:
    with api_client(server) as http:
        fresh = sign_up(http, email=unique_email("fresh"))
        no_body = http.post(f"{API}/delete-user", headers=authed(fresh, server.origin))
        assert no_body.status_code == 200
        assert no_body.json() == DELETED
        assert _counts(database_url, fresh.user_id)["users"] == 0

        stale = sign_up(http, email=unique_email("stale"))
        db_fetch(
            database_url,
            "UPDATE session SET created_at = created_at - interval '2 days' WHERE token=$1",
            stale.token,
        )
        refused = _delete(http, server, stale)
        assert refused.status_code == 400
        assert refused.json() == error_body(
            "SESSION_EXPIRED", "Session expired. Re-authenticate to perform this action."
        )
        assert _counts(database_url, stale.user_id)["users"] == 1
        # The password still works with a stale session.
        assert _delete(http, server, stale, {"password": stale.password}).json() == DELETED


def test_credential_account_missing(server: LiveServer, database_url: str) -> None:
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("nocred"))
        db_fetch(database_url, "DELETE FROM account WHERE user_id=$1", user.user_id)
        response = _delete(http, server, user, {"password": user.password})
        assert response.status_code == 400
        assert response.json() == error_body(
            "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found"
        )


def test_unauthenticated(server: LiveServer) -> None:
    with api_client(server) as http:
        response = http.post(f"{API}/delete-user", json={})
        assert response.status_code == 401
        assert response.json() == error_body("UNAUTHORIZED", "Unauthorized")


def test_delete_by_the_mailed_link(
    mail_confirmed: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    server = mail_confirmed
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("bymail"))
        response = _delete(http, server, user, {"callbackURL": "/goodbye"})
        assert response.status_code == 200
        assert response.json() == {"success": True, "message": "Verification email sent"}
        assert "set-cookie" not in response.headers
        assert _counts(database_url, user.user_id)["users"] == 1
        link = urlsplit(sink.wait_for(user.email, subject=SUBJECT_DELETE).link)
        assert link.path == f"{API}/delete-user/callback"
        query = parse_qs(link.query)
        token = query["token"][0]
        assert query["callbackURL"] == ["/goodbye"]
        assert len(token) == 32
        assert token == token.lower()
        assert token.isalnum()
        rows = db_fetch(
            database_url,
            "SELECT value, expires_at - created_at AS ttl FROM verification WHERE identifier=$1",
            f"delete-account-{token}",
        )
        assert rows[0]["value"] == user.user_id
        assert abs(rows[0]["ttl"].total_seconds() - 86400) < 2

        # Opened without a session: nothing happens.
        anonymous = http.get(f"{link.path}?{link.query}")
        assert anonymous.status_code == 404
        assert anonymous.json() == error_body("FAILED_TO_GET_USER_INFO", "Failed to get user info")
        # Opened by someone else: their session does not match the token; nothing is spent.
        other = sign_up(http, email=unique_email("other"))
        wrong = http.get(f"{link.path}?{link.query}", headers={"cookie": other.cookie})
        assert wrong.status_code == 404
        assert wrong.json() == error_body("INVALID_TOKEN", "Invalid token")
        assert _counts(database_url, other.user_id)["users"] == 1

        opened = http.get(f"{link.path}?{link.query}", headers={"cookie": user.cookie})
        assert opened.status_code == 302
        assert opened.headers["location"] == "/goodbye"
        assert set_cookie_lines(opened) == clearing_lines()
        assert _counts(database_url, user.user_id) == {"users": 0, "sessions": 0, "accounts": 0}
        assert (
            db_fetch(
                database_url,
                "SELECT id FROM verification WHERE identifier=$1",
                f"delete-account-{token}",
            )
            == []
        )


def test_delete_with_the_token_in_the_body_and_json_callback(
    mail_confirmed: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    server = mail_confirmed
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("bodytoken"))
        _delete(http, server, user)
        token = parse_qs(urlsplit(sink.wait_for(user.email).link).query)["token"][0]
        bad = _delete(http, server, user, {"token": "0" * 32})
        assert bad.status_code == 404
        assert bad.json() == error_body("INVALID_TOKEN", "Invalid token")
        response = _delete(http, server, user, {"token": token})
        assert response.status_code == 200
        assert response.json() == DELETED
        assert _counts(database_url, user.user_id)["users"] == 0

        second = sign_up(http, email=unique_email("jsoncb"))
        _delete(http, server, second)
        token = parse_qs(urlsplit(sink.wait_for(second.email).link).query)["token"][0]
        db_fetch(
            database_url,
            "UPDATE verification SET expires_at = now() - interval '1 second' WHERE identifier=$1",
            f"delete-account-{token}",
        )
        expired = http.get(
            f"{API}/delete-user/callback",
            params={"token": token},
            headers={"cookie": second.cookie},
        )
        assert expired.status_code == 404
        assert expired.json()["code"] == "INVALID_TOKEN"
        _delete(http, server, second)
        token = parse_qs(urlsplit(sink.wait_for(second.email, count=2).link).query)["token"][0]
        done = http.get(
            f"{API}/delete-user/callback",
            params={"token": token},
            headers={"cookie": second.cookie},
        )
        assert done.status_code == 200
        assert done.json() == DELETED


def test_callback_checks(mail_confirmed: LiveServer) -> None:
    with api_client(mail_confirmed) as http:
        untrusted = http.get(
            f"{API}/delete-user/callback",
            params={"token": "x", "callbackURL": "https://evil.example/"},
        )
        assert untrusted.status_code == 403
        assert untrusted.json() == error_body("INVALID_CALLBACK_URL", "Invalid callbackURL")
        missing = http.get(f"{API}/delete-user/callback")
        assert missing.status_code == 400
        assert missing.json() == error_body(
            "VALIDATION_ERROR", "[query.token] Invalid input: expected string, received undefined"
        )


@contextmanager
def _user_delete_fails(database_url: str, user_id: str) -> Iterator[None]:
    """A trigger that makes deleting this one user row fail, as a fault in mid-transaction."""
    name = f"fail_delete_{uuid.uuid4().hex[:8]}"
    db_fetch(
        database_url,
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF OLD.id = '{user_id}' THEN RAISE EXCEPTION 'injected fault'; END IF; "
        "RETURN OLD; END $$",
    )
    db_fetch(
        database_url,
        f'CREATE TRIGGER {name} BEFORE DELETE ON "user" FOR EACH ROW EXECUTE FUNCTION {name}()',
    )
    try:
        yield
    finally:
        db_fetch(database_url, f'DROP TRIGGER {name} ON "user"')
        db_fetch(database_url, f"DROP FUNCTION {name}()")


def test_deletion_is_one_transaction(server: LiveServer, database_url: str) -> None:
    """When the last step (the user row) fails, the sessions and accounts are still there."""
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("atomic"))
        before = _counts(database_url, user.user_id)
        with _user_delete_fails(database_url, user.user_id):
            response = _delete(http, server, user, {"password": user.password})
            assert response.status_code >= 500
        assert _counts(database_url, user.user_id) == before
        assert _delete(http, server, user, {"password": user.password}).json() == DELETED
        assert _counts(database_url, user.user_id) == {"users": 0, "sessions": 0, "accounts": 0}
