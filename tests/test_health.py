"""GET /, /health, /live and /ready."""

from __future__ import annotations

import httpx


def test_root_answers_text(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "auth-service" in response.text


def test_health_reports_ok(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_live_answers_200(client: httpx.Client) -> None:
    assert client.get("/live").status_code == 200


def test_ready_when_database_answers(client: httpx.Client) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
