"""A store behind a fail-open guard, with occasional purging of expired entries.

When the store fails (database or Redis down), requests are let through: the limiter must
not turn an outage into errors, and the request itself then meets the outage (503). After a
failure the store is left alone for `retry_seconds`, so an outage costs one slow attempt per
interval rather than one per request; the failure is logged once per `log_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from auth_service.core.rate_limit.rules import Rule
from auth_service.core.rate_limit.storage import RateLimitStore

log = logging.getLogger("auth_service.rate_limit")


class RateLimiter:
    def __init__(
        self,
        store: RateLimitStore,
        *,
        name: str,
        purge_after_seconds: float | None = None,
        purge_every_seconds: float = 60.0,
        retry_seconds: float = 1.0,
        log_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.name = name
        self.retry_seconds = retry_seconds
        self.log_seconds = log_seconds
        self.purge_every_seconds = purge_every_seconds
        self._purge_after_ms = (
            None if purge_after_seconds is None else math.ceil(purge_after_seconds * 1000)
        )
        self._next_purge = 0.0  # the first checked request starts one
        self._purging: asyncio.Task[None] | None = None
        self._skip_until = 0.0  # store failed: fail open until then
        self._failures = 0  # failures not yet logged
        self._next_log = 0.0
        self._down = False

    async def check(self, key: str, rule: Rule) -> int:
        """0 to let the request through, else the retry-after (seconds) of a 429."""
        now = time.monotonic()
        if self._skip_until:
            if now < self._skip_until:
                return 0
            self._skip_until = 0.0
        try:
            retry = await self.store.consume(key, rule)
        except Exception as exc:  # fail open, whatever the store's error
            self._failed(exc)
            return 0
        if self._down:
            self._down = False
            log.info("%s rate-limit store is reachable again", self.name)
        if now >= self._next_purge and self._purge_after_ms is not None:
            self._next_purge = now + self.purge_every_seconds
            if self._purging is None or self._purging.done():
                self._purging = asyncio.create_task(self._purge(self._purge_after_ms))
        return retry

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._skip_until = now + self.retry_seconds
        self._down = True
        self._failures += 1
        if now < self._next_log:
            return
        self._next_log = now + self.log_seconds
        log.warning(
            "%s rate-limit store unavailable (%s: %s); letting requests through unlimited "
            "(%d failure(s) since the last report; next report in %.0fs at most)",
            self.name,
            type(exc).__name__,
            exc,
            self._failures,
            self.log_seconds,
        )
        self._failures = 0

    async def _purge(self, older_than_ms: int) -> None:
        try:
            deleted = await self.store.purge(older_than_ms)
        except Exception as exc:
            log.info("%s rate-limit purge skipped (%s)", self.name, type(exc).__name__)
            return
        if deleted:
            log.debug("%s rate-limit purge deleted %d expired entries", self.name, deleted)

    async def close(self) -> None:
        if self._purging is not None and not self._purging.done():
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._purging
        await self.store.close()
