"""GET /metrics: Prometheus text format, parsed with prometheus-client's own parser."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.auth_client import API, PASSWORD, session_cookie, unique_email
from tests.support.server import LiveServer

STRONG_SECRET = secrets.token_urlsafe(48)
SIGN_IN = f"{API}/sign-in/email"


def scrape(http: httpx.Client) -> dict[str, list[Sample]]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        family.name: list(family.samples)
        for family in text_string_to_metric_families(response.text)
    }


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_are_served_in_prometheus_format(client: httpx.Client) -> None:
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert client.get("/api/auth/ok").status_code == 200
    assert client.get("/no/such/path/" + secrets.token_hex(4)).status_code == 404
    families = scrape(client)
    for name in (
        "auth_service_http_requests",
        "auth_service_http_request_duration_seconds",
        "auth_service_sign_in",
        "auth_service_rate_limited",
        "auth_service_db_pool_connections",
        "auth_service_db_pool_max_connections",
        "process_resident_memory_bytes",
    ):
        assert name in families, name
    requests = families["auth_service_http_requests"]
    total = "auth_service_http_requests_total"
    assert value(requests, total, method="GET", route="/health", status="200") >= 3
    assert value(requests, total, method="GET", route="/api/auth/ok", status="200") >= 1
    # Unknown paths share one label: the cardinality stays bounded.
    assert value(requests, total, route="other", status="404") >= 1
    routes = {s.labels["route"] for s in requests}
    assert not any(route.startswith("/no/such") for route in routes)
    latency = families["auth_service_http_request_duration_seconds"]
    count = value(
        latency,
        "auth_service_http_request_duration_seconds_count",
        method="GET",
        route="/health",
        status="200",
    )
    assert count >= 3
    buckets = [
        s
        for s in latency
        if s.name.endswith("_bucket")
        and s.labels["route"] == "/health"
        and s.labels["le"] == "+Inf"
    ]
    assert buckets
    assert buckets[0].value == count


def test_sign_in_outcomes_rate_limits_and_pool_usage_in_production(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(
        env={
            "ENVIRONMENT": "production",
            "BETTER_AUTH_SECRET": STRONG_SECRET,
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_STORAGE": "memory",
            "RATE_LIMIT_CUSTOM_RULES": json.dumps({"/sign-in/email": {"window": 60, "max": 3}}),
        }
    )
    origin = {"origin": server.url}
    email = unique_email("metrics")
    with server.client() as http:
        signed_up = http.post(
            f"{API}/sign-up/email",
            json={"name": "Metrics", "email": email, "password": PASSWORD},
            headers=origin,
        )
        assert signed_up.status_code == 200, signed_up.text
        ok = http.post(SIGN_IN, json={"email": email, "password": PASSWORD}, headers=origin)
        assert ok.status_code == 200
        token = ok.json()["token"]
        wrong = {"email": email, "password": "not-the-password"}
        assert http.post(SIGN_IN, json=wrong, headers=origin).status_code == 401
        assert http.post(SIGN_IN, json=wrong, headers=origin).status_code == 401
        assert http.post(SIGN_IN, json=wrong, headers=origin).status_code == 429
        cookie = session_cookie(token, secret=STRONG_SECRET)
        session = http.get(f"{API}/get-session", headers={"cookie": cookie})
        assert session.status_code == 200
        assert session.json()["user"]["email"] == email
        families = scrape(http)

    sign_ins = families["auth_service_sign_in"]
    assert value(sign_ins, "auth_service_sign_in_total", outcome="success") == 1
    assert value(sign_ins, "auth_service_sign_in_total", outcome="invalid_credentials") == 2
    assert value(sign_ins, "auth_service_sign_in_total", outcome="other") == 1
    limited = families["auth_service_rate_limited"]
    assert value(limited, "auth_service_rate_limited_total", route=SIGN_IN) == 1
    requests = families["auth_service_http_requests"]
    total = "auth_service_http_requests_total"
    assert value(requests, total, method="POST", route=SIGN_IN, status="429") == 1
    assert value(requests, total, method="POST", route=SIGN_IN, status="401") == 2
    assert value(requests, total, method="POST", route=f"{API}/sign-up/email", status="200") == 1
    # The get-session fast path opened the hot pool; the scrape reads its size.
    pool = families["auth_service_db_pool_connections"]
    assert {(s.labels["pool"], s.labels["state"]) for s in pool} >= {
        ("hot", "idle"),
        ("hot", "in_use"),
        ("main", "idle"),
        ("main", "in_use"),
    }
    assert value(pool, "auth_service_db_pool_connections", pool="hot") >= 1
    assert (
        value(
            families["auth_service_db_pool_max_connections"],
            "auth_service_db_pool_max_connections",
            pool="hot",
        )
        == 10
    )


def test_metrics_can_be_turned_off(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(env={"METRICS_ENABLED": "false"})
    with server.client() as http:
        assert http.get("/metrics").status_code == 404
        response = http.get("/health")
        assert response.status_code == 200
        assert response.headers["x-request-id"]
