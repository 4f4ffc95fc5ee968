"""Mail delivery: the log transport (development) prints the message and its link; an SMTP
server that is down or slow never holds a request, and the failure is logged without secrets;
a misconfigured transport stops the start with one clear line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.support.auth_client import API, api_client, authed, db_one, sign_up, unique_email
from tests.support.server import ROOT, LiveServer, free_port
from tests.support.smtp import SUBJECT_VERIFY, mail_sink


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_log_transport_prints_the_link(live_server: LiveServer, database_url: str) -> None:
    """The default transport (development): the message and its link go to the server log."""
    with api_client(live_server) as http:
        user = sign_up(http, email=unique_email("logged"))
        start = len(live_server.log())
        response = http.post(
            f"{API}/send-verification-email",
            json={"email": user.email},
            headers=authed(user, live_server.origin),
        )
        assert response.status_code == 200
        deadline = time.monotonic() + 10
        while "link: " not in live_server.log()[start:] and time.monotonic() < deadline:
            time.sleep(0.05)
        logged = live_server.log()[start:]
        assert f"to={user.email}" in logged
        assert SUBJECT_VERIFY in logged
        link = logged.split("link: ", 1)[1].split()[0]
        assert http.get(_path_and_query(link)).status_code == 302
        row = db_one(database_url, 'SELECT email_verified FROM "user" WHERE id=$1', user.user_id)
        assert row == {"email_verified": True}


@pytest.mark.parametrize("failure", ["down", "slow"])
def test_smtp_server_down_or_slow(server_factory: Callable[..., LiveServer], failure: str) -> None:
    """The answer does not wait for the mail server, is the usual one, and the failure is
    logged without the link or its token."""
    if failure == "down":
        env = {
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(free_port()),  # nothing listens there
            "SMTP_SECURITY": "none",
            "SMTP_TIMEOUT_SECONDS": "2",
        }
    else:
        env = mail_sink("slow", delay=20).env(SMTP_TIMEOUT_SECONDS="1")
    server = server_factory(env)
    with api_client(server) as http:
        user = sign_up(http, email=unique_email(failure))
        started = time.monotonic()
        response = http.post(
            f"{API}/send-verification-email",
            json={"email": user.email},
            headers=authed(user, server.origin),
        )
        assert time.monotonic() - started < 1.0
        assert response.status_code == 200
        assert response.json() == {"status": True}
        reset = http.post(f"{API}/request-password-reset", json={"email": user.email})
        assert reset.status_code == 200
        deadline = time.monotonic() + 15
        while server.log().count("not sent") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log()
        assert log.count("not sent") == 2, log
        expected = "no answer within 1.0s" if failure == "slow" else "SMTPConnect"
        assert expected in log
        assert "Traceback" not in log
        assert "verify-email?token=" not in log
        assert re.search(r"reset-password/[A-Za-z0-9]{24}", log) is None
        assert user.email not in log  # addresses are masked in the log


def test_smtp_without_a_host_stops_the_start(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "MAIL_TRANSPORT": "smtp"}
    env.pop("SMTP_HOST", None)
    result = subprocess.run(
        [sys.executable, "-m", "auth_service", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "MAIL_TRANSPORT=smtp needs SMTP_HOST" in result.stderr
    assert "Traceback" not in result.stderr


def test_log_transport_in_production_warns(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory({"ENVIRONMENT": "production"})
    assert "MAIL_TRANSPORT=log in production" in server.log()
