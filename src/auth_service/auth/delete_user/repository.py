"""The deletion of a user with everything that hangs off it."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.db.schema import Schema


class AccountDeletionRepository:
    def __init__(self, schema: Schema) -> None:
        self._u = schema.user
        self._s = schema.session
        self._a = schema.account

    async def delete_user(self, conn: AsyncConnection, user_id: str) -> bool:
        """Sessions, accounts, then the user (the foreign keys cascade too, but a database
        made without them is cleaned the same way). Run it inside a transaction."""
        await conn.execute(delete(self._s).where(self._s.c.user_id == user_id))
        await conn.execute(delete(self._a).where(self._a.c.user_id == user_id))
        result = await conn.execute(delete(self._u).where(self._u.c.id == user_id))
        return bool(result.rowcount)
