"""The official `better-auth` JS client (createAuthClient) works against our server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from tests.support.npm import run_node
from tests.support.oidc_provider import start_oidc_provider
from tests.support.server import LiveServer


def test_official_client_full_flow(live_server: LiveServer) -> None:
    """Every step, the e-mail ones included (password reset, e-mail verification): the server
    logs its mail (MAIL_TRANSPORT=log, the default) and the script reads the links there."""
    result = run_node(
        "client_flow.mjs",
        live_server.url,
        env={"MAIL_LOG": str(live_server.log_path)},
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 failed" in output
    assert "FAIL" not in output
    assert "ok resetPassword with the mailed token" in output
    assert "ok verifyEmail({query:{token}}) -> getSession shows emailVerified" in output


def test_official_client_social_sign_in(server_factory: Callable[..., LiveServer]) -> None:
    """signIn.social gives the provider's URL; after the provider's redirect and the callback
    the client is signed in, and listAccounts shows the provider account."""
    provider = start_oidc_provider()
    provider.user = {
        "sub": "interop-user-1",
        "email": f"interop-social-{secrets.token_hex(4)}@example.com",
        "email_verified": True,
        "name": "Interop Social",
    }
    try:
        server = server_factory({"OIDC_PROVIDERS": json.dumps([provider.provider_setting("corp")])})
        result = run_node("client_flow.mjs", server.url, "corp", timeout=180)
    finally:
        provider.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "ok listAccounts shows the social account" in output
    assert "0 failed" in output
