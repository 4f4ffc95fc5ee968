"""Every query on the session table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.core.clock import as_db_time
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
        session_cols = [c.label(f"s_{c.key}") for c in s.c]
        user_cols = [c.label(f"u_{c.key}") for c in u.c]
        # One round trip: the session and its user by the session's token.
        self._by_token = (
            select(*session_cols, *user_cols)
            .select_from(s.join(u, u.c.id == s.c.user_id))
            .where(s.c.token == bindparam("token"))
        )

    def _db_time(self, value: datetime) -> datetime:
        return as_db_time(value, self._time_zone)

    async def find_with_user(self, conn: AsyncConnection, token: str) -> SessionRecord | None:
        if not _can_be_stored(token):
            return None
        row = (await conn.execute(self._by_token, {"token": token})).mappings().first()
        if row is None:
            return None
        session = {k[2:]: v for k, v in row.items() if k.startswith("s_")}
        user = {k[2:]: v for k, v in row.items() if k.startswith("u_")}
        return SessionRecord(session=session, user=user)

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
