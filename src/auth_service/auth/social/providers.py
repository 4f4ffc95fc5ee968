"""OAuth 2 / OpenID Connect providers: GitHub, Google and generic OIDC (discovery).

All protocol work is Authlib's: the authorization URL with PKCE S256 and the code and
refresh-token grants (`AsyncOAuth2Client`), and id-token verification against the provider's
JWKS (joserfc, Authlib's JOSE library). A provider turns a token response into Better Auth's
token fields and a provider profile into the user fields Better Auth stores.
"""

from __future__ import annotations

import logging
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from auth_service.core.clock import utcnow
from auth_service.settings import Settings

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` distribution and warns on import when only httpx is
    # installed; its httpx integration is the same either way.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

log = logging.getLogger("auth_service.social")

# Query parameters the service sets itself; `additionalParams` may not override them.
RESERVED_AUTHORIZATION_PARAMS = (
    "state",
    "client_id",
    "redirect_uri",
    "response_type",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "scope",
)
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]
ID_TOKEN_LEEWAY_SECONDS = 60
METADATA_TTL_SECONDS = 3600.0


class ProviderError(Exception):
    """The provider refused a request or answered something unusable (logged, not shown)."""


@dataclass(slots=True)
class ProviderTokens:
    """A token response as Better Auth's `getOAuth2Tokens` reads it."""

    access_token: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    token_type: str | None = None
    access_token_expires_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None
    scopes: list[str] = field(default_factory=list)

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> ProviderTokens:
        if "error" in data:
            raise ProviderError(f"token endpoint error: {data.get('error')}")
        now = utcnow()

        def expiry(key: str) -> datetime | None:
            value = data.get(key)
            if isinstance(value, str) and value.isdigit():
                value = int(value)  # some providers send a numeric string
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e10:
                return now + timedelta(seconds=value)
            return None

        scope = data.get("scope")
        if isinstance(scope, str):
            scopes = scope.split()
        elif isinstance(scope, list):
            scopes = [s.strip() for s in scope if isinstance(s, str) and s.strip()]
        else:
            scopes = []
        return cls(
            access_token=_str_or_none(data.get("access_token")),
            refresh_token=_str_or_none(data.get("refresh_token")),
            id_token=_str_or_none(data.get("id_token")),
            token_type=_str_or_none(data.get("token_type")),
            access_token_expires_at=expiry("expires_in"),
            refresh_token_expires_at=expiry("refresh_token_expires_in"),
            scopes=scopes,
        )


@dataclass(slots=True)
class ProviderProfile:
    """The user a provider vouches for: its account id and the fields Better Auth stores."""

    account_id: str
    email: str | None
    name: str
    image: str | None
    email_verified: bool
    data: dict[str, Any]


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _bool_claim(value: object) -> bool:
    """Better Auth's parseStringBoolean: `true` or "true"; anything else is not verified."""
    return value is True or value == "true"


class SocialProvider(ABC):
    """One configured provider. Subclasses say where its endpoints are and read its profile."""

    id: str
    name: str
    token_auth_method = "client_secret_post"  # noqa: S105 - a method name, not a secret
    supports_id_token = False
    uses_nonce = False

    def __init__(self, client_id: str, client_secret: str, *, timeout: float) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.timeout = timeout

    # --------------------------------------------------------------- endpoints, per provider

    @abstractmethod
    async def authorization_endpoint(self) -> str: ...

    @abstractmethod
    async def token_endpoint(self) -> str: ...

    @abstractmethod
    def default_scopes(self) -> list[str]: ...

    def extra_authorization_params(self) -> dict[str, str]:
        return {}

    @abstractmethod
    async def profile(self, tokens: ProviderTokens, *, nonce: str | None) -> ProviderProfile:
        """The user of `tokens`; raises ProviderError when it cannot be read."""

    async def verify_id_token(self, token: str, nonce: str | None) -> dict[str, Any]:
        raise ProviderError(f"{self.id} does not support id tokens")

    # --------------------------------------------------------------- the OAuth 2 grants

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method=self.token_auth_method,
            code_challenge_method="S256",
            timeout=self.timeout,
            follow_redirects=False,
        )

    async def authorization_url(
        self,
        *,
        state: str,
        code_verifier: str,
        redirect_uri: str,
        scopes: Sequence[str] = (),
        login_hint: str | None = None,
        additional_params: Mapping[str, str] | None = None,
        nonce: str | None = None,
    ) -> str:
        params: dict[str, str] = dict(self.extra_authorization_params())
        for key, value in (additional_params or {}).items():
            if key not in RESERVED_AUTHORIZATION_PARAMS:
                params[key] = value
        if login_hint:
            params["login_hint"] = login_hint
        if nonce:
            params["nonce"] = nonce
        all_scopes = [*self.default_scopes(), *scopes]
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                await self.authorization_endpoint(),
                state=state,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
                scope=" ".join(all_scopes) if all_scopes else None,
                **params,
            )
        return str(url)

    async def exchange_code(
        self, code: str, code_verifier: str, redirect_uri: str
    ) -> ProviderTokens:
        endpoint = await self.token_endpoint()
        async with self._client() as client:
            try:
                token = await client.fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    redirect_uri=redirect_uri,
                )
            except Exception as exc:  # authlib's OAuthError, httpx errors, bad JSON
                raise ProviderError(f"code exchange failed: {type(exc).__name__}") from exc
        return ProviderTokens.from_response(dict(token))

    async def refresh(self, refresh_token: str) -> ProviderTokens:
        endpoint = await self.token_endpoint()
        async with self._client() as client:
            try:
                token = await client.refresh_token(endpoint, refresh_token=refresh_token)
            except Exception as exc:  # authlib's OAuthError, httpx errors, bad JSON
                raise ProviderError(f"token refresh failed: {type(exc).__name__}") from exc
        return ProviderTokens.from_response(dict(token))

    async def _get_json(self, url: str, access_token: str, **headers: str) -> Any:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
            response = await http.get(
                url, headers={"authorization": f"Bearer {access_token}", **headers}
            )
        if response.status_code != 200:
            raise ProviderError(f"{url} answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"{url} answered invalid JSON") from exc


class GitHubProvider(SocialProvider):
    """GitHub OAuth apps: no id tokens; the e-mail comes from /user/emails."""

    id = "github"
    name = "GitHub"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        timeout: float,
        web_url: str = "https://github.com",
        api_url: str = "https://api.github.com",
    ) -> None:
        super().__init__(client_id, client_secret, timeout=timeout)
        self.web_url = web_url.rstrip("/")
        self.api_url = api_url.rstrip("/")

    async def authorization_endpoint(self) -> str:
        return f"{self.web_url}/login/oauth/authorize"

    async def token_endpoint(self) -> str:
        return f"{self.web_url}/login/oauth/access_token"

    def default_scopes(self) -> list[str]:
        return ["read:user", "user:email"]

    async def profile(self, tokens: ProviderTokens, *, nonce: str | None) -> ProviderProfile:
        if not tokens.access_token:
            raise ProviderError("no access token")
        headers = {"user-agent": "auth-service"}
        user = await self._get_json(f"{self.api_url}/user", tokens.access_token, **headers)
        if not isinstance(user, dict) or user.get("id") is None:
            raise ProviderError("GitHub /user has no id")
        try:
            emails = await self._get_json(
                f"{self.api_url}/user/emails", tokens.access_token, **headers
            )
        except ProviderError:
            emails = []
        emails = [e for e in emails if isinstance(e, dict)] if isinstance(emails, list) else []
        email = _str_or_none(user.get("email"))
        if email is None and emails:
            primary = next((e for e in emails if e.get("primary")), emails[0])
            email = _str_or_none(primary.get("email"))
        verified = any(e.get("email") == email and e.get("verified") is True for e in emails)
        return ProviderProfile(
            account_id=str(user["id"]),
            email=email,
            name=str(user.get("name") or user.get("login") or ""),
            image=_str_or_none(user.get("avatar_url")),
            email_verified=verified,
            data=user,
        )


@dataclass(slots=True)
class OidcMetadata:
    issuers: tuple[str, ...]
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    token_auth_methods: tuple[str, ...] = ()


class OidcProvider(SocialProvider):
    """An OpenID Connect provider: static metadata (Google) or its discovery document."""

    supports_id_token = True
    uses_nonce = True

    def __init__(
        self,
        provider_id: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float,
        scopes: Sequence[str] = ("openid", "email", "profile"),
        discovery_url: str | None = None,
        metadata: OidcMetadata | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(client_id, client_secret, timeout=timeout)
        if (discovery_url is None) == (metadata is None):
            raise ValueError("an OIDC provider needs a discovery URL or static metadata")
        self.id = provider_id
        self.name = name or provider_id
        self._scopes = list(scopes)
        self._discovery_url = discovery_url
        self._metadata = metadata
        self._metadata_at = time.monotonic() if metadata is not None else 0.0
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0

    async def metadata(self) -> OidcMetadata:
        stale = time.monotonic() - self._metadata_at > METADATA_TTL_SECONDS
        if self._metadata is None or (self._discovery_url is not None and stale):
            self._metadata = await self._discover()
            self._metadata_at = time.monotonic()
        return self._metadata

    async def _discover(self) -> OidcMetadata:
        assert self._discovery_url is not None
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
                response = await http.get(self._discovery_url)
            response.raise_for_status()
            doc = response.json()
            metadata = OidcMetadata(
                issuers=(str(doc["issuer"]),),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                userinfo_endpoint=_str_or_none(doc.get("userinfo_endpoint")),
                token_auth_methods=tuple(doc.get("token_endpoint_auth_methods_supported") or ()),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"OIDC discovery of {self.id} failed: {exc}") from exc
        if metadata.token_auth_methods and "client_secret_post" not in metadata.token_auth_methods:
            self.token_auth_method = "client_secret_basic"  # noqa: S105 - a method name
        return metadata

    async def authorization_endpoint(self) -> str:
        return (await self.metadata()).authorization_endpoint

    async def token_endpoint(self) -> str:
        return (await self.metadata()).token_endpoint

    def default_scopes(self) -> list[str]:
        return list(self._scopes)

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        if self._jwks is None or refresh or time.monotonic() - self._jwks_at > METADATA_TTL_SECONDS:
            uri = (await self.metadata()).jwks_uri
            try:
                async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
                    response = await http.get(uri)
                response.raise_for_status()
                self._jwks = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as exc:
                raise ProviderError(f"JWKS of {self.id} unavailable: {exc}") from exc
            self._jwks_at = time.monotonic()
        return self._jwks

    async def verify_id_token(self, token: str, nonce: str | None) -> dict[str, Any]:
        """The claims of a valid id token for this client: signature (the provider's JWKS),
        issuer, audience, expiry, and the nonce when one is expected."""
        metadata = await self.metadata()
        try:
            decoded = jwt.decode(token, await self._key_set(), algorithms=ID_TOKEN_ALGORITHMS)
        except JoseError:
            # A key the cached set does not hold yet (rotation): fetch the set once more.
            try:
                decoded = jwt.decode(
                    token, await self._key_set(refresh=True), algorithms=ID_TOKEN_ALGORITHMS
                )
            except (JoseError, ValueError) as exc:
                raise ProviderError(f"id token rejected: {exc}") from exc
        except ValueError as exc:
            raise ProviderError(f"id token rejected: {exc}") from exc
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=ID_TOKEN_LEEWAY_SECONDS,
            iss={"essential": True, "values": list(metadata.issuers)},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise ProviderError(f"id token claims rejected: {exc}") from exc
        if nonce is not None and claims.get("nonce") != nonce:
            raise ProviderError("id token nonce mismatch")
        return dict(claims)

    async def profile(self, tokens: ProviderTokens, *, nonce: str | None) -> ProviderProfile:
        claims: dict[str, Any] = {}
        if tokens.id_token:
            claims = await self.verify_id_token(tokens.id_token, nonce)
        metadata = await self.metadata()
        if tokens.access_token and metadata.userinfo_endpoint:
            try:
                info = await self._get_json(metadata.userinfo_endpoint, tokens.access_token)
            except ProviderError:
                info = None
            if isinstance(info, dict) and (not claims or info.get("sub") == claims.get("sub")):
                claims = {**claims, **info}
        return self.profile_from_claims(claims)

    def profile_from_claims(self, claims: Mapping[str, Any]) -> ProviderProfile:
        sub = claims.get("sub")
        if not isinstance(sub, str | int) or isinstance(sub, bool) or not str(sub).strip():
            raise ProviderError("no subject in the provider's claims")
        return ProviderProfile(
            account_id=str(sub),
            email=_str_or_none(claims.get("email")),
            name=str(claims.get("name") or claims.get("preferred_username") or ""),
            image=_str_or_none(claims.get("picture")),
            email_verified=_bool_claim(claims.get("email_verified")),
            data=dict(claims),
        )


GOOGLE_METADATA = OidcMetadata(
    issuers=("https://accounts.google.com", "accounts.google.com"),
    authorization_endpoint="https://accounts.google.com/o/oauth2/v2/auth",
    token_endpoint="https://oauth2.googleapis.com/token",  # noqa: S106 - a URL
    jwks_uri="https://www.googleapis.com/oauth2/v3/certs",
)


class GoogleProvider(OidcProvider):
    """Google: OpenID Connect with fixed endpoints; the profile is the id token's claims."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        timeout: float,
        metadata: OidcMetadata = GOOGLE_METADATA,
    ) -> None:
        super().__init__(
            "google",
            client_id,
            client_secret,
            timeout=timeout,
            scopes=("email", "profile", "openid"),
            metadata=metadata,
            name="Google",
        )

    def extra_authorization_params(self) -> dict[str, str]:
        return {"include_granted_scopes": "true"}

    async def profile(self, tokens: ProviderTokens, *, nonce: str | None) -> ProviderProfile:
        if not tokens.id_token:
            raise ProviderError("Google answered without an id token")
        return self.profile_from_claims(await self.verify_id_token(tokens.id_token, nonce))


def build_providers(settings: Settings) -> dict[str, SocialProvider]:
    """The providers the settings configure, by id."""
    timeout = settings.oauth_http_timeout_seconds
    providers: dict[str, SocialProvider] = {}
    if settings.github_client_id and settings.github_client_secret:
        providers["github"] = GitHubProvider(
            settings.github_client_id,
            settings.github_client_secret.get_secret_value(),
            timeout=timeout,
        )
    if settings.google_client_id and settings.google_client_secret:
        providers["google"] = GoogleProvider(
            settings.google_client_id,
            settings.google_client_secret.get_secret_value(),
            timeout=timeout,
        )
    for entry in settings.oidc_providers:
        providers[entry.id] = OidcProvider(
            entry.id,
            entry.client_id,
            entry.client_secret.get_secret_value(),
            timeout=timeout,
            scopes=entry.scopes,
            discovery_url=entry.discovery_url,
        )
    return providers
