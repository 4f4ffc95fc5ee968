"""Every query on the user and account tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.core.clock import as_db_time, utcnow
from auth_service.core.ids import generate_id
from auth_service.db.schema import Schema, by_key

CREDENTIAL_PROVIDER = "credential"

# SQLSTATE classes of values PostgreSQL refuses to store: 22 "data exception" (a NUL character
# in text) and 54 "program limit exceeded" (a string too long for the e-mail index).
_REJECTED_VALUE_CLASSES = frozenset({"22", "54"})


def is_rejected_value(exc: DBAPIError) -> bool:
    """True when the database refused a value the client sent, not a fault of the service."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _REJECTED_VALUE_CLASSES


def new_user_row(
    name: str, email: str, image: str | None, *, email_verified: bool = False
) -> dict[str, Any]:
    """The row of a user about to be created: a new id, now as both timestamps."""
    now = utcnow()
    return {
        "id": generate_id(),
        "name": name,
        "email": email,
        "email_verified": email_verified,
        "image": image,
        "created_at": now,
        "updated_at": now,
    }


class UserRepository:
    def __init__(self, schema: Schema) -> None:
        self._u = schema.user
        self._a = schema.account
        self._time_zone = schema.naming.timestamps_with_time_zone
        a, u = self._a, self._u
        # The user by e-mail and their password in one round trip.
        self._with_credential = select(
            *[c.label(f"u_{c.key}") for c in u.c],
            a.c.id.label("a_id"),
            a.c.password.label("a_password"),
        ).select_from(
            u.outerjoin(
                a,
                (a.c.user_id == u.c.id)
                & (a.c.provider_id == CREDENTIAL_PROVIDER)
                & (a.c.account_id == u.c.id),
            )
        )

    def _to_db(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            key: as_db_time(value, self._time_zone) if isinstance(value, datetime) else value
            for key, value in values.items()
        }

    async def email_exists(self, conn: AsyncConnection, email: str) -> bool:
        row = await conn.execute(select(self._u.c.id).where(self._u.c.email == email).limit(1))
        return row.first() is not None

    async def find_with_credential_by_email(
        self, conn: AsyncConnection, email: str
    ) -> tuple[dict[str, Any], str | None, str | None] | None:
        """The user, their credential account id and password hash."""
        row = (
            (await conn.execute(self._with_credential.where(self._u.c.email == email).limit(1)))
            .mappings()
            .first()
        )
        return _split(row) if row is not None else None

    async def find_with_credential_by_id(
        self, conn: AsyncConnection, user_id: str
    ) -> tuple[dict[str, Any], str | None, str | None] | None:
        row = (
            (await conn.execute(self._with_credential.where(self._u.c.id == user_id).limit(1)))
            .mappings()
            .first()
        )
        return _split(row) if row is not None else None

    async def insert_user(self, conn: AsyncConnection, values: dict[str, Any]) -> None:
        await conn.execute(self._u.insert().values(**self._to_db(values)))

    async def insert_account(self, conn: AsyncConnection, values: dict[str, Any]) -> None:
        await conn.execute(self._a.insert().values(**self._to_db(values)))

    async def update_user(
        self, conn: AsyncConnection, user_id: str, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        row = (
            (
                await conn.execute(
                    update(self._u)
                    .where(self._u.c.id == user_id)
                    .values(**self._to_db(values))
                    .returning(*by_key(self._u))
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    async def lock_password(
        self, conn: AsyncConnection, account_id: str, *, for_update: bool
    ) -> str | None:
        """The account's password hash, locked until the transaction ends (shared, or exclusive
        when the caller is about to rewrite it), so it cannot change under the caller."""
        query = select(self._a.c.password).where(self._a.c.id == account_id)
        query = query.with_for_update() if for_update else query.with_for_update(read=True)
        value = (await conn.execute(query)).scalar_one_or_none()
        return str(value) if value is not None else None

    async def set_password(
        self, conn: AsyncConnection, account_id: str, password_hash: str, now: datetime
    ) -> None:
        await conn.execute(
            update(self._a)
            .where(self._a.c.id == account_id)
            .values(password=password_hash, updated_at=as_db_time(now, self._time_zone))
        )


def _split(row: Any) -> tuple[dict[str, Any], str | None, str | None]:
    user = {key[2:]: value for key, value in row.items() if key.startswith("u_")}
    return user, row["a_id"], row["a_password"]
