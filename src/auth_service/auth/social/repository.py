"""Every query of social sign-in: provider accounts, users by e-mail, OAuth state rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.core.clock import as_db_time, utcnow
from auth_service.core.ids import generate_id
from auth_service.db.schema import Schema, by_key


class AccountRepository:
    def __init__(self, schema: Schema) -> None:
        self._u = schema.user
        self._a = schema.account
        self._v = schema.verification
        self._time_zone = schema.naming.timestamps_with_time_zone

    def _to_db(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            key: as_db_time(value, self._time_zone) if isinstance(value, datetime) else value
            for key, value in values.items()
        }

    # ------------------------------------------------------------------ accounts

    async def find_by_provider_account(
        self, conn: AsyncConnection, provider_id: str, account_id: str
    ) -> dict[str, Any] | None:
        row = (
            (
                await conn.execute(
                    select(*by_key(self._a))
                    .where(self._a.c.provider_id == provider_id, self._a.c.account_id == account_id)
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    async def list_for_user(self, conn: AsyncConnection, user_id: str) -> list[dict[str, Any]]:
        rows = await conn.execute(
            select(*by_key(self._a))
            .where(self._a.c.user_id == user_id)
            .order_by(self._a.c.created_at, self._a.c.id)
        )
        return [dict(row) for row in rows.mappings()]

    async def insert(self, conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        row = {"id": generate_id(), "created_at": now, "updated_at": now, **values}
        await conn.execute(self._a.insert().values(**self._to_db(row)))
        return row

    async def update(self, conn: AsyncConnection, account_id: str, values: dict[str, Any]) -> None:
        await conn.execute(
            update(self._a)
            .where(self._a.c.id == account_id)
            .values(**self._to_db({**values, "updated_at": utcnow()}))
        )

    async def delete(self, conn: AsyncConnection, account_id: str) -> None:
        await conn.execute(delete(self._a).where(self._a.c.id == account_id))

    # ------------------------------------------------------------------ users

    async def find_user(self, conn: AsyncConnection, user_id: str) -> dict[str, Any] | None:
        row = (
            (await conn.execute(select(*by_key(self._u)).where(self._u.c.id == user_id)))
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    async def find_user_by_email(self, conn: AsyncConnection, email: str) -> dict[str, Any] | None:
        row = (
            (await conn.execute(select(*by_key(self._u)).where(self._u.c.email == email).limit(1)))
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    async def insert_user(self, conn: AsyncConnection, values: dict[str, Any]) -> None:
        await conn.execute(self._u.insert().values(**self._to_db(values)))

    async def mark_email_verified(self, conn: AsyncConnection, user_id: str) -> None:
        await conn.execute(
            update(self._u)
            .where(self._u.c.id == user_id)
            .values(**self._to_db({"email_verified": True, "updated_at": utcnow()}))
        )

    # ------------------------------------------------------------------ OAuth state

    async def insert_state(
        self, conn: AsyncConnection, identifier: str, value: str, expires_at: datetime
    ) -> None:
        now = utcnow()
        await conn.execute(
            self._v.insert().values(
                **self._to_db(
                    {
                        "id": generate_id(),
                        "identifier": identifier,
                        "value": value,
                        "expires_at": expires_at,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            )
        )

    async def find_state(self, conn: AsyncConnection, identifier: str) -> str | None:
        """The newest unexpired row's value (Better Auth reads the newest row)."""
        row = (
            await conn.execute(
                select(self._v.c.value)
                .where(
                    self._v.c.identifier == identifier,
                    self._v.c.expires_at > as_db_time(utcnow(), self._time_zone),
                )
                .order_by(self._v.c.created_at.desc())
                .limit(1)
            )
        ).first()
        return str(row[0]) if row is not None else None

    async def delete_state(self, conn: AsyncConnection, identifier: str) -> None:
        await conn.execute(delete(self._v).where(self._v.c.identifier == identifier))
