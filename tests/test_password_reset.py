"""Password reset by e-mail (spec §4 request-password-reset, reset-password GET/POST, §8.3):
the mailed link followed end to end through a real SMTP server, single use, expiry, session
revocation, the credential account created when missing, no enumeration, every error."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.auth_client import (
    API,
    PASSWORD,
    api_client,
    db_fetch,
    error_body,
    session_tokens,
    sign_in,
    sign_up,
    unique_email,
)
from tests.support.server import LiveServer
from tests.support.smtp import SUBJECT_RESET, SmtpSink, mail_server, mail_sink

NEW_PASSWORD = "a-brand-new-password"
RESET_MESSAGE = {
    "status": True,
    "message": "If this email exists in our system, check your email for the reset link",
}


@pytest.fixture(scope="module")
def sink() -> SmtpSink:
    return mail_sink()


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., LiveServer], sink: SmtpSink) -> LiveServer:
    return mail_server(server_factory, sink)


def _request_reset(
    http: httpx.Client, sink: SmtpSink, email: str, *, redirect_to: str | None = "/reset"
) -> str:
    """Ask for a reset of `email` and return the token of the link it was mailed."""
    count = len(sink.to(email))
    body = {"email": email} | ({"redirectTo": redirect_to} if redirect_to else {})
    response = http.post(f"{API}/request-password-reset", json=body)
    assert response.status_code == 200
    assert response.json() == RESET_MESSAGE
    link = sink.wait_for(email, count=count + 1, subject=SUBJECT_RESET).link
    path = urlsplit(link).path
    assert path.startswith(f"{API}/reset-password/")
    return path.rsplit("/", 1)[1]


def test_reset_by_the_mailed_link(server: LiveServer, sink: SmtpSink, database_url: str) -> None:
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("reset"))
        second = sign_in(http, user.email)
        count = len(sink.to(user.email))
        http.post(
            f"{API}/request-password-reset",
            json={"email": user.email.upper(), "redirectTo": "/reset?step=2"},
        )
        mail = sink.wait_for(user.email, count=count + 1, subject=SUBJECT_RESET)
        assert "Test User" in mail.body
        assert "1 hour" in mail.body
        link = urlsplit(mail.link)
        assert f"{link.scheme}://{link.netloc}" == server.url
        token = link.path.rsplit("/", 1)[1]
        assert len(token) == 24
        assert token.isalnum()
        assert parse_qs(link.query) == {"callbackURL": ["/reset?step=2"]}
        rows = db_fetch(
            database_url,
            "SELECT value, expires_at - created_at AS ttl FROM verification WHERE identifier=$1",
            f"reset-password:{token}",
        )
        assert len(rows) == 1
        assert rows[0]["value"] == user.user_id
        assert abs(rows[0]["ttl"].total_seconds() - 3600) < 2

        # The link: a redirect to the app with the token (not consumed by this step).
        for _ in range(2):
            opened = http.get(f"{link.path}?{link.query}")
            assert opened.status_code == 302
            assert opened.headers["location"] == f"{server.url}/reset?step=2&token={token}"

        done = http.post(
            f"{API}/reset-password", json={"newPassword": NEW_PASSWORD, "token": token}
        )
        assert done.status_code == 200
        assert done.json() == {"status": True}
        # Sessions revoked (the default here), the old password refused, the new one accepted.
        assert session_tokens(database_url, user.user_id) == set()
        assert second.token not in session_tokens(database_url, user.user_id)
        refused = http.post(
            f"{API}/sign-in/email", json={"email": user.email, "password": PASSWORD}
        )
        assert refused.status_code == 401
        sign_in(http, user.email, NEW_PASSWORD)
        # Single use: the row is gone and the token is refused everywhere.
        assert (
            db_fetch(
                database_url,
                "SELECT id FROM verification WHERE identifier=$1",
                f"reset-password:{token}",
            )
            == []
        )
        again = http.post(f"{API}/reset-password", json={"newPassword": "x" * 12, "token": token})
        assert again.status_code == 400
        assert again.json() == error_body("INVALID_TOKEN", "Invalid token")
        opened = http.get(f"{link.path}?{link.query}")
        assert opened.headers["location"] == f"{server.url}/reset?step=2&error=INVALID_TOKEN"


def test_unknown_and_known_addresses_get_the_same_answer(
    server: LiveServer, sink: SmtpSink
) -> None:
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("known"))
        unknown = unique_email("unknown")
        answers = []
        for email in (user.email, unknown):
            response = http.post(f"{API}/request-password-reset", json={"email": email})
            answers.append(
                (response.status_code, response.content, response.headers.get("set-cookie"))
            )
        assert answers[0] == answers[1]
        assert answers[0][0] == 200
        sink.wait_for(user.email, subject=SUBJECT_RESET)
        sink.assert_none_to(unknown)


def test_forget_password_alias(server: LiveServer, sink: SmtpSink) -> None:
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("alias"))
        response = http.post(f"{API}/forget-password", json={"email": user.email})
        assert response.status_code == 200
        assert response.json() == RESET_MESSAGE
        sink.wait_for(user.email, subject=SUBJECT_RESET)


def test_token_in_the_query_and_missing_credential_account(
    server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    """A user without a credential account (e.g. social only) gets one from the reset."""
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("nocred"))
        db_fetch(database_url, "DELETE FROM account WHERE user_id=$1", user.user_id)
        token = _request_reset(http, sink, user.email)
        response = http.post(
            f"{API}/reset-password", params={"token": token}, json={"newPassword": NEW_PASSWORD}
        )
        assert response.status_code == 200, response.text
        rows = db_fetch(
            database_url,
            "SELECT account_id, provider_id FROM account WHERE user_id=$1",
            user.user_id,
        )
        assert rows == [{"account_id": user.user_id, "provider_id": "credential"}]
        sign_in(http, user.email, NEW_PASSWORD)


def test_reset_errors(server: LiveServer, sink: SmtpSink, database_url: str) -> None:
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("errors"))
        token = _request_reset(http, sink, user.email)
        missing = http.post(f"{API}/reset-password", json={"newPassword": NEW_PASSWORD})
        assert missing.status_code == 400
        assert missing.json() == error_body("INVALID_TOKEN", "Invalid token")
        unknown = http.post(
            f"{API}/reset-password", json={"newPassword": NEW_PASSWORD, "token": "x" * 24}
        )
        assert unknown.json() == error_body("INVALID_TOKEN", "Invalid token")
        short = http.post(f"{API}/reset-password", json={"newPassword": "short", "token": token})
        assert short.status_code == 400
        assert short.json() == error_body("PASSWORD_TOO_SHORT", "Password too short")
        long = http.post(f"{API}/reset-password", json={"newPassword": "x" * 129, "token": token})
        assert long.json() == error_body("PASSWORD_TOO_LONG", "Password too long")
        no_body = http.post(f"{API}/reset-password", json={"token": token})
        assert no_body.status_code == 400
        assert no_body.json()["code"] == "VALIDATION_ERROR"
        # The failures above did not spend the token; expiry does.
        db_fetch(
            database_url,
            "UPDATE verification SET expires_at = now() - interval '1 second' WHERE identifier=$1",
            f"reset-password:{token}",
        )
        expired = http.post(
            f"{API}/reset-password", json={"newPassword": NEW_PASSWORD, "token": token}
        )
        assert expired.json() == error_body("INVALID_TOKEN", "Invalid token")
        opened = http.get(f"{API}/reset-password/{token}", params={"callbackURL": "/r"})
        assert opened.headers["location"] == f"{server.url}/r?error=INVALID_TOKEN"
        # A reset whose user is gone.
        other = sign_up(http, email=unique_email("gone"))
        gone_token = _request_reset(http, sink, other.email)
        db_fetch(database_url, 'DELETE FROM "user" WHERE id=$1', other.user_id)
        gone = http.post(
            f"{API}/reset-password", json={"newPassword": NEW_PASSWORD, "token": gone_token}
        )
        assert gone.json() == error_body("USER_NOT_FOUND", "User not found")


def test_callback_and_redirect_checks(server: LiveServer) -> None:
    with api_client(server) as http:
        untrusted = http.get(
            f"{API}/reset-password/{'a' * 24}", params={"callbackURL": "https://evil.example"}
        )
        assert untrusted.status_code == 403
        assert untrusted.json() == error_body("INVALID_CALLBACK_URL", "Invalid callbackURL")
        missing = http.get(f"{API}/reset-password/{'a' * 24}")
        assert missing.status_code == 400
        assert missing.json() == error_body(
            "VALIDATION_ERROR",
            "[query.callbackURL] Invalid input: expected string, received undefined",
        )
        trusted = http.get(
            f"{API}/reset-password/{'a' * 24}", params={"callbackURL": f"{server.url}/app"}
        )
        assert trusted.headers["location"] == f"{server.url}/app?error=INVALID_TOKEN"
        redirect = http.post(
            f"{API}/request-password-reset",
            json={"email": unique_email(), "redirectTo": "https://evil.example/reset"},
        )
        assert redirect.status_code == 403
        assert redirect.json() == error_body("INVALID_REDIRECT_URL", "Invalid redirectURL")
        invalid = http.post(f"{API}/request-password-reset", json={"email": "nope"})
        assert invalid.json() == error_body(
            "VALIDATION_ERROR", "[body.email] Invalid email address"
        )


def test_reset_disabled(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory({"PASSWORD_RESET_ENABLED": "false"})
    with api_client(server) as http:
        response = http.post(f"{API}/request-password-reset", json={"email": unique_email()})
        assert response.status_code == 400
        assert response.json() == error_body(
            "RESET_PASSWORD_DISABLED", "Reset password isn't enabled"
        )


def test_sessions_kept_when_revocation_is_off(
    server_factory: Callable[..., LiveServer], sink: SmtpSink, database_url: str
) -> None:
    server = mail_server(server_factory, sink, {"REVOKE_SESSIONS_ON_PASSWORD_RESET": "false"})
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("keep"))
        token = _request_reset(http, sink, user.email)
        response = http.post(
            f"{API}/reset-password", json={"newPassword": NEW_PASSWORD, "token": token}
        )
        assert response.status_code == 200
        assert session_tokens(database_url, user.user_id) == {user.token}


def test_concurrent_resets_with_one_token(
    server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    """Only one of several simultaneous resets with the same token wins."""
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("race"))
        token = _request_reset(http, sink, user.email)

    def reset(password: str) -> int:
        with api_client(server) as own:
            return own.post(
                f"{API}/reset-password", json={"newPassword": password, "token": token}
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(reset, [f"password-{i}-xyz" for i in range(4)]))
    assert statuses == [200, 400, 400, 400]
