"""How one generic OpenID Connect provider is configured (an entry of OIDC_PROVIDERS)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

PROVIDER_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class OidcProviderSettings(BaseModel):
    """`{"id","discoveryUrl","clientId","clientSecret","scopes"?,"pkce"?}`."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    id: str = Field(pattern=PROVIDER_ID)
    discovery_url: str = Field(alias="discoveryUrl", pattern=r"^https?://")
    client_id: str = Field(alias="clientId", min_length=1)
    client_secret: SecretStr = Field(alias="clientSecret")
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    pkce: bool = True
