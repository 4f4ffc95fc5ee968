"""A small OpenID Connect provider on localhost for the social sign-in tests.

It is a real authorization server over HTTP (Starlette under uvicorn, in a thread): discovery,
an authorization endpoint that auto-approves the configured test user, a token endpoint with
client authentication, PKCE S256 verification (Authlib's `create_s256_code_challenge`) and the
refresh_token grant, userinfo, and a JWKS whose RS256 key signs the id tokens (joserfc,
Authlib's JOSE library). It also answers as GitHub would (`/login/oauth/*`, `/user`,
`/user/emails`) so the GitHub provider class can be exercised against it.

Every request it handles is recorded, so tests can check what the service sent.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.server import free_port

CLIENT_ID = "auth-service-test-client"
CLIENT_SECRET = "auth-service-test-client-secret"


@dataclass
class Grant:
    """An issued authorization code."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    user: dict[str, Any]


@dataclass
class OidcTestProvider:
    url: str
    keys: KeySet
    user: dict[str, Any] = field(default_factory=dict)
    """The user the authorization endpoint approves (OIDC claims: sub, email, ...)."""
    authorize_error: str | None = None
    """When set, the authorization endpoint answers with this `error` instead of a code."""
    access_token_ttl: int = 3600
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    userinfo_requests: int = 0
    codes: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    github_email_list: list[dict[str, Any]] | None = None
    """GitHub /user/emails; by default the user's address (primary) and another one."""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def provider_setting(self, provider_id: str = "corp", **extra: Any) -> dict[str, Any]:
        """An OIDC_PROVIDERS entry for this provider."""
        return {
            "id": provider_id,
            "discoveryUrl": self.discovery_url,
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            **extra,
        }

    def id_token(
        self,
        user: dict[str, Any] | None = None,
        *,
        audience: str = CLIENT_ID,
        nonce: str | None = None,
        expires_in: int = 600,
        issuer: str | None = None,
        key: KeySet | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            **(user if user is not None else self.user),
            "iss": issuer or self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + expires_in,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        signing = key or self.keys
        kid = signing.keys[0].kid
        return jwt.encode({"alg": "RS256", "kid": kid}, claims, signing)

    def _issue_tokens(
        self, client_id: str, scope: str, user: dict[str, Any], nonce: str | None
    ) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24)
        self.access_tokens[access] = {"user": user, "expires": time.time() + self.access_token_ttl}
        self.refresh_tokens[refresh] = {"user": user, "scope": scope, "client_id": client_id}
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "refresh_token": refresh,
            "scope": scope,
            "id_token": self.id_token(user, audience=client_id, nonce=nonce),
        }

    # ------------------------------------------------------------------ endpoints

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.keys.as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect_uri:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if query.get("response_type") != "code":
            return JSONResponse({"error": "unsupported_response_type"}, status_code=400)
        params: dict[str, str] = {}
        if self.authorize_error:
            params["error"] = self.authorize_error
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = Grant(
                client_id=CLIENT_ID,
                redirect_uri=redirect_uri,
                scope=query.get("scope", ""),
                code_challenge=query.get("code_challenge"),
                code_challenge_method=query.get("code_challenge_method"),
                nonce=query.get("nonce"),
                user=dict(self.user),
            )
            params["code"] = code
        if "state" in query:
            params["state"] = query["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    def _client_auth(self, request: Request, form: dict[str, str]) -> tuple[str | None, str]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            decoded = base64.b64decode(header[6:]).decode()
            client_id, _, secret = decoded.partition(":")
            return (client_id if secret == CLIENT_SECRET else None), "client_secret_basic"
        if form.get("client_secret") == CLIENT_SECRET:
            return form.get("client_id"), "client_secret_post"
        return None, "none"

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id, method = self._client_auth(request, form)
        record: dict[str, Any] = {"form": form, "auth_method": method}
        self.token_requests.append(record)
        if client_id != CLIENT_ID:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)  # single use
            if grant is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if form.get("redirect_uri") != grant.redirect_uri:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            verifier = form.get("code_verifier")
            record["pkce_verified"] = bool(
                grant.code_challenge_method == "S256"
                and verifier
                and create_s256_code_challenge(verifier) == grant.code_challenge
            )
            if grant.code_challenge and not record["pkce_verified"]:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "PKCE failed"},
                    status_code=400,
                )
            return JSONResponse(
                self._issue_tokens(client_id, grant.scope, grant.user, grant.nonce),
                headers={"cache-control": "no-store"},
            )
        if grant_type == "refresh_token":
            stored = self.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotated
            if stored is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(
                self._issue_tokens(client_id, stored["scope"], stored["user"], None),
                headers={"cache-control": "no-store"},
            )
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _bearer_user(self, request: Request) -> dict[str, Any] | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        entry = self.access_tokens.get(token)
        if entry is None or entry["expires"] < time.time():
            return None
        user: dict[str, Any] = entry["user"]
        return user

    async def userinfo(self, request: Request) -> Response:
        self.userinfo_requests += 1
        user = self._bearer_user(request)
        if user is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(user)

    # GitHub's shapes, for the GitHub provider class.
    async def github_user(self, request: Request) -> Response:
        user = self._bearer_user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse(
            {
                "id": int(user["sub"]) if str(user["sub"]).isdigit() else user["sub"],
                "login": user.get("preferred_username", "octocat"),
                "name": user.get("name"),
                "email": None,  # a private address: the service must read /user/emails
                "avatar_url": user.get("picture"),
            }
        )

    async def github_emails(self, request: Request) -> Response:
        user = self._bearer_user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        emails = self.github_email_list
        if emails is None:
            emails = [
                {"email": "other@example.com", "primary": False, "verified": True},
                {
                    "email": user["email"],
                    "primary": True,
                    "verified": bool(user.get("email_verified")),
                },
            ]
        return JSONResponse(emails)

    # ------------------------------------------------------------------ lifecycle

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/login/oauth/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/login/oauth/access_token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
                Route("/user", self.github_user),
                Route("/user/emails", self.github_emails),
            ]
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def new_signing_keys(kid: str | None = None) -> KeySet:
    key = RSAKey.generate_key(
        2048, parameters={"kid": kid or secrets.token_hex(4), "use": "sig", "alg": "RS256"}
    )
    return KeySet([key])


def start_oidc_provider() -> OidcTestProvider:
    port = free_port()
    provider = OidcTestProvider(url=f"http://127.0.0.1:{port}", keys=new_signing_keys())
    config = uvicorn.Config(
        provider.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="oidc-test-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OIDC provider did not start")
        time.sleep(0.02)
    provider._server = server
    provider._thread = thread
    return provider
