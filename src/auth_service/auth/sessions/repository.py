"""Every query on the session table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.core.clock import as_db_time
from auth_service.db.engine import Database
from auth_service.db.schema import Schema, by_key


def _can_be_stored(token: str) -> bool:
    """PostgreSQL text cannot hold NUL, so a token containing one matches no row."""
    return "\x00" not in token


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session: dict[str, Any]
    user: dict[str, Any]


class SessionRepository:
    def __init__(self, schema: Schema) -> None:
        s, u = schema.session, schema.user
        self._s = s
        self._u = u
        self._time_zone = schema.naming.timestamps_with_time_zone
        # One round trip: the session and its user by the session's token, compiled once to
        # asyncpg's SQL ($1) so it runs as a cached prepared statement on the hot pool.
        by_token = (
            select(*s.c, *u.c)
            .select_from(s.join(u, u.c.id == s.c.user_id))
            .where(s.c.token == bindparam("token"))
        )
        self._by_token_sql = str(by_token.compile(dialect=asyncpg_dialect()))  # type: ignore[no-untyped-call]
        self._session_keys = tuple(c.key for c in s.c)
        self._user_keys = tuple(c.key for c in u.c)
        self._session_width = len(self._session_keys)

    def _db_time(self, value: datetime) -> datetime:
        return as_db_time(value, self._time_zone)

    async def find_with_user(self, database: Database, token: str) -> SessionRecord | None:
        """The session and its user by token: one round trip on the hot pool."""
        if not _can_be_stored(token):
            return None
        row = await database.fetchrow(self._by_token_sql, token)
        if row is None:
            return None
        values = tuple(row)
        n = self._session_width
        return SessionRecord(
            session=dict(zip(self._session_keys, values[:n], strict=True)),
            user=dict(zip(self._user_keys, values[n:], strict=True)),
        )

    async def insert(self, conn: AsyncConnection, values: dict[str, Any]) -> None:
        await conn.execute(self._s.insert().values(**self._to_db(values)))

    def _to_db(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._db_time(v) if isinstance(v, datetime) else v for k, v in values.items()}

    async def extend(
        self, conn: AsyncConnection, token: str, expires_at: datetime, updated_at: datetime
    ) -> bool:
        result = await conn.execute(
            update(self._s)
            .where(self._s.c.token == token)
            .values(expires_at=self._db_time(expires_at), updated_at=self._db_time(updated_at))
        )
        return bool(result.rowcount)

    async def delete_by_token(self, conn: AsyncConnection, token: str) -> None:
        if not _can_be_stored(token):
            return
        await conn.execute(delete(self._s).where(self._s.c.token == token))

    async def delete_user_session_by_token(
        self, conn: AsyncConnection, user_id: str, token: str
    ) -> bool:
        if not _can_be_stored(token):
            return False
        result = await conn.execute(
            delete(self._s).where(self._s.c.token == token, self._s.c.user_id == user_id)
        )
        return bool(result.rowcount)

    async def delete_all_for_user(self, conn: AsyncConnection, user_id: str) -> None:
        await conn.execute(delete(self._s).where(self._s.c.user_id == user_id))

    async def delete_others_for_user(
        self, conn: AsyncConnection, user_id: str, keep_token: str
    ) -> None:
        await conn.execute(
            delete(self._s).where(self._s.c.user_id == user_id, self._s.c.token != keep_token)
        )

    async def list_active(
        self, conn: AsyncConnection, user_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        rows = await conn.execute(
            select(*by_key(self._s))
            .where(self._s.c.user_id == user_id, self._s.c.expires_at > self._db_time(now))
            .order_by(self._s.c.created_at)
        )
        return [dict(row) for row in rows.mappings()]
