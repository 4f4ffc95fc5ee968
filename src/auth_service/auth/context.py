"""Everything a request needs that is built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.core.cookies import CookieNames
from auth_service.core.origins import TrustedOrigins
from auth_service.core.passwords import PasswordHasher
from auth_service.db.engine import Database
from auth_service.db.schema import Naming, Schema, build_schema
from auth_service.settings import Settings


@dataclass(frozen=True, slots=True)
class AuthContext:
    settings: Settings
    secret: bytes
    cookies: CookieNames
    secure_cookies: bool
    trusted_origins: TrustedOrigins
    hasher: PasswordHasher
    schema: Schema
    database: Database

    @classmethod
    def build(cls, settings: Settings, database: Database) -> AuthContext:
        secure = settings.secure_cookies
        return cls(
            settings=settings,
            secret=settings.secret_value.encode(),
            cookies=CookieNames.build(settings.cookie_prefix, secure),
            secure_cookies=secure,
            trusted_origins=TrustedOrigins(
                [settings.base_origin, *settings.cors_origins, *settings.trusted_origins]
            ),
            hasher=PasswordHasher(
                settings.password_algorithm,
                argon2_memory_kib=settings.argon2_memory_kib,
                argon2_time_cost=settings.argon2_time_cost,
                argon2_parallelism=settings.argon2_parallelism,
                workers=settings.hash_workers,
            ),
            schema=build_schema(naming_from(settings)),
            database=database,
        )


def naming_from(settings: Settings) -> Naming:
    return Naming(
        preset=settings.db_naming,
        tables=dict(settings.db_table_names),
        columns=dict(settings.db_column_names),
    )
