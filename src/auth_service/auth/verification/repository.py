"""Every query on the verification table (spec §6.2): single-use tokens stored as
`identifier` -> `value` with an expiry, read newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth_service.core.clock import as_db_time, seconds, to_naive_utc, utcnow
from auth_service.core.ids import generate_id
from auth_service.db.schema import Schema

PURGE_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Verification:
    id: str
    value: str
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        return self.expires_at >= now


def _storable(identifier: str) -> bool:
    """PostgreSQL text cannot hold NUL: such an identifier matches no row."""
    return "\x00" not in identifier


class VerificationRepository:
    def __init__(self, schema: Schema) -> None:
        self._v = schema.verification
        self._time_zone = schema.naming.timestamps_with_time_zone
        self._last_purge: datetime | None = None

    def _db_time(self, value: datetime) -> datetime:
        return as_db_time(value, self._time_zone)

    async def create(
        self, conn: AsyncConnection, identifier: str, value: str, expires_in: int
    ) -> None:
        now = utcnow()
        await conn.execute(
            self._v.insert().values(
                id=generate_id(),
                identifier=identifier,
                value=value,
                expires_at=self._db_time(now + seconds(expires_in)),
                created_at=self._db_time(now),
                updated_at=self._db_time(now),
            )
        )

    async def find(self, conn: AsyncConnection, identifier: str) -> Verification | None:
        """The newest row of `identifier` (expired or not); expired rows of every identifier
        are purged at most once a minute, as Better Auth does during reads."""
        await self._purge_expired(conn)
        if not _storable(identifier):
            return None
        v = self._v
        row = (
            await conn.execute(
                select(v.c.id, v.c.value, v.c.expires_at)
                .where(v.c.identifier == identifier)
                .order_by(v.c.created_at.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return Verification(id=row.id, value=row.value, expires_at=to_naive_utc(row.expires_at))

    async def consume(self, conn: AsyncConnection, identifier: str) -> Verification | None:
        """Delete every row of `identifier` at once and return the newest if it is still live:
        of two concurrent consumers only one gets it."""
        if not _storable(identifier):
            return None
        v = self._v
        rows = (
            await conn.execute(
                delete(v)
                .where(v.c.identifier == identifier)
                .returning(v.c.id, v.c.value, v.c.expires_at, v.c.created_at)
            )
        ).all()
        if not rows:
            return None
        newest = max(rows, key=lambda row: to_naive_utc(row.created_at))
        found = Verification(
            id=newest.id, value=newest.value, expires_at=to_naive_utc(newest.expires_at)
        )
        return found if found.is_live(utcnow()) else None

    async def _purge_expired(self, conn: AsyncConnection) -> None:
        now = utcnow()
        if self._last_purge is not None and (
            (now - self._last_purge).total_seconds() < PURGE_INTERVAL_SECONDS
        ):
            return
        self._last_purge = now
        await conn.execute(delete(self._v).where(self._v.c.expires_at < self._db_time(now)))
