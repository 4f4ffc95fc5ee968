"""Every setting of the service, read once from the environment and `.env`."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from auth_service.auth.social.config import OidcProviderSettings
from auth_service.core.client_ip import IPNetwork, parse_trusted_proxies
from auth_service.core.rate_limit.rules import Rule, parse_custom_rules

Environment = Literal["development", "test", "production"]
PasswordAlgorithm = Literal["argon2id", "scrypt"]
NamingPreset = Literal["snake_case", "camelCase"]

DEV_FALLBACK_SECRET = "better-auth-secret-12345678901234567890"  # noqa: S105 - Better Auth's own
# Secrets that ship in examples and seeds: never acceptable in production.
WELL_KNOWN_SECRETS = frozenset(
    {
        DEV_FALLBACK_SECRET,
        "anchor-bench-secret-not-for-production-0123456789abcdef",
        "change-me-to-a-long-random-string-of-at-least-32-chars",
        "changeme",
        "secret",
    }
)
MIN_SECRET_LENGTH = 32
HEADER_NAME = r"^[A-Za-z0-9-]+$"  # an HTTP header name every proxy passes through


class ConfigError(Exception):
    """A setting is missing or unsafe; the message says how to fix it."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    environment: Environment = Field(
        default="development", validation_alias=AliasChoices("ENVIRONMENT", "NODE_ENV")
    )
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BETTER_AUTH_SECRET", "AUTH_SECRET")
    )
    base_url: str = Field(default="http://localhost:3000", validation_alias="BETTER_AUTH_URL")
    api_gateway_secret: SecretStr | None = Field(
        default=None, validation_alias="API_GATEWAY_SECRET"
    )
    internal_service_secret: SecretStr | None = Field(
        default=None, validation_alias="INTERNAL_SERVICE_SECRET"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CORS_ORIGINS"
    )
    trusted_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="BETTER_AUTH_TRUSTED_ORIGINS"
    )

    # Embedded PostgreSQL, used when DATABASE_URL is unset.
    embedded_pg_dir: Path = Field(default=Path(".pgdata"), validation_alias="EMBEDDED_PG_DIR")

    # Database pool and naming (remap to a Kysely-created camelCase database, or rename tables).
    db_pool_size: int = Field(default=10, ge=1, le=200, validation_alias="DB_POOL_SIZE")
    db_timeout_seconds: float = Field(default=5.0, gt=0, validation_alias="DB_TIMEOUT_SECONDS")
    db_naming: NamingPreset = Field(default="snake_case", validation_alias="DB_NAMING")
    db_table_names: dict[str, str] = Field(default_factory=dict, validation_alias="DB_TABLE_NAMES")
    db_column_names: dict[str, str] = Field(
        default_factory=dict, validation_alias="DB_COLUMN_NAMES"
    )

    # Passwords.
    password_algorithm: PasswordAlgorithm = Field(
        default="argon2id", validation_alias="PASSWORD_ALGORITHM"
    )
    argon2_memory_kib: int = Field(default=19456, ge=19456, validation_alias="ARGON2_MEMORY_KIB")
    argon2_time_cost: int = Field(default=2, ge=2, validation_alias="ARGON2_TIME_COST")
    argon2_parallelism: int = Field(default=1, ge=1, validation_alias="ARGON2_PARALLELISM")
    hash_workers: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, validation_alias="HASH_WORKERS"
    )
    min_password_length: int = Field(default=8, ge=1, validation_alias="MIN_PASSWORD_LENGTH")
    max_password_length: int = Field(default=128, ge=8, validation_alias="MAX_PASSWORD_LENGTH")

    # Sessions (seconds), as Better Auth's defaults.
    session_expires_in: int = Field(default=604800, gt=0, validation_alias="SESSION_EXPIRES_IN")
    session_update_age: int = Field(default=86400, ge=0, validation_alias="SESSION_UPDATE_AGE")
    session_fresh_age: int = Field(default=86400, ge=0, validation_alias="SESSION_FRESH_AGE")
    use_secure_cookies: bool | None = Field(default=None, validation_alias="USE_SECURE_COOKIES")
    cookie_prefix: str = Field(default="better-auth", validation_alias="COOKIE_PREFIX")
    disable_sign_up: bool = Field(default=False, validation_alias="DISABLE_SIGN_UP")
    # Optional per-process cache of session lookups (auth/sessions/cache.py): 0 = off. When on,
    # revocation reaches every replica through PostgreSQL notifications (migration 0002).
    session_cache_seconds: float = Field(
        default=0, ge=0, le=300, validation_alias="SESSION_CACHE_SECONDS"
    )
    session_cache_max_entries: int = Field(
        default=100_000, ge=1, validation_alias="SESSION_CACHE_MAX_ENTRIES"
    )
    show_routes: bool = Field(default=True, validation_alias="SHOW_ROUTES")

    # Observability: GET /metrics (Prometheus text format, unauthenticated: scrape it
    # in-cluster) and, on SIGTERM, how long /ready answers 503 before the listener closes.
    metrics_enabled: bool = Field(default=True, validation_alias="METRICS_ENABLED")
    shutdown_drain_seconds: float = Field(
        default=0.0, ge=0, le=60, validation_alias="SHUTDOWN_DRAIN_SECONDS"
    )

    # JWT plugin (spec §9.1) and bearer plugin (§9.2).
    jwt_key_algorithm: Literal["EdDSA", "ES256", "RS256"] = Field(
        default="EdDSA", validation_alias="JWT_KEY_ALGORITHM"
    )
    jwt_expires_in: int = Field(default=900, gt=0, validation_alias="JWT_EXPIRES_IN")
    jwt_issuer: str | None = Field(default=None, validation_alias="JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, validation_alias="JWT_AUDIENCE")
    jwks_rotation_interval: int | None = Field(
        default=None, gt=0, validation_alias="JWKS_ROTATION_INTERVAL"
    )
    jwt_header_reuse_seconds: float = Field(
        default=30.0, ge=0, validation_alias="JWT_HEADER_REUSE_SECONDS"
    )
    jwks_grace_period: int = Field(default=2592000, ge=0, validation_alias="JWKS_GRACE_PERIOD")
    jwks_refresh_seconds: float = Field(default=30.0, gt=0, validation_alias="JWKS_REFRESH_SECONDS")
    bearer_require_signature: bool = Field(
        default=False, validation_alias="BEARER_REQUIRE_SIGNATURE"
    )

    # Gateway integration (gateway/): the identity headers of a forward-auth answer and the
    # longest Cache-Control max-age (seconds) a positive answer carries; 0 = do not cache.
    gateway_user_id_header: str = Field(
        default="X-Auth-User-Id", pattern=HEADER_NAME, validation_alias="GATEWAY_USER_ID_HEADER"
    )
    gateway_user_email_header: str = Field(
        default="X-Auth-User-Email",
        pattern=HEADER_NAME,
        validation_alias="GATEWAY_USER_EMAIL_HEADER",
    )
    gateway_session_id_header: str = Field(
        default="X-Auth-Session-Id",
        pattern=HEADER_NAME,
        validation_alias="GATEWAY_SESSION_ID_HEADER",
    )
    gateway_cache_max_age: int = Field(
        default=30, ge=0, le=3600, validation_alias="GATEWAY_CACHE_MAX_AGE"
    )

    # Rate limiting (spec §8.2, README "Rate limiting") and client IPs behind proxies (§3.5).
    # On by default only in production; RATE_LIMIT_ENABLED overrides. Storage: `database` (the
    # rate_limit table, shared by replicas), `redis` (the default when REDIS_URL is set) or
    # `memory` (this process only). The default rule is RATE_LIMIT_MAX per RATE_LIMIT_WINDOW
    # seconds; RATE_LIMIT_CUSTOM_RULES (JSON) overrides paths or globs, `false` = no limit.
    # /api/internal/* has its own per-replica limit per caller address (max 0 = none).
    rate_limit_enabled: bool | None = Field(default=None, validation_alias="RATE_LIMIT_ENABLED")
    rate_limit_storage: Literal["database", "redis", "memory"] | None = Field(
        default=None, validation_alias="RATE_LIMIT_STORAGE"
    )
    rate_limit_window: float = Field(default=10, gt=0, validation_alias="RATE_LIMIT_WINDOW")
    rate_limit_max: int = Field(default=100, ge=0, validation_alias="RATE_LIMIT_MAX")
    rate_limit_custom_rules: Annotated[dict[str, Rule | None], NoDecode] = Field(
        default_factory=dict, validation_alias="RATE_LIMIT_CUSTOM_RULES"
    )
    rate_limit_internal_window: float = Field(
        default=10, gt=0, validation_alias="RATE_LIMIT_INTERNAL_WINDOW"
    )
    rate_limit_internal_max: int = Field(
        default=6000, ge=0, validation_alias="RATE_LIMIT_INTERNAL_MAX"
    )
    redis_url: SecretStr | None = Field(default=None, validation_alias="REDIS_URL")
    # Proxies whose X-Forwarded-For hops are skipped (IPs or CIDR ranges, comma-separated).
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        default=(), validation_alias="TRUSTED_PROXIES"
    )

    # E-mail and account lifecycle (auth/mail, verification, password_reset, change_email,
    # delete_user; README "E-mail and account lifecycle"). MAIL_TRANSPORT=log prints every
    # message and its links to the log (development); smtp sends through SMTP_HOST.
    mail_transport: Literal["log", "smtp"] = Field(default="log", validation_alias="MAIL_TRANSPORT")
    smtp_host: str | None = Field(default=None, validation_alias="SMTP_HOST")
    smtp_port: int = Field(default=587, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(default=None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, validation_alias="SMTP_PASSWORD")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", validation_alias="SMTP_SECURITY"
    )
    smtp_from: str = Field(
        default="auth-service <no-reply@localhost>", validation_alias="SMTP_FROM"
    )
    smtp_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, validation_alias="SMTP_TIMEOUT_SECONDS"
    )
    email_verification_enabled: bool = Field(
        default=True, validation_alias="EMAIL_VERIFICATION_ENABLED"
    )
    email_verification_required: bool = Field(
        default=False, validation_alias="EMAIL_VERIFICATION_REQUIRED"
    )
    email_verification_send_on_sign_up: bool | None = Field(
        default=None, validation_alias="EMAIL_VERIFICATION_SEND_ON_SIGN_UP"
    )
    email_verification_send_on_sign_in: bool = Field(
        default=False, validation_alias="EMAIL_VERIFICATION_SEND_ON_SIGN_IN"
    )
    email_verification_auto_sign_in: bool = Field(
        default=False, validation_alias="EMAIL_VERIFICATION_AUTO_SIGN_IN"
    )
    email_verification_expires_in: int = Field(
        default=3600, gt=0, validation_alias="EMAIL_VERIFICATION_EXPIRES_IN"
    )
    password_reset_enabled: bool = Field(default=True, validation_alias="PASSWORD_RESET_ENABLED")
    reset_password_token_expires_in: int = Field(
        default=3600, gt=0, validation_alias="RESET_PASSWORD_TOKEN_EXPIRES_IN"
    )
    revoke_sessions_on_password_reset: bool = Field(
        default=True, validation_alias="REVOKE_SESSIONS_ON_PASSWORD_RESET"
    )
    change_email_enabled: bool = Field(default=False, validation_alias="CHANGE_EMAIL_ENABLED")
    change_email_without_verification: bool = Field(
        default=False, validation_alias="CHANGE_EMAIL_WITHOUT_VERIFICATION"
    )
    change_email_send_confirmation: bool = Field(
        default=True, validation_alias="CHANGE_EMAIL_SEND_CONFIRMATION"
    )
    delete_user_enabled: bool = Field(default=False, validation_alias="DELETE_USER_ENABLED")
    delete_user_send_verification: bool = Field(
        default=False, validation_alias="DELETE_USER_SEND_VERIFICATION"
    )
    delete_user_token_expires_in: int = Field(
        default=86400, gt=0, validation_alias="DELETE_USER_TOKEN_EXPIRES_IN"
    )

    @model_validator(mode="after")
    def _mail_transport(self) -> Settings:
        if self.mail_transport == "smtp" and not self.smtp_host:
            raise ValueError("MAIL_TRANSPORT=smtp needs SMTP_HOST (and usually SMTP_PORT)")
        return self

    @property
    def send_verification_on_sign_up(self) -> bool:
        if self.email_verification_send_on_sign_up is not None:
            return self.email_verification_send_on_sign_up
        return self.email_verification_required

    # Social sign-in (auth/social, README "Social sign-in (OAuth / OIDC)"): GitHub and Google are
    # on when their client id and secret are set; OIDC_PROVIDERS (JSON list) adds OpenID Connect
    # providers found through their discovery document. Account linking as Better Auth's
    # `account.accountLinking`; ENCRYPT_OAUTH_TOKENS seals stored provider tokens with the secret.
    github_client_id: str | None = Field(default=None, validation_alias="GITHUB_CLIENT_ID")
    github_client_secret: SecretStr | None = Field(
        default=None, validation_alias="GITHUB_CLIENT_SECRET"
    )
    google_client_id: str | None = Field(default=None, validation_alias="GOOGLE_CLIENT_ID")
    google_client_secret: SecretStr | None = Field(
        default=None, validation_alias="GOOGLE_CLIENT_SECRET"
    )
    oidc_providers: list[OidcProviderSettings] = Field(
        default_factory=list, validation_alias="OIDC_PROVIDERS"
    )
    account_linking_enabled: bool = Field(default=True, validation_alias="ACCOUNT_LINKING_ENABLED")
    account_linking_trusted_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="ACCOUNT_LINKING_TRUSTED_PROVIDERS"
    )
    account_linking_allow_different_emails: bool = Field(
        default=False, validation_alias="ACCOUNT_LINKING_ALLOW_DIFFERENT_EMAILS"
    )
    account_linking_allow_unlinking_all: bool = Field(
        default=False, validation_alias="ACCOUNT_LINKING_ALLOW_UNLINKING_ALL"
    )
    account_linking_require_local_email_verified: bool = Field(
        default=True, validation_alias="ACCOUNT_LINKING_REQUIRE_LOCAL_EMAIL_VERIFIED"
    )
    encrypt_oauth_tokens: bool = Field(default=False, validation_alias="ENCRYPT_OAUTH_TOKENS")
    oauth_http_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, validation_alias="OAUTH_HTTP_TIMEOUT_SECONDS"
    )

    @field_validator("account_linking_trusted_providers", mode="before")
    @classmethod
    def _trusted_providers(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _unique_provider_ids(self) -> Settings:
        ids = [p.id for p in self.oidc_providers]
        if self.github_client_id:
            ids.append("github")
        if self.google_client_id:
            ids.append("google")
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"OIDC_PROVIDERS: provider id(s) {duplicates} configured twice")
        return self

    # Hardening (hardening.py, docs/security.md): request size limits answered 431/413 before
    # routing, and the security headers of every response (HSTS only when BETTER_AUTH_URL is
    # https; HSTS_MAX_AGE=0 turns it off).
    max_header_bytes: int = Field(default=65536, ge=1024, validation_alias="MAX_HEADER_BYTES")
    max_header_count: int = Field(default=100, ge=10, validation_alias="MAX_HEADER_COUNT")
    max_body_bytes: int = Field(default=1048576, ge=1024, validation_alias="MAX_BODY_BYTES")
    security_headers: bool = Field(default=True, validation_alias="SECURITY_HEADERS")
    hsts_max_age: int = Field(default=31536000, ge=0, validation_alias="HSTS_MAX_AGE")

    # OpenAPI document and reference page (openapi/, README "API reference (OpenAPI)"):
    # GET /api/auth/open-api/generate-schema, and the offline Swagger UI page at
    # GET /api/auth/reference, which is on outside production unless set (404 when off).
    openapi_enabled: bool = Field(default=True, validation_alias="OPENAPI_ENABLED")
    openapi_reference_enabled: bool | None = Field(
        default=None, validation_alias="OPENAPI_REFERENCE_ENABLED"
    )

    @field_validator("rate_limit_custom_rules", mode="before")
    @classmethod
    def _rate_limit_rules(cls, value: object) -> object:
        return parse_custom_rules(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _trusted_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_trusted_proxies(value.split(","))
        return value

    @model_validator(mode="after")
    def _rate_limit_store(self) -> Settings:
        if self.rate_limit_storage == "redis" and not self.redis_url_value:
            raise ValueError("RATE_LIMIT_STORAGE=redis needs REDIS_URL (redis://host:6379/0)")
        return self

    @property
    def redis_url_value(self) -> str | None:
        return self.redis_url.get_secret_value() or None if self.redis_url else None

    @property
    def rate_limit_on(self) -> bool:
        if self.rate_limit_enabled is not None:
            return self.rate_limit_enabled
        return self.is_production

    @property
    def rate_limit_store(self) -> Literal["database", "redis", "memory"]:
        if self.rate_limit_storage is not None:
            return self.rate_limit_storage
        return "redis" if self.redis_url_value else "database"

    @field_validator("cors_origins", "trusted_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("BETTER_AUTH_URL must be an http(s) URL such as http://localhost:3000")
        return value.rstrip("/")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @cached_property
    def base_origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @cached_property
    def secret_value(self) -> str:
        if self.secret is not None and self.secret.get_secret_value():
            return self.secret.get_secret_value()
        return DEV_FALLBACK_SECRET

    @cached_property
    def secure_cookies(self) -> bool:
        if self.use_secure_cookies is not None:
            return self.use_secure_cookies
        return self.base_url.startswith("https://")

    def check_safe_to_start(self) -> None:
        """Refuse a production start with a missing, short or well-known secret."""
        if not self.is_production:
            return
        for name, value in (
            ("BETTER_AUTH_SECRET", self.secret),
            ("API_GATEWAY_SECRET", self.api_gateway_secret),
            ("INTERNAL_SERVICE_SECRET", self.internal_service_secret),
        ):
            required = name == "BETTER_AUTH_SECRET"
            text = value.get_secret_value() if value is not None else ""
            if not text and not required:
                continue
            if not text:
                raise ConfigError(
                    f"{name} is not set. In production set it to a random string of at least "
                    f"{MIN_SECRET_LENGTH} characters, e.g. `openssl rand -base64 48`."
                )
            if len(text) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"{name} is too short ({len(text)} characters). Use at least "
                    f"{MIN_SECRET_LENGTH}, e.g. `openssl rand -base64 48`."
                )
            if text in WELL_KNOWN_SECRETS:
                raise ConfigError(
                    f"{name} is a well-known example value. Generate a new one, "
                    "e.g. `openssl rand -base64 48`."
                )
