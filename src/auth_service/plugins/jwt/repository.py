"""Every query on the jwks table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.core.clock import as_db_time
from auth_service.db.schema import Schema, by_key

# Serialises key creation across replicas (pg_advisory_xact_lock key).
KEY_CREATION_LOCK = 0x6A776B73  # "jwks"


class JwksRepository:
    def __init__(self, schema: Schema) -> None:
        self._t = schema.jwks
        self._time_zone = schema.naming.timestamps_with_time_zone

    async def all(self, conn: AsyncConnection) -> list[dict[str, Any]]:
        rows = await conn.execute(select(*by_key(self._t)).order_by(self._t.c.created_at.desc()))
        return [dict(row) for row in rows.mappings()]

    async def lock_for_creation(self, conn: AsyncConnection) -> None:
        await conn.execute(text("select pg_advisory_xact_lock(:key)"), {"key": KEY_CREATION_LOCK})

    async def insert(self, conn: AsyncConnection, row: dict[str, Any]) -> None:
        values = {
            key: as_db_time(value, self._time_zone) if isinstance(value, datetime) else value
            for key, value in row.items()
        }
        await conn.execute(self._t.insert().values(**values))

    async def expire_live_keys(self, conn: AsyncConnection, now: datetime) -> int:
        """Stop signing with every live key (they stay published for the grace period)."""
        db_now = as_db_time(now, self._time_zone)
        result = await conn.execute(
            update(self._t)
            .where((self._t.c.expires_at.is_(None)) | (self._t.c.expires_at > db_now))
            .values(expires_at=db_now)
        )
        return int(result.rowcount or 0)
