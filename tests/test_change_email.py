"""E-mail change (spec §4 change-email and the verify-email handling of its tokens, §8.3): the
three flows completed through a real SMTP server, the enumeration guard, every error."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.auth_client import (
    API,
    SESSION_TOKEN,
    SignedIn,
    api_client,
    authed,
    db_fetch,
    db_one,
    error_body,
    set_cookies,
    sign_in,
    sign_up,
    unique_email,
)
from tests.support.server import LiveServer
from tests.support.smtp import (
    SUBJECT_CHANGE_CONFIRM,
    SUBJECT_CHANGE_VERIFY,
    SUBJECT_VERIFY,
    SmtpSink,
    mail_server,
    mail_sink,
)

ENABLED = {"CHANGE_EMAIL_ENABLED": "true"}


@pytest.fixture(scope="module")
def sink() -> SmtpSink:
    return mail_sink()


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., LiveServer], sink: SmtpSink) -> LiveServer:
    """Change enabled, confirmation by the old address on (the default here)."""
    return mail_server(server_factory, sink, ENABLED)


def _change(
    http: httpx.Client, server: LiveServer, user: SignedIn, new_email: str, **extra: str
) -> httpx.Response:
    return http.post(
        f"{API}/change-email",
        json={"newEmail": new_email, **extra},
        headers=authed(user, server.origin),
    )


def _open(http: httpx.Client, link: str, user: SignedIn | None = None) -> httpx.Response:
    parts = urlsplit(link)
    headers = {"cookie": user.cookie} if user else None
    return http.get(f"{parts.path}?{parts.query}", headers=headers)


def _email_of(database_url: str, user_id: str) -> dict[str, object]:
    return db_one(database_url, 'SELECT email, email_verified FROM "user" WHERE id=$1', user_id)


def _verified_user(http: httpx.Client, database_url: str, prefix: str) -> SignedIn:
    user = sign_up(http, email=unique_email(prefix))
    db_fetch(database_url, 'UPDATE "user" SET email_verified=true WHERE id=$1', user.user_id)
    return user


def test_verified_user_confirms_from_the_old_address_then_the_new(
    server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    """Flow (b): the old address approves, then the new address proves itself."""
    with api_client(server) as http:
        user = _verified_user(http, database_url, "flowb")
        new_email = unique_email("flowb-new")
        response = _change(http, server, user, new_email.upper(), callbackURL="/changed")
        assert response.status_code == 200
        assert response.json() == {"status": True}
        confirm = sink.wait_for(user.email, subject=SUBJECT_CHANGE_CONFIRM)
        assert new_email in confirm.body
        assert parse_qs(urlsplit(confirm.link).query)["callbackURL"] == ["/changed"]
        sink.assert_none_to(new_email, wait=0.3)
        assert _email_of(database_url, user.user_id)["email"] == user.email

        opened = _open(http, confirm.link)
        assert opened.status_code == 302
        assert opened.headers["location"] == "/changed"
        assert _email_of(database_url, user.user_id)["email"] == user.email
        verify = sink.wait_for(new_email, subject=SUBJECT_CHANGE_VERIFY)

        # Opened without a callbackURL: the JSON answer with the changed user.
        parts = urlsplit(verify.link)
        token = parse_qs(parts.query)["token"][0]
        done = http.get(f"{API}/verify-email", params={"token": token})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] is True
        assert body["user"]["email"] == new_email
        assert body["user"]["emailVerified"] is True
        assert _email_of(database_url, user.user_id) == {"email": new_email, "email_verified": True}
        sign_in(http, new_email)
        # The links are spent: the user's address no longer matches them.
        for link in (confirm.link, verify.link):
            stale = http.get(
                f"{API}/verify-email", params={"token": parse_qs(urlsplit(link).query)["token"][0]}
            )
            assert stale.status_code == 401
            assert stale.json() == error_body("INVALID_TOKEN", "Invalid token")


def test_verification_sent_to_the_new_address(
    server_factory: Callable[..., LiveServer], sink: SmtpSink, database_url: str
) -> None:
    """Flow (c): with confirmation off, the new address gets the link that makes the change;
    the signed-in user's cookie is re-issued."""
    server = mail_server(
        server_factory, sink, {**ENABLED, "CHANGE_EMAIL_SEND_CONFIRMATION": "false"}
    )
    with api_client(server) as http:
        user = _verified_user(http, database_url, "flowc")
        new_email = unique_email("flowc-new")
        assert _change(http, server, user, new_email).json() == {"status": True}
        mail = sink.wait_for(new_email, subject=SUBJECT_CHANGE_VERIFY)
        sink.assert_none_to(user.email, wait=0.3)
        opened = _open(http, mail.link, user)
        assert opened.status_code == 302
        assert opened.headers["location"] == "/"
        assert SESSION_TOKEN in {c.name for c in set_cookies(opened)}
        assert _email_of(database_url, user.user_id) == {"email": new_email, "email_verified": True}
        session = http.get(f"{API}/get-session", headers={"cookie": user.cookie}).json()
        assert session["user"]["email"] == new_email


def test_unverified_user_changes_at_once(
    server_factory: Callable[..., LiveServer], sink: SmtpSink, database_url: str
) -> None:
    """Flow (a): changed immediately, and the new address is sent a verification link."""
    server = mail_server(
        server_factory, sink, {**ENABLED, "CHANGE_EMAIL_WITHOUT_VERIFICATION": "true"}
    )
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("flowa"))
        new_email = unique_email("flowa-new")
        response = _change(http, server, user, new_email, callbackURL="/after")
        assert response.status_code == 200
        assert response.json() == {"status": True}
        assert SESSION_TOKEN in {c.name for c in set_cookies(response)}
        assert _email_of(database_url, user.user_id) == {
            "email": new_email,
            "email_verified": False,
        }
        mail = sink.wait_for(new_email, subject=SUBJECT_VERIFY)
        assert _open(http, mail.link).headers["location"] == "/after"
        assert _email_of(database_url, user.user_id) == {"email": new_email, "email_verified": True}
        # A verified user does not get the immediate change: flow (b) instead.
        other_new = unique_email("flowa-other")
        assert _change(http, server, user, other_new).json() == {"status": True}
        sink.wait_for(new_email, subject=SUBJECT_CHANGE_CONFIRM)
        assert _email_of(database_url, user.user_id)["email"] == new_email


def test_taken_address_answers_the_same_and_does_nothing(
    server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    with api_client(server) as http:
        user = _verified_user(http, database_url, "guard")
        taken = sign_up(http, email=unique_email("taken"))
        free = unique_email("free")
        taken_answer = _change(http, server, user, taken.email)
        free_answer = _change(http, server, user, free)
        assert (taken_answer.status_code, taken_answer.content) == (
            free_answer.status_code,
            free_answer.content,
        )
        assert taken_answer.json() == {"status": True}
        sink.wait_for(user.email, subject=SUBJECT_CHANGE_CONFIRM)
        time.sleep(0.5)
        assert len(sink.to(user.email)) == 1  # only the mail for the free address
        assert sink.to(taken.email) == []
        assert _email_of(database_url, user.user_id)["email"] == user.email


def test_change_email_errors(
    server: LiveServer,
    live_server: LiveServer,
    server_factory: Callable[..., LiveServer],
    sink: SmtpSink,
    database_url: str,
) -> None:
    with api_client(live_server) as http:
        user = sign_up(http, email=unique_email("disabled"))
        disabled = _change(http, live_server, user, unique_email())
        assert disabled.status_code == 400
        assert disabled.json() == error_body("CHANGE_EMAIL_DISABLED", "Change email is disabled")
    with api_client(server) as http:
        user = sign_up(http, email=unique_email("errs"))
        same = _change(http, server, user, user.email.upper())
        assert same.status_code == 400
        assert same.json() == {"message": "Email is the same"}
        invalid = _change(http, server, user, "not-an-email")
        assert invalid.json() == error_body(
            "VALIDATION_ERROR", "[body.newEmail] Invalid email address"
        )
        anonymous = http.post(f"{API}/change-email", json={"newEmail": unique_email()})
        assert anonymous.status_code == 401
        assert anonymous.json() == error_body("UNAUTHORIZED", "Unauthorized")
        evil = _change(http, server, user, unique_email(), callbackURL="https://evil.example")
        assert evil.status_code == 403
        assert evil.json()["code"] == "INVALID_CALLBACK_URL"
    no_mail = server_factory({**ENABLED, "EMAIL_VERIFICATION_ENABLED": "false"})
    with api_client(no_mail) as http:
        user = sign_up(http, email=unique_email("nomail"))
        response = _change(http, no_mail, user, unique_email())
        assert response.status_code == 400
        assert response.json() == {"message": "Verification email isn't enabled"}


def test_link_opened_by_another_signed_in_user(
    server: LiveServer, sink: SmtpSink, database_url: str
) -> None:
    with api_client(server) as http:
        user = _verified_user(http, database_url, "owner")
        intruder = sign_up(http, email=unique_email("intruder"))
        new_email = unique_email("owner-new")
        _change(http, server, user, new_email)
        confirm = sink.wait_for(user.email, subject=SUBJECT_CHANGE_CONFIRM)
        response = _open(http, confirm.link, intruder)
        assert response.status_code == 302
        assert response.headers["location"] == "/?error=INVALID_USER"
        token = parse_qs(urlsplit(confirm.link).query)["token"][0]
        response = http.get(
            f"{API}/verify-email", params={"token": token}, headers={"cookie": intruder.cookie}
        )
        assert response.status_code == 401
        assert response.json() == error_body("INVALID_USER", "Invalid user")
        sink.assert_none_to(new_email, wait=0.3)
        # The owner (or nobody signed in) may open it.
        assert _open(http, confirm.link, user).status_code == 302
        sink.wait_for(new_email, subject=SUBJECT_CHANGE_VERIFY)
