"""The tables of Better Auth (spec §6), with SQL names chosen by configuration.

Every column has a stable logical key (`table.c.email_verified`) used by the code; its SQL
name comes from the naming preset (`snake_case` as Better Auth's Drizzle schema, `camelCase`
as its Kysely migrator) and per-column overrides, so an existing database works unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.sql.elements import Label


def by_key(table: Table) -> list[Label[Any]]:
    """The table's columns labelled with their logical keys, so result rows are keyed the same
    way whatever the SQL names are (`select(*by_key(t))`, `.returning(*by_key(t))`)."""
    return [column.label(column.key) for column in table.c]


def camel_case(name: str) -> str:
    return re.sub(r"_([a-z])", lambda match: match.group(1).upper(), name)


@dataclass(frozen=True)
class Naming:
    """How logical table and column names map to SQL names."""

    preset: str = "snake_case"
    tables: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # "user.email_verified" -> SQL name

    @property
    def timestamps_with_time_zone(self) -> bool:
        return self.preset == "camelCase"

    def table(self, logical: str) -> str:
        if logical in self.tables:
            return self.tables[logical]
        return camel_case(logical) if self.preset == "camelCase" else logical

    def column(self, table: str, logical: str) -> str:
        override = self.columns.get(f"{table}.{logical}")
        if override:
            return override
        return camel_case(logical) if self.preset == "camelCase" else logical


@dataclass(frozen=True)
class Schema:
    metadata: MetaData
    user: Table
    session: Table
    account: Table
    verification: Table
    jwks: Table
    rate_limit: Table
    naming: Naming


def build_schema(naming: Naming | None = None) -> Schema:
    naming = naming or Naming()
    metadata = MetaData()
    timestamp = DateTime(timezone=naming.timestamps_with_time_zone)

    def col(table: str, key: str, *args: object, **kwargs: object) -> Column[object]:
        return Column(naming.column(table, key), *args, key=key, **kwargs)  # type: ignore[arg-type]

    user_name = naming.table("user")
    user = Table(
        user_name,
        metadata,
        col("user", "id", Text, primary_key=True),
        col("user", "name", Text, nullable=False),
        col("user", "email", Text, nullable=False),
        col("user", "email_verified", Boolean, nullable=False, server_default="false"),
        col("user", "image", Text, nullable=True),
        col("user", "created_at", timestamp, nullable=False, server_default=func.now()),
        col("user", "updated_at", timestamp, nullable=False, server_default=func.now()),
        UniqueConstraint("email", name=f"{user_name}_email_unique"),
    )
    user_fk_target = f"{user_name}.{naming.column('user', 'id')}"

    session_name = naming.table("session")
    session = Table(
        session_name,
        metadata,
        col("session", "id", Text, primary_key=True),
        col("session", "expires_at", timestamp, nullable=False),
        col("session", "token", Text, nullable=False),
        col("session", "created_at", timestamp, nullable=False, server_default=func.now()),
        col("session", "updated_at", timestamp, nullable=False),
        col("session", "ip_address", Text, nullable=True),
        col("session", "user_agent", Text, nullable=True),
        col(
            "session",
            "user_id",
            Text,
            ForeignKey(user_fk_target, ondelete="CASCADE", name=f"{session_name}_user_id_fk"),
            nullable=False,
        ),
        UniqueConstraint("token", name=f"{session_name}_token_unique"),
        Index("session_userId_idx", "user_id"),
    )

    account_name = naming.table("account")
    account = Table(
        account_name,
        metadata,
        col("account", "id", Text, primary_key=True),
        col("account", "account_id", Text, nullable=False),
        col("account", "provider_id", Text, nullable=False),
        col(
            "account",
            "user_id",
            Text,
            ForeignKey(user_fk_target, ondelete="CASCADE", name=f"{account_name}_user_id_fk"),
            nullable=False,
        ),
        col("account", "access_token", Text),
        col("account", "refresh_token", Text),
        col("account", "id_token", Text),
        col("account", "access_token_expires_at", timestamp),
        col("account", "refresh_token_expires_at", timestamp),
        col("account", "scope", Text),
        col("account", "password", Text),
        col("account", "created_at", timestamp, nullable=False, server_default=func.now()),
        col("account", "updated_at", timestamp, nullable=False),
        Index("account_userId_idx", "user_id"),
    )

    verification = Table(
        naming.table("verification"),
        metadata,
        col("verification", "id", Text, primary_key=True),
        col("verification", "identifier", Text, nullable=False),
        col("verification", "value", Text, nullable=False),
        col("verification", "expires_at", timestamp, nullable=False),
        col("verification", "created_at", timestamp, nullable=False, server_default=func.now()),
        col("verification", "updated_at", timestamp, nullable=False, server_default=func.now()),
        Index("verification_identifier_idx", "identifier"),
    )

    jwks = Table(
        naming.table("jwks"),
        metadata,
        col("jwks", "id", Text, primary_key=True),
        col("jwks", "public_key", Text, nullable=False),
        col("jwks", "private_key", Text, nullable=False),
        col("jwks", "created_at", timestamp, nullable=False),
        col("jwks", "expires_at", timestamp),
        col("jwks", "alg", Text),
        col("jwks", "crv", Text),
    )

    rate_limit_name = naming.table("rate_limit")
    rate_limit = Table(
        rate_limit_name,
        metadata,
        col("rate_limit", "id", Text, primary_key=True),
        col("rate_limit", "key", Text, nullable=False),
        col("rate_limit", "count", Integer, nullable=False),
        col("rate_limit", "last_request", BigInteger, nullable=False),
        UniqueConstraint("key", name=f"{rate_limit_name}_key_unique"),
    )
    return Schema(metadata, user, session, account, verification, jwks, rate_limit, naming)
