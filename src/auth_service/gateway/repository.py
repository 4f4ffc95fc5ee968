"""The queries of the internal user endpoint (sessions are read by the session repository)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.db.schema import Schema


class UserLookupRepository:
    def __init__(self, schema: Schema) -> None:
        u = schema.user
        columns = [c.label(c.key) for c in u.c]
        self._by_id = select(*columns).where(u.c.id == bindparam("value")).limit(1)
        self._by_email = select(*columns).where(u.c.email == bindparam("value")).limit(1)

    async def by_id(self, conn: AsyncConnection, user_id: str) -> dict[str, Any] | None:
        row = (await conn.execute(self._by_id, {"value": user_id})).mappings().first()
        return dict(row) if row is not None else None

    async def by_email(self, conn: AsyncConnection, email: str) -> dict[str, Any] | None:
        row = (await conn.execute(self._by_email, {"value": email})).mappings().first()
        return dict(row) if row is not None else None
