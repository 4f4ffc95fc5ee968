"""E-mail verification (spec §4 send-verification-email / verify-email, §8.3): mails delivered
through a real SMTP server (aiosmtpd), links followed, every error code, no enumeration (the
500 ms floor measured), and the 403 EMAIL_NOT_VERIFIED sign-in."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET
from tests.support.auth_client import (
    API,
    PASSWORD,
    SESSION_TOKEN,
    api_client,
    authed,
    db_fetch,
    db_one,
    error_body,
    session_cookie,
    set_cookies,
    sign_in,
    sign_up,
    unique_email,
    users_with_email,
)
from tests.support.server import LiveServer
from tests.support.smtp import SUBJECT_VERIFY, SmtpSink, mail_server, mail_sink

REQUIRED = {"EMAIL_VERIFICATION_REQUIRED": "true"}


@pytest.fixture(scope="module")
def sink() -> SmtpSink:
    return mail_sink()


@pytest.fixture(scope="module")
def required_server(server_factory: Callable[..., LiveServer], sink: SmtpSink) -> LiveServer:
    """Verification required (so sent on sign-up), resent on sign-in."""
    return mail_server(
        server_factory, sink, {**REQUIRED, "EMAIL_VERIFICATION_SEND_ON_SIGN_IN": "true"}
    )


@pytest.fixture(scope="module")
def optional_server(server_factory: Callable[..., LiveServer], sink: SmtpSink) -> LiveServer:
    """Verification not required: sign-up signs in and sends nothing."""
    return mail_server(server_factory, sink)


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _email_token(
    email: str, *, user_id: str | None = None, expires_in: int = 3600, secret: str = TEST_SECRET
) -> str:
    now = int(time.time())
    payload: dict[str, object] = {"email": email}
    if user_id is not None:
        payload["userId"] = user_id
    payload |= {"iat": now, "exp": now + expires_in}
    return jwt.encode(payload, secret, algorithm="HS256")


def _sign_up_unverified(http: httpx.Client, server: LiveServer) -> tuple[str, str]:
    email = unique_email("verify")
    response = http.post(
        f"{API}/sign-up/email",
        json={"name": "Vera", "email": email, "password": PASSWORD, "callbackURL": "/welcome"},
    )
    assert response.status_code == 200, response.text
    return email, response.json()["user"]["id"]


def test_sign_up_mails_a_link_that_verifies_the_address(
    required_server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    with api_client(required_server) as http:
        email, user_id = _sign_up_unverified(http, required_server)
        mail = sink.wait_for(email, subject=SUBJECT_VERIFY)
        assert mail.message["From"] == "Auth Tests <auth@example.test>"
        link = mail.link
        assert link.startswith(f"{required_server.url}{API}/verify-email?token=")
        query = parse_qs(urlsplit(link).query)
        assert query["callbackURL"] == ["/welcome"]
        # The token is Better Auth's: HS256 with the secret, header {"alg":"HS256"}.
        token = query["token"][0]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header == {"alg": "HS256"}
        claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
        assert claims["email"] == email
        assert claims["userId"] == user_id
        assert claims["exp"] - claims["iat"] == 3600
        assert db_one(database_url, 'SELECT email_verified FROM "user" WHERE id=$1', user_id) == {
            "email_verified": False
        }

        response = http.get(_path_and_query(link))
        assert response.status_code == 302
        assert response.headers["location"] == "/welcome"
        assert response.content == b""
        assert db_one(database_url, 'SELECT email_verified FROM "user" WHERE id=$1', user_id) == {
            "email_verified": True
        }
        # Verified: the sign-in now works (no auto sign-in by default, so no cookie before).
        assert "set-cookie" not in response.headers
        sign_in(http, email)
        # The link again: already verified, same redirect; without callbackURL the JSON answer.
        assert http.get(_path_and_query(link)).headers["location"] == "/welcome"
        again = http.get(f"{API}/verify-email", params={"token": token})
        assert again.status_code == 200
        assert again.json() == {"status": True, "user": None}


def test_sign_up_with_verification_required_does_not_sign_in(
    required_server: LiveServer, database_url: str
) -> None:
    with api_client(required_server) as http:
        email = unique_email("nosession")
        response = http.post(
            f"{API}/sign-up/email", json={"name": "N", "email": email, "password": PASSWORD}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["token"] is None
        assert body["user"]["email"] == email
        assert body["user"]["emailVerified"] is False
        assert "set-cookie" not in response.headers
        rows = db_fetch(
            database_url, "SELECT count(*) AS n FROM session WHERE user_id=$1", body["user"]["id"]
        )
        assert rows == [{"n": 0}]


def test_sign_up_with_a_taken_address_answers_like_a_new_one(
    required_server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    """Generic mode (requireEmailVerification): 200, a synthetic user, token null, no writes."""
    with api_client(required_server) as http:
        email, user_id = _sign_up_unverified(http, required_server)
        sink.wait_for(email)
        response = http.post(
            f"{API}/sign-up/email",
            json={"name": "Other", "email": email.upper(), "password": "another-password"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token"] is None
        assert set(body["user"]) == {
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
            "id",
        }
        assert body["user"]["id"] != user_id
        assert body["user"]["email"] == email
        assert body["user"]["name"] == "Other"
        assert body["user"]["emailVerified"] is False
        assert body["user"]["image"] is None
        assert "set-cookie" not in response.headers
        assert len(users_with_email(database_url, email)) == 1
        time.sleep(0.5)
        assert len(sink.to(email)) == 1  # no second mail for the taken address


def test_sign_in_unverified_is_403_and_resends_the_mail(
    required_server: LiveServer, sink: SmtpSink
) -> None:
    with api_client(required_server) as http:
        email, _ = _sign_up_unverified(http, required_server)
        sink.wait_for(email)
        response = http.post(
            f"{API}/sign-in/email",
            json={"email": email, "password": PASSWORD, "callbackURL": "/after"},
        )
        assert response.status_code == 403
        assert response.json() == error_body("EMAIL_NOT_VERIFIED", "Email not verified")
        assert "set-cookie" not in response.headers
        resent = sink.wait_for(email, count=2, subject=SUBJECT_VERIFY)
        assert parse_qs(urlsplit(resent.link).query)["callbackURL"] == ["/after"]
        # A wrong password stays the one 401, and sends nothing.
        wrong = http.post(f"{API}/sign-in/email", json={"email": email, "password": "wrong-pw!"})
        assert wrong.status_code == 401
        time.sleep(0.5)
        assert len(sink.to(email)) == 2


def test_sign_in_unverified_without_resend_sends_nothing(
    server_factory: Callable[..., LiveServer], sink: SmtpSink
) -> None:
    server = mail_server(server_factory, sink, REQUIRED)
    with api_client(server) as http:
        email, _ = _sign_up_unverified(http, server)
        sink.wait_for(email)
        response = http.post(f"{API}/sign-in/email", json={"email": email, "password": PASSWORD})
        assert response.status_code == 403
        assert response.json()["code"] == "EMAIL_NOT_VERIFIED"
        time.sleep(0.5)
        assert len(sink.to(email)) == 1


def test_auto_sign_in_after_verification(
    server_factory: Callable[..., LiveServer], sink: SmtpSink, database_url: str
) -> None:
    server = mail_server(
        server_factory, sink, {**REQUIRED, "EMAIL_VERIFICATION_AUTO_SIGN_IN": "true"}
    )
    with api_client(server) as http:
        email, user_id = _sign_up_unverified(http, server)
        link = sink.wait_for(email).link
        response = http.get(_path_and_query(link))
        assert response.status_code == 302
        cookies = {c.name: c for c in set_cookies(response)}
        assert SESSION_TOKEN in cookies
        token = cookies[SESSION_TOKEN].value.split("%2E")[0].split(".")[0]
        session = http.get(f"{API}/get-session", headers={"cookie": session_cookie(token)})
        assert session.json()["user"]["id"] == user_id
        assert session.json()["user"]["emailVerified"] is True


def test_verify_email_errors(required_server: LiveServer, sink: SmtpSink) -> None:
    with api_client(required_server) as http:
        email, user_id = _sign_up_unverified(http, required_server)
        cases = {
            "INVALID_TOKEN": "not-a-jwt",
            "TOKEN_EXPIRED": _email_token(email, user_id=user_id, expires_in=-10),
            "USER_NOT_FOUND": _email_token(unique_email("ghost")),
        }
        messages = {
            "INVALID_TOKEN": "Invalid token",
            "TOKEN_EXPIRED": "Token expired",
            "USER_NOT_FOUND": "User not found",
        }
        for code, token in cases.items():
            plain = http.get(f"{API}/verify-email", params={"token": token})
            assert plain.status_code == 401, (code, plain.text)
            assert plain.json() == error_body(code, messages[code])
            redirected = http.get(
                f"{API}/verify-email", params={"token": token, "callbackURL": "/done?x=1"}
            )
            assert redirected.status_code == 302
            assert redirected.headers["location"] == f"/done?x=1&error={code}"
        # Signed with another secret, or bound to another user id: invalid.
        for token in (
            _email_token(email, user_id=user_id, secret="another-secret-0123456789abcdef0123"),
            _email_token(email, user_id="someone-else"),
        ):
            response = http.get(f"{API}/verify-email", params={"token": token})
            assert response.json() == error_body("INVALID_TOKEN", "Invalid token")
        # An absolute callback gets the error appended too.
        response = http.get(
            f"{API}/verify-email",
            params={"token": "x", "callbackURL": required_server.url},
        )
        assert response.headers["location"] == f"{required_server.url}/?error=INVALID_TOKEN"
        # Rule C: an untrusted callbackURL is refused before anything else.
        response = http.get(
            f"{API}/verify-email",
            params={"token": cases["TOKEN_EXPIRED"], "callbackURL": "https://evil.example/x"},
        )
        assert response.status_code == 403
        assert response.json() == error_body("INVALID_CALLBACK_URL", "Invalid callbackURL")
        response = http.get(f"{API}/verify-email")
        assert response.status_code == 400
        assert response.json() == error_body(
            "VALIDATION_ERROR", "[query.token] Invalid input: expected string, received undefined"
        )


def test_send_verification_email_without_session_does_not_enumerate(
    required_server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    with api_client(required_server) as http:
        unverified, _ = _sign_up_unverified(http, required_server)
        sink.wait_for(unverified)
        verified, verified_id = _sign_up_unverified(http, required_server)
        sink.wait_for(verified)
        db_fetch(database_url, 'UPDATE "user" SET email_verified=true WHERE id=$1', verified_id)
        unknown = unique_email("nobody")
        answers = []
        for email in (unverified, verified, unknown):
            started = time.monotonic()
            response = http.post(
                f"{API}/send-verification-email", json={"email": email, "callbackURL": "/v"}
            )
            elapsed = time.monotonic() - started
            assert elapsed >= 0.5, (email, elapsed)
            assert elapsed < 3, (email, elapsed)
            answers.append(
                (response.status_code, response.content, response.headers.get("set-cookie"))
            )
        assert answers == [(200, b'{"status":true}', None)] * 3
        resent = sink.wait_for(unverified, count=2)
        assert parse_qs(urlsplit(resent.link).query)["callbackURL"] == ["/v"]
        time.sleep(0.5)
        assert len(sink.to(verified)) == 1
        assert sink.to(unknown) == []


def test_send_verification_email_with_session(
    optional_server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    with api_client(optional_server) as http:
        user = sign_up(http, email=unique_email("sess"))
        headers = authed(user, optional_server.origin)
        other = http.post(
            f"{API}/send-verification-email",
            json={"email": unique_email("other")},
            headers=headers,
        )
        assert other.status_code == 400
        assert other.json() == error_body("EMAIL_MISMATCH", "Email mismatch")
        started = time.monotonic()
        ok = http.post(
            f"{API}/send-verification-email", json={"email": user.email.upper()}, headers=headers
        )
        assert ok.status_code == 200
        assert ok.json() == {"status": True}
        assert time.monotonic() - started < 0.5  # the floor is for unauthenticated calls only
        link = sink.wait_for(user.email).link
        assert http.get(_path_and_query(link)).headers["location"] == "/"
        again = http.post(
            f"{API}/send-verification-email", json={"email": user.email}, headers=headers
        )
        assert again.status_code == 400
        assert again.json() == error_body("EMAIL_ALREADY_VERIFIED", "Email is already verified")
        invalid = http.post(f"{API}/send-verification-email", json={"email": "not-an-email"})
        assert invalid.status_code == 400
        assert invalid.json() == error_body(
            "VALIDATION_ERROR", "[body.email] Invalid email address"
        )


def test_verification_mail_disabled(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory({"EMAIL_VERIFICATION_ENABLED": "false"})
    with api_client(server) as http:
        response = http.post(f"{API}/send-verification-email", json={"email": unique_email()})
        assert response.status_code == 400
        assert response.json() == error_body(
            "VERIFICATION_EMAIL_NOT_ENABLED", "Verification email isn't enabled"
        )
