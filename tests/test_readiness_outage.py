"""/ready and auth endpoints follow the database down and back up, without a restart.

Under steady load (sign-ups and session reads from several threads), PostgreSQL is stopped for
a few seconds and started again: /ready turns 503 within 2 s, every request meanwhile answers
503 SERVICE_UNAVAILABLE JSON within a bound (no hang, no 500, no dropped connection), the
service recovers by itself within 5 s, and every acknowledged sign-up and session is kept.
The figures (recovery time, slowest answer) are printed with `-s`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.auth_client import (
    API,
    PASSWORD,
    NoCookieJar,
    db_fetch,
    session_cookie,
    unique_email,
)
from tests.support.postgres import PrivatePostgres, create_database
from tests.support.server import LiveServer


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pgdata")
    yield server
    server.close()


def _wait_for(check: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def test_ready_and_sessions_survive_a_database_outage(
    private_postgres: PrivatePostgres, server_factory: Callable[..., LiveServer]
) -> None:
    url = create_database(private_postgres.as_server(), "outage")
    server = server_factory(env={"DB_TIMEOUT_SECONDS": "2"}, database=url)
    with server.client() as http:
        assert http.get("/ready").status_code == 200
        signed_up = http.post(
            "/api/auth/sign-up/email",
            json={"name": "Ada", "email": "outage@example.com", "password": "password-123"},
        )
        assert signed_up.status_code == 200
        token = signed_up.json()["token"]

        private_postgres.stop()
        started = time.monotonic()
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert time.monotonic() - started < 2.5
        assert ready.json()["code"] == "DATABASE_UNAVAILABLE"

        during = http.get("/api/auth/get-session")
        assert during.status_code == 503
        assert during.json()["code"] == "SERVICE_UNAVAILABLE"
        sign_in = http.post(
            "/api/auth/sign-in/email",
            json={"email": "outage@example.com", "password": "password-123"},
            headers={"origin": server.url},
        )
        assert sign_in.status_code == 503

        private_postgres.start()

        def ready_again() -> bool:
            try:
                return http.get("/ready").status_code == 200
            except httpx.TransportError:
                return False

        assert _wait_for(ready_again, timeout=10) < 10
        session = http.get("/api/auth/get-session")
        assert session.status_code == 200
        assert session.json()["session"]["token"] == token


# --------------------------------------------------------------------------- under steady load

OUTAGE_SECONDS = 3.0
LOAD_THREADS = 3
REQUEST_BOUND = 5.0  # no request waits longer than this (DB_TIMEOUT_SECONDS is 2)


@dataclass
class Outcome:
    at: float  # monotonic time the request was sent
    seconds: float
    what: str
    status: int | str  # the HTTP status, or the transport error's name
    code: str | None = None  # the JSON error code of an error answer


@dataclass
class SteadyLoad:
    """Sign-ups and session reads from a few threads, every answer recorded."""

    server: LiveServer
    outcomes: list[Outcome] = field(default_factory=list)
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (email, token)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, http: httpx.Client, what: str, method: str, path: str, **kw: Any) -> Any:
        sent = time.monotonic()
        try:
            response = http.request(method, path, **kw)
        except httpx.TransportError as exc:
            with self.lock:
                self.outcomes.append(
                    Outcome(sent, time.monotonic() - sent, what, type(exc).__name__)
                )
            return None
        code = None
        if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            code = response.json().get("code")
        with self.lock:
            self.outcomes.append(
                Outcome(sent, time.monotonic() - sent, what, response.status_code, code)
            )
        return response

    def run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=30, cookies=NoCookieJar()) as http:
            while not self.stop.is_set():
                email = unique_email("steady")
                body = {"name": "Steady", "email": email, "password": PASSWORD}
                created = self.call(http, "sign-up", "POST", f"{API}/sign-up/email", json=body)
                if created is not None and created.status_code == 200:
                    token = created.json()["token"]
                    with self.lock:
                        self.acknowledged.append((email, token))
                    cookie = {"cookie": session_cookie(token)}
                    self.call(http, "get-session", "GET", f"{API}/get-session", headers=cookie)
                with self.lock:
                    known = self.acknowledged[0][1] if self.acknowledged else None
                if known is not None:
                    cookie = {"cookie": session_cookie(known)}
                    self.call(http, "get-session", "GET", f"{API}/get-session", headers=cookie)
                self.stop.wait(0.05)


def test_under_steady_load_an_outage_answers_503_fast_and_recovers_by_itself(
    private_postgres: PrivatePostgres, server_factory: Callable[..., LiveServer]
) -> None:
    url = create_database(private_postgres.as_server(), "outage_load")
    server = server_factory(env={"DB_TIMEOUT_SECONDS": "2"}, database=url)
    load = SteadyLoad(server)
    threads = [threading.Thread(target=load.run, daemon=True) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    probe = httpx.Client(base_url=server.url, timeout=10)
    try:
        time.sleep(1.5)
        before_outage = len(load.acknowledged)
        assert before_outage > 0

        private_postgres.stop()
        down_at = time.monotonic()
        ready = probe.get("/ready")
        not_ready_after = time.monotonic() - down_at
        assert ready.status_code == 503
        assert ready.json()["code"] == "DATABASE_UNAVAILABLE"
        assert not_ready_after < 2.0
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))

        private_postgres.start()
        up_at = time.monotonic()
        while probe.get("/ready").status_code != 200:
            assert time.monotonic() - up_at < 10, "the service did not see the database again"
            time.sleep(0.05)
        ready_again = time.monotonic() - up_at
        # Recovered means real requests succeed again, not only the probe.
        while not any(
            o.at > up_at and o.status == 200 and o.what == "sign-up" for o in load.outcomes
        ):
            assert time.monotonic() - up_at < 10, "sign-ups did not recover"
            time.sleep(0.05)
        recovered = max(
            ready_again,
            min(o.at + o.seconds for o in load.outcomes if o.at > up_at and o.status == 200)
            - up_at,
        )
        time.sleep(1)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        probe.close()

    during = [o for o in load.outcomes if down_at <= o.at < up_at]
    after = [o for o in load.outcomes if o.at >= up_at + recovered]
    print(
        f"\noutage of {OUTAGE_SECONDS:g} s under load: /ready 503 after "
        f"{not_ready_after * 1000:.0f} ms; {len(during)} requests during the outage, "
        f"slowest {max(o.seconds for o in during) * 1000:.0f} ms; /ready 200 again "
        f"{ready_again:.2f} s and requests succeeding {recovered:.2f} s after PostgreSQL "
        f"returned; {len(load.outcomes)} requests in all"
    )
    # No transport error and no 500 at any time; during the outage only 503 SERVICE_UNAVAILABLE
    # (or an answer that needed no database), each within the bound.
    assert all(isinstance(o.status, int) for o in load.outcomes), [
        o for o in load.outcomes if not isinstance(o.status, int)
    ][:5]
    assert all(o.status in (200, 503) for o in load.outcomes), {o.status for o in load.outcomes}
    assert during
    assert any(o.status == 503 for o in during)
    assert all(o.code == "SERVICE_UNAVAILABLE" for o in load.outcomes if o.status == 503)
    assert max(o.seconds for o in load.outcomes) < REQUEST_BOUND
    assert recovered < 5.0
    assert after
    assert all(o.status == 200 for o in after)
    assert "Traceback" not in server.log()
    # Everything acknowledged (before, during or after) is there: users and their sessions.
    emails = [email for email, _ in load.acknowledged]
    tokens = [token for _, token in load.acknowledged]
    stored = db_fetch(url, 'SELECT count(*) AS n FROM "user" WHERE email = ANY($1::text[])', emails)
    assert stored[0]["n"] == len(emails)
    sessions = db_fetch(
        url, "SELECT count(*) AS n FROM session WHERE token = ANY($1::text[])", tokens
    )
    assert sessions[0]["n"] == len(tokens)
