"""The GitHub and Google provider classes, against the local provider posing as them.

The endpoints are the classes' only inputs that differ from production (GitHub's web and API
base URLs, Google's OpenID metadata); URL building, the code exchange with PKCE and the
mapping of each provider's profile to Better Auth's user fields are exercised over real HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from auth_service.auth.social.providers import (
    GitHubProvider,
    GoogleProvider,
    OidcMetadata,
    ProviderError,
)
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    OidcTestProvider,
    start_oidc_provider,
)

REDIRECT_URI = "http://127.0.0.1:9/api/auth/callback/x"
VERIFIER = "v" * 128


@pytest.fixture(scope="module")
def fake() -> Iterator[OidcTestProvider]:
    provider = start_oidc_provider()
    yield provider
    provider.stop()


def _approve(url: str) -> str:
    """Follow the authorization URL like a browser; the code the provider hands back."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return parse_qs(urlsplit(location).query)["code"][0]


def _github(fake: OidcTestProvider) -> GitHubProvider:
    return GitHubProvider(CLIENT_ID, CLIENT_SECRET, timeout=5, web_url=fake.url, api_url=fake.url)


def test_github_authorization_url(fake: OidcTestProvider) -> None:
    url = asyncio.run(
        _github(fake).authorization_url(
            state="st",
            code_verifier=VERIFIER,
            redirect_uri=REDIRECT_URI,
            scopes=["repo"],
            login_hint="octo",
            additional_params={"allow_signup": "false"},
        )
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.url}/login/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["scope"] == "read:user user:email repo"
    assert query["state"] == "st"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["code_challenge_method"] == "S256"
    assert query["login_hint"] == "octo"
    assert query["allow_signup"] == "false"
    assert "nonce" not in query


def test_github_code_exchange_and_profile(fake: OidcTestProvider) -> None:
    fake.user = {
        "sub": "583231",
        "email": "octo@example.com",
        "email_verified": True,
        "name": "",
        "preferred_username": "octocat",
        "picture": "https://avatars.example.com/u/583231",
    }
    fake.github_email_list = None
    github = _github(fake)

    async def run() -> None:
        url = await github.authorization_url(
            state="st", code_verifier=VERIFIER, redirect_uri=REDIRECT_URI
        )
        code = await asyncio.to_thread(_approve, url)
        tokens = await github.exchange_code(code, VERIFIER, REDIRECT_URI)
        assert fake.token_requests[-1]["pkce_verified"] is True
        assert tokens.access_token in fake.access_tokens
        assert tokens.scopes == ["read:user", "user:email"]
        profile = await github.profile(tokens, nonce=None)
        assert profile.account_id == "583231"
        assert profile.email == "octo@example.com"  # from /user/emails: /user hides it
        assert profile.email_verified is True
        assert profile.name == "octocat"  # the login when the name is empty
        assert profile.image == "https://avatars.example.com/u/583231"

        fake.github_email_list = [{"email": "octo@example.com", "primary": True, "verified": False}]
        unverified = await github.profile(tokens, nonce=None)
        assert unverified.email_verified is False

        with pytest.raises(ProviderError):
            await github.exchange_code("not-a-code", VERIFIER, REDIRECT_URI)

    asyncio.run(run())


def _google(fake: OidcTestProvider) -> GoogleProvider:
    metadata = OidcMetadata(
        issuers=(fake.issuer,),
        authorization_endpoint=f"{fake.url}/authorize",
        token_endpoint=f"{fake.url}/token",
        jwks_uri=f"{fake.url}/jwks",
    )
    return GoogleProvider(CLIENT_ID, CLIENT_SECRET, timeout=5, metadata=metadata)


def test_google_code_exchange_and_id_token_profile(fake: OidcTestProvider) -> None:
    fake.user = {
        "sub": "10987654321",
        "email": "someone@gmail.example",
        "email_verified": True,
        "name": "Some One",
        "picture": "https://lh3.example.com/a.png",
    }
    google = _google(fake)

    async def run() -> None:
        url = await google.authorization_url(
            state="st", code_verifier=VERIFIER, redirect_uri=REDIRECT_URI, nonce="nonce-1"
        )
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["scope"] == "email profile openid"
        assert query["include_granted_scopes"] == "true"
        assert query["nonce"] == "nonce-1"
        code = await asyncio.to_thread(_approve, url)
        tokens = await google.exchange_code(code, VERIFIER, REDIRECT_URI)
        profile = await google.profile(tokens, nonce="nonce-1")
        assert profile.account_id == "10987654321"
        assert profile.email == "someone@gmail.example"
        assert profile.email_verified is True
        assert profile.name == "Some One"
        assert profile.image == "https://lh3.example.com/a.png"
        with pytest.raises(ProviderError):  # the id token was bound to another nonce
            await google.profile(tokens, nonce="nonce-2")

    asyncio.run(run())
