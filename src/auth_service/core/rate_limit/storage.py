"""Where the counters live. Every store implements Better Auth's sliding window (spec §8.2)
as ONE atomic step per request:

    if no entry, or now - last_request >= window:  count = 1, last_request = now  -> allow
    elif count >= max:                              unchanged                      -> deny
    else:                                           count += 1, last_request = now -> allow

`consume` returns 0 to allow, else the retry-after in whole seconds (>= 1):
ceil((last_request + window - now) / 1000).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Protocol

from sqlalchemy import Table

from auth_service.core.rate_limit.rules import Rule
from auth_service.db.engine import Database, pooled_connection


class RateLimitStore(Protocol):
    async def consume(self, key: str, rule: Rule) -> int:
        """Count one request for `key`: 0 when allowed, else the retry-after in seconds."""
        ...

    async def purge(self, older_than_ms: int) -> int:
        """Delete (a bounded number of) entries idle for longer than `older_than_ms`."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- PostgreSQL

_NOW_MS = "(extract(epoch from statement_timestamp()) * 1000)::bigint"

# One statement: the upsert only writes when the request is allowed (its WHERE is the
# "allow" condition), so a denied request changes nothing; the second branch then reads the
# row for the retry-after. The database clock is the one clock of every replica.
# $1 key, $2 window (ms), $3 max, $4 retry-after when the row cannot be read (whole window).
_CONSUME_SQL = """\
WITH attempt AS (
    INSERT INTO {table} AS r ({id}, {key}, {count}, {last})
    VALUES (replace(gen_random_uuid()::text, '-', ''), $1, 1, {now})
    ON CONFLICT ({key}) DO UPDATE SET
        {count} = CASE WHEN excluded.{last} - r.{last} >= $2 THEN 1 ELSE r.{count} + 1 END,
        {last} = excluded.{last}
    WHERE excluded.{last} - r.{last} >= $2 OR r.{count} < $3
    RETURNING 1
)
SELECT 0 FROM attempt
UNION ALL
SELECT coalesce(
    (SELECT greatest(1, ceil(({last} + $2 - {now}) / 1000.0))::int
       FROM {table} WHERE {key} = $1),
    $4::int)
WHERE NOT EXISTS (SELECT 1 FROM attempt)"""

# $1 idle time (ms), $2 batch size.
_PURGE_SQL = """\
DELETE FROM {table} WHERE {id} IN (
    SELECT {id} FROM {table} WHERE {last} < {now} - $1::bigint LIMIT $2
)"""


class PostgresStore:
    """The `rate_limit` table (Better Auth's `rateLimit` model), shared by every replica.

    It has its own small asyncpg pool rather than the application's SQLAlchemy pool: the
    check runs on every /api/auth request, and a SQLAlchemy checkout + execute costs more
    than the statement itself (measured: about 1.7x the throughput on a limited endpoint).
    Its sessions use `synchronous_commit=off`: a counter lost in a database crash is harmless,
    a WAL flush per request is not. Connections are opened on demand (none while idle).
    """

    batch = 1000  # rows per purge statement
    max_batches = 10  # statements per purge run

    def __init__(self, database: Database, table: Table, *, max_connections: int = 5) -> None:
        engine = database.engine
        quote = engine.dialect.identifier_preparer.quote
        names = {
            "table": quote(table.name)
            if table.schema is None
            else f"{quote(table.schema)}.{quote(table.name)}",
            "id": quote(table.c.id.name),
            "key": quote(table.c.key.name),
            "count": quote(table.c.count.name),
            "last": quote(table.c.last_request.name),
            "now": _NOW_MS,
        }
        self._consume_sql = _CONSUME_SQL.format(**names)
        self._purge_sql = _PURGE_SQL.format(**names)
        self._database = database
        self._timeout = database.timeout
        self._max_connections = max(1, max_connections)
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _open(self) -> Any:
        async with self._opening:
            if self._pool is None:
                self._pool = await self._database.open_asyncpg_pool(
                    max_size=self._max_connections,
                    server_settings={"synchronous_commit": "off"},
                )
        return self._pool

    async def consume(self, key: str, rule: Rule) -> int:
        pool = self._pool or await self._open()
        async with pooled_connection(pool, self._timeout) as conn:
            return int(
                await conn.fetchval(
                    self._consume_sql, key, rule.window_ms, rule.max, rule.full_retry
                )
            )

    async def purge(self, older_than_ms: int) -> int:
        pool = self._pool or await self._open()
        deleted = 0
        async with pooled_connection(pool, self._timeout) as conn:
            for _ in range(self.max_batches):
                status = await conn.execute(self._purge_sql, older_than_ms, self.batch)
                count = int(status.rsplit(" ", 1)[-1])  # "DELETE <n>"
                deleted += count
                if count < self.batch:
                    break
        return deleted

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self._timeout)
        except (TimeoutError, OSError):
            pool.terminate()


# --------------------------------------------------------------------------- Redis

# The same algorithm as one Lua script (atomic in Redis); Redis's TIME is the one clock.
# Entries expire by themselves one window after their last allowed request.
_CONSUME_LUA = """\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'count', 'last')
local count = tonumber(state[1])
local last = tonumber(state[2])
if count == nil or last == nil or now - last >= window then
  count = 0
elseif count >= max then
  local retry = math.ceil((last + window - now) / 1000)
  if retry < 1 then retry = 1 end
  return retry
end
redis.call('HSET', KEYS[1], 'count', count + 1, 'last', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""

REDIS_KEY_PREFIX = "rate-limit:"


class RedisStore:
    """Redis (or Valkey) >= 5, through redis-py's asyncio client; shared by every replica."""

    def __init__(self, url: str, *, timeout: float) -> None:
        from redis.asyncio import Redis  # noqa: PLC0415 - only needed when configured

        self._client: Any = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script: Any = self._client.register_script(_CONSUME_LUA)

    async def consume(self, key: str, rule: Rule) -> int:
        return int(
            await self._script(keys=[REDIS_KEY_PREFIX + key], args=[rule.window_ms, rule.max])
        )

    async def purge(self, older_than_ms: int) -> int:
        return 0  # keys expire by themselves

    async def close(self) -> None:
        await self._client.aclose()


# --------------------------------------------------------------------------- memory


class MemoryStore:
    """This process only: for a single replica, tests, and the per-replica internal limit."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, list[int]] = {}  # key -> [count, last_request_ms]

    async def consume(self, key: str, rule: Rule) -> int:
        now = int(time.monotonic() * 1000)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.max_entries:
                self._evict(now, rule.window_ms)
            self._entries[key] = [1, now]
            return 0
        if now - entry[1] >= rule.window_ms:
            entry[0] = 1
        elif entry[0] >= rule.max:
            return max(1, math.ceil((entry[1] + rule.window_ms - now) / 1000))
        else:
            entry[0] += 1
        entry[1] = now
        return 0

    def _evict(self, now: int, window_ms: int) -> None:
        self._drop_older_than(now, window_ms)
        overflow = len(self._entries) - self.max_entries + 1
        if overflow > 0:  # still full: drop the oldest-created entries, as Better Auth does
            for key in list(self._entries)[:overflow]:
                del self._entries[key]

    def _drop_older_than(self, now: int, age_ms: int) -> int:
        stale = [key for key, (_, last) in self._entries.items() if now - last >= age_ms]
        for key in stale:
            del self._entries[key]
        return len(stale)

    async def purge(self, older_than_ms: int) -> int:
        return self._drop_older_than(int(time.monotonic() * 1000), older_than_ms)

    async def close(self) -> None:
        self._entries.clear()
