"""The official `better-auth` JS client (createAuthClient) works against our server."""

from __future__ import annotations

from tests.support.npm import run_node
from tests.support.server import LiveServer


def test_official_client_full_flow(live_server: LiveServer) -> None:
    result = run_node("client_flow.mjs", live_server.url, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 failed" in output
    assert "FAIL" not in output
