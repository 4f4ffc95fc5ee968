"""No way to tell whether an account exists (spec §8.3): by status, body, headers or timing.

- sign-in with a wrong password for a known e-mail and with an unknown e-mail: the same 401
  and body, and timing distributions whose medians differ by a bounded amount (the server
  verifies a dummy hash for unknown e-mails; samples are interleaved so machine noise hits
  both sides alike);
- request-password-reset: the same 200 and message for known and unknown e-mails, timing
  bounded the same way;
- send-verification-email without a session: the same 200 for unknown, unverified and verified
  e-mails, never faster than 500 ms.
The last two depend on the e-mail routes (auth/password_reset, auth/verification).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.auth_client import (
    API,
    PASSWORD,
    api_client,
    db_fetch,
    sign_up,
    unique_email,
)
from tests.support.server import LiveServer

SIGN_IN_SAMPLES = 40
RESET_SAMPLES = 15
VOLATILE_HEADERS = frozenset({"date", "x-request-id", "content-length"})
RESET_MESSAGE = "If this email exists in our system, check your email for the reset link"


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(live_server) as client:
        yield client


def timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = call()
    return time.perf_counter() - started, response


def interleaved(
    known: Callable[[], httpx.Response], unknown: Callable[[], httpx.Response], samples: int
) -> tuple[list[float], list[float], list[httpx.Response]]:
    """Alternate the two calls (ABAB..., then BABA... halfway) and time each."""
    a: list[float] = []
    b: list[float] = []
    responses: list[httpx.Response] = []
    for index in range(samples):
        order = [(known, a), (unknown, b)]
        if index >= samples // 2:
            order.reverse()
        for call, times in order:
            seconds, response = timed(call)
            times.append(seconds)
            responses.append(response)
    return a, b, responses


def shape(response: httpx.Response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    headers = tuple(
        sorted(
            (name, value)
            for name, value in response.headers.multi_items()
            if name not in VOLATILE_HEADERS
        )
    )
    return response.status_code, response.content, headers


def assert_bounded(known: list[float], unknown: list[float], *, what: str) -> float:
    """|median(known) - median(unknown)| within 25% of the faster median, or 15 ms."""
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    difference = abs(known_median - unknown_median)
    bound = max(0.015, 0.25 * min(known_median, unknown_median))
    print(
        f"\n{what}: median known {known_median * 1000:.1f} ms, unknown "
        f"{unknown_median * 1000:.1f} ms, difference {difference * 1000:.1f} ms "
        f"(bound {bound * 1000:.1f} ms)"
    )
    assert difference <= bound, (what, known_median, unknown_median)
    return difference


def test_sign_in_answers_known_and_unknown_emails_alike(http: httpx.Client) -> None:
    user = sign_up(http)
    wrong = "not-the-password-1"

    def known() -> httpx.Response:
        return http.post(f"{API}/sign-in/email", json={"email": user.email, "password": wrong})

    def unknown() -> httpx.Response:
        return http.post(
            f"{API}/sign-in/email", json={"email": unique_email("nobody"), "password": wrong}
        )

    known_times, unknown_times, responses = interleaved(known, unknown, SIGN_IN_SAMPLES)
    shapes = {shape(response) for response in responses}
    assert len(shapes) == 1, shapes
    assert responses[0].status_code == 401
    assert responses[0].json() == {
        "message": "Invalid email or password",
        "code": "INVALID_EMAIL_OR_PASSWORD",
    }
    # Both sides really hash: far slower than a request that does not.
    assert statistics.median(unknown_times) > 0.01
    assert_bounded(known_times, unknown_times, what="sign-in")


def test_a_wrong_password_never_sets_a_cookie_or_reveals_the_user(http: httpx.Client) -> None:
    user = sign_up(http)
    response = http.post(
        f"{API}/sign-in/email", json={"email": user.email, "password": PASSWORD + "x"}
    )
    assert response.status_code == 401
    assert response.headers.get_list("set-cookie") == []
    assert user.user_id not in response.text
    assert user.email not in response.text


def test_request_password_reset_answers_known_and_unknown_emails_alike(
    http: httpx.Client,
) -> None:
    user = sign_up(http)

    def reset(email: str) -> Callable[[], httpx.Response]:
        return lambda: http.post(f"{API}/request-password-reset", json={"email": email})

    known_times, unknown_times, responses = interleaved(
        reset(user.email), reset(unique_email("nobody")), RESET_SAMPLES
    )
    shapes = {shape(response) for response in responses}
    assert len(shapes) == 1, shapes
    assert responses[0].status_code == 200
    assert responses[0].json() == {"status": True, "message": RESET_MESSAGE}
    assert_bounded(known_times, unknown_times, what="request-password-reset")


def test_send_verification_email_without_a_session_answers_everyone_alike(
    http: httpx.Client, database_url: str
) -> None:
    unverified = sign_up(http)
    verified = sign_up(http)
    db_fetch(
        database_url, 'UPDATE "user" SET email_verified = true WHERE id = $1', verified.user_id
    )
    emails = [unique_email("nobody"), unverified.email, verified.email]

    def send(email: str) -> Callable[[], httpx.Response]:
        return lambda: http.post(f"{API}/send-verification-email", json={"email": email})

    answers = [timed(send(email)) for _ in range(2) for email in emails]
    shapes = {shape(response) for _, response in answers}
    assert len(shapes) == 1, shapes
    assert answers[0][1].status_code == 200
    assert answers[0][1].json() == {"status": True}
    durations = [seconds for seconds, _ in answers]
    assert min(durations) >= 0.5, durations
    # The floor hides the work: every answer lands within a narrow band above it.
    assert max(durations) - min(durations) < 0.25, durations
