"""`install_rate_limiting(app, settings, database)`: one call from the app factory."""

from __future__ import annotations

import logging

from starlette.applications import Starlette

from auth_service.core.client_ip import ClientIpResolver
from auth_service.core.rate_limit.limiter import RateLimiter
from auth_service.core.rate_limit.middleware import RateLimitMiddleware
from auth_service.core.rate_limit.rules import Rule, RuleTable
from auth_service.core.rate_limit.storage import (
    MemoryStore,
    PostgresStore,
    RateLimitStore,
    RedisStore,
)
from auth_service.db.engine import Database
from auth_service.db.schema import Schema
from auth_service.settings import Settings

log = logging.getLogger("auth_service.rate_limit")


def build_store(settings: Settings, database: Database, schema: Schema) -> RateLimitStore:
    backend = settings.rate_limit_store
    if backend == "redis":
        url = settings.redis_url_value
        assert url is not None  # checked by Settings
        return RedisStore(url, timeout=settings.db_timeout_seconds)
    if backend == "memory":
        return MemoryStore()
    return PostgresStore(
        database, schema.rate_limit, max_connections=max(2, settings.db_pool_size // 2)
    )


def install_rate_limiting(
    app: Starlette, settings: Settings, database: Database, schema: Schema
) -> None:
    """Add the limiter in front of routing, when rate limiting is on.

    Call it after the other `add_middleware` calls that must run after it (the last added
    middleware runs first).
    """
    if not settings.rate_limit_on:
        return
    rules = RuleTable(
        Rule(window=settings.rate_limit_window, max=settings.rate_limit_max),
        settings.rate_limit_custom_rules,
    )
    limiter = RateLimiter(
        build_store(settings, database, schema),
        name=settings.rate_limit_store,
        purge_after_seconds=max(rules.windows()),
    )
    internal_rule = (
        Rule(window=settings.rate_limit_internal_window, max=settings.rate_limit_internal_max)
        if settings.rate_limit_internal_max > 0
        else None
    )
    # Per replica and in memory: a hot single key in a shared store would serialise every
    # internal call; what must be protected is each process's capacity.
    internal = RateLimiter(
        MemoryStore(), name="internal", purge_after_seconds=settings.rate_limit_internal_window
    )
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        rules=rules,
        resolver=ClientIpResolver(settings.trusted_proxies),
        internal_limiter=internal if internal_rule is not None else None,
        internal_rule=internal_rule,
    )
    log.info(
        "rate limiting on: %s storage, default %d per %gs",
        settings.rate_limit_store,
        settings.rate_limit_max,
        settings.rate_limit_window,
    )
