"""SIGTERM: /ready answers 503 first, in-flight requests finish, nothing answers 5xx."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from tests.support.auth_client import API, PASSWORD, unique_email
from tests.support.server import LiveServer


@pytest.mark.parametrize("drain", ["0", "1.5"])
def test_sigterm_drains_readiness_first_and_finishes_in_flight_requests(
    server_factory: Callable[..., LiveServer], drain: str
) -> None:
    # A slow hash makes a sign-in that is surely still running when SIGTERM arrives.
    server = server_factory(env={"SHUTDOWN_DRAIN_SECONDS": drain, "ARGON2_TIME_COST": "25"})
    email = unique_email("drain")
    with server.client() as http:
        assert http.get("/ready").status_code == 200
        signed_up = http.post(
            f"{API}/sign-up/email", json={"name": "Drain", "email": email, "password": PASSWORD}
        )
        assert signed_up.status_code == 200

    results: dict[str, httpx.Response] = {}

    def slow_sign_in() -> None:
        with server.client() as own:
            results["sign_in"] = own.post(
                f"{API}/sign-in/email",
                json={"email": email, "password": PASSWORD},
                headers={"origin": server.url},
            )

    worker = threading.Thread(target=slow_sign_in)
    worker.start()
    time.sleep(0.3)
    server.process.send_signal(signal.SIGTERM)
    statuses: list[int | str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            statuses.append(httpx.get(f"{server.url}/ready", timeout=2).status_code)
        except httpx.TransportError:
            statuses.append("refused")
            break
        time.sleep(0.05)
    worker.join(timeout=30)
    assert results["sign_in"].status_code == 200, results["sign_in"].text
    assert server.process.wait(timeout=30) == 0
    # Ready never again after the signal: 503s (while draining), then the listener closes.
    assert statuses
    assert 200 not in statuses, statuses
    assert set(statuses) <= {503, "refused"}, statuses
    if float(drain) > 0:
        assert statuses.count(503) >= 5, statuses
        assert statuses[-1] == "refused"
