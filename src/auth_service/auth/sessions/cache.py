"""An optional per-process cache of session lookups, invalidated by the database itself.

Off unless SESSION_CACHE_SECONDS > 0. When on, a get-session or validate whose token was read
recently is answered without a database round trip, and revocation still takes effect across
replicas within the delivery time of a PostgreSQL notification:

- Triggers (migration 0002) send `pg_notify('auth_service_cache', <user id>)` after every
  UPDATE or DELETE of a session or user row, and `'*'` after a TRUNCATE, whoever writes: this
  service, another replica, Better Auth itself, the admin console or psql.
- Each process keeps one LISTEN connection. A notification drops every cached session of that
  user. While the connection is down (or before it is up, or when the triggers are missing)
  the cache is bypassed and emptied: lookups go to the database as without a cache.
- This process's own UPDATE/DELETE statements on those tables empty the cache as they run, and
  nothing is stored until their connection is back in the pool, its transaction committed or
  rolled back (`invalidate_on_writes`): the replica that revoked a session never answers from
  a stale entry, even before its notification arrives.
- A lookup that started before an invalidation does not store its (possibly stale) row
  (a generation counter), and an entry lives at most SESSION_CACHE_SECONDS in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.sql.dml import Delete, Update

from auth_service.auth.sessions.repository import SessionRecord
from auth_service.db.engine import Database
from auth_service.db.schema import Schema

log = logging.getLogger("auth_service.session_cache")

CHANNEL = "auth_service_cache"
LISTENER = "auth-service session cache"
EVERYTHING = "*"
TRIGGER_NAMES = ("auth_service_session_changed", "auth_service_user_changed")
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)

_TRIGGERS_PRESENT = """
select count(distinct tgname) from pg_trigger
where not tgisinternal and tgname = any($1::text[])
  and tgrelid in (to_regclass($2), to_regclass($3))
"""


class SessionCache:
    def __init__(
        self, database: Database, schema: Schema, *, max_age: float, max_entries: int
    ) -> None:
        self.database = database
        self.schema = schema
        self.max_age = max_age
        self.max_entries = max_entries
        self.generation = 0
        self.listening = False
        self.hits = 0
        self.misses = 0
        self._writers = 0  # connections with an uncommitted write to the watched tables
        self._entries: dict[str, tuple[float, SessionRecord]] = {}
        self._tokens_by_user: dict[str, set[str]] = {}
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    # -- reads and writes of the cache ---------------------------------------------------
    def get(self, token: str) -> SessionRecord | None:
        if not self.listening:
            return None
        entry = self._entries.get(token)
        if entry is None:
            self.misses += 1
            return None
        expires, record = entry
        if expires < time.monotonic():
            self._drop(token, record)
            self.misses += 1
            return None
        self.hits += 1
        return SessionRecord(session=dict(record.session), user=dict(record.user))

    def put(self, token: str, record: SessionRecord, generation: int) -> None:
        """Store a row read from the database, unless something was invalidated since the
        read began (`generation` is the counter taken before the read)."""
        if not self.listening or generation != self.generation or self._writers:
            return
        if len(self._entries) >= self.max_entries:
            oldest = next(iter(self._entries))
            self._drop(oldest, self._entries[oldest][1])
        stored = SessionRecord(session=dict(record.session), user=dict(record.user))
        self._entries[token] = (time.monotonic() + self.max_age, stored)
        self._tokens_by_user.setdefault(str(record.user["id"]), set()).add(token)

    def invalidate_user(self, user_id: str) -> None:
        self.generation += 1
        for token in self._tokens_by_user.pop(user_id, ()):
            self._entries.pop(token, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._tokens_by_user.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, token: str, record: SessionRecord) -> None:
        self._entries.pop(token, None)
        tokens = self._tokens_by_user.get(str(record.user["id"]))
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._tokens_by_user[str(record.user["id"])]

    # -- local writes ----------------------------------------------------------------------
    def invalidate_on_writes(self) -> None:
        """Empty the cache whenever this process updates or deletes a session or user row
        through SQLAlchemy (revocations, refreshes, profile and e-mail changes, deletions)."""
        watched = {self.schema.session, self.schema.user}
        flag = "session_cache_writer"

        def after_execute(conn: Any, clause: Any, *_args: Any) -> None:
            if isinstance(clause, Update | Delete) and clause.table in watched:
                if not conn.info.get(flag):
                    conn.info[flag] = True
                    self._writers += 1
                self.clear()

        def checkin(_dbapi_conn: Any, record: Any) -> None:
            if record.info.pop(flag, False):
                self._writers = max(0, self._writers - 1)
                self.clear()

        engine = self.database.engine.sync_engine
        event.listen(engine, "after_execute", after_execute)
        event.listen(engine.pool, "checkin", checkin)

    # -- the LISTEN connection -------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background: start-up never waits for (or fails on) the database."""
        self.invalidate_on_writes()
        self._task = asyncio.get_running_loop().create_task(self._keep_listening())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()

    async def _keep_listening(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                if attempt == 0:
                    log.warning("session cache off until the database answers: %s", exc)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if not self.listening:  # the triggers are missing: stay off
                return
            attempt = 0
            log.info("session cache on (entries live at most %g s)", self.max_age)
            await self._lost.wait()
            self._set_off()
            log.warning("session cache off: its notification connection was lost; reconnecting")
            await self._disconnect()

    async def _connect(self) -> None:
        self._lost = asyncio.Event()
        args = self.database.asyncpg_connect_args()
        args["server_settings"] = {**args.get("server_settings", {}), "application_name": LISTENER}
        conn = await asyncpg.connect(**args, timeout=self.database.timeout)
        self._conn = conn
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notification)
        present = await conn.fetchval(
            _TRIGGERS_PRESENT,
            list(TRIGGER_NAMES),
            _qualified(self.schema.session.name),
            _qualified(self.schema.user.name),
        )
        if present != len(TRIGGER_NAMES):
            log.warning(
                "session cache stays off: the invalidation triggers are missing. "
                "Run `auth-service db migrate` to create them."
            )
            await self._disconnect()
            return
        # Anything cached before this point may have missed a notification.
        self.clear()
        self.listening = True

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == EVERYTHING:
            self.clear()
        else:
            self.invalidate_user(payload)

    def _set_off(self) -> None:
        self.listening = False
        self.clear()

    async def _disconnect(self) -> None:
        self._set_off()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self.database.timeout)


def _qualified(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
