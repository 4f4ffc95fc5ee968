"""Metrics, request ids and graceful-shutdown draining.

`ObservabilityMiddleware` is one pure ASGI middleware at the very edge of the stack (added
last, so it runs first): it takes or makes the request id, times the request, records the
status, and adds `x-request-id` to the response. Its per-request work is a few dict lookups,
two perf_counter calls and cached metric children: no logging, no regex, no formatting.

Route labels are bounded: the path itself when it is a known route path or fast-path key
(a fixed set built at start-up), the prefix for prefix-dispatched fast-path endpoints, and
"other" for everything else (unknown paths, scanners). Methods outside the usual set are
"other" too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.auth.sessions.cache import SessionCache
from auth_service.db.engine import Database
from auth_service.logs import request_id_var

log = logging.getLogger("auth_service.observability")

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_MAX = 128
_REQUEST_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
SIGN_IN_PATH = "/api/auth/sign-in/email"


def valid_request_id(raw: bytes) -> bool:
    """≤ 128 characters of [A-Za-z0-9._-] (no regex: delete the allowed bytes, expect none)."""
    return 0 < len(raw) <= REQUEST_ID_MAX and not raw.translate(None, _REQUEST_ID_CHARS)


class DatabasePoolCollector(Collector):
    """Pool usage, read at scrape time (nothing is recorded per request)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily(
            "auth_service_db_pool_connections",
            "Open connections of a database pool, by state",
            labels=["pool", "state"],
        )
        limit = GaugeMetricFamily(
            "auth_service_db_pool_max_connections",
            "Most connections a database pool opens",
            labels=["pool"],
        )
        hot = self.database.hot_pool_if_open
        if hot is not None:
            total, idle = hot.get_size(), hot.get_idle_size()
            size.add_metric(["hot", "idle"], idle)
            size.add_metric(["hot", "in_use"], total - idle)
            limit.add_metric(["hot"], hot.get_max_size())
        pool: Any = self.database.engine.pool
        try:
            in_use, idle = pool.checkedout(), pool.checkedin()
        except AttributeError:  # a pool class without counters
            pass
        else:
            size.add_metric(["main", "idle"], idle)
            size.add_metric(["main", "in_use"], in_use)
            limit.add_metric(["main"], pool.size() + getattr(pool, "_max_overflow", 0))
        yield size
        yield limit


class SessionCacheCollector(Collector):
    """Hits, misses, size and state of the optional session cache, read at scrape time."""

    def __init__(self, cache: SessionCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        cache = self.cache
        lookups = CounterMetricFamily(
            "auth_service_session_cache_lookups",
            "Session lookups answered from the cache (hit) or the database (miss)",
            labels=["result"],
        )
        lookups.add_metric(["hit"], cache.hits)
        lookups.add_metric(["miss"], cache.misses)
        yield lookups
        yield GaugeMetricFamily(
            "auth_service_session_cache_entries", "Sessions in the cache", value=len(cache)
        )
        yield GaugeMetricFamily(
            "auth_service_session_cache_listening",
            "1 while the cache's notification connection is up (the cache is in use)",
            value=1 if cache.listening else 0,
        )


class Metrics:
    """The service's metrics, in a registry of its own (one per app)."""

    def __init__(
        self, database: Database | None = None, session_cache: SessionCache | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "auth_service_http_requests",
            "HTTP requests, by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "auth_service_http_request_duration_seconds",
            "HTTP request latency (first byte in to last byte out), by method, route and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sign_ins = Counter(
            "auth_service_sign_in",
            "Sign-in attempts by outcome: success, invalid_credentials, other",
            ["outcome"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "auth_service_rate_limited",
            "Requests rejected by the rate limiter (429), by route",
            ["route"],
            registry=self.registry,
        )
        for outcome in ("success", "invalid_credentials", "other"):
            self.sign_ins.labels(outcome)
        ProcessCollector(registry=self.registry)
        if database is not None:
            self.registry.register(DatabasePoolCollector(database))
        if session_cache is not None:
            self.registry.register(SessionCacheCollector(session_cache))
        # (method, route, status) -> the bound increment and observe of that series.
        self._children: dict[
            tuple[str, str, int], tuple[Callable[[], None], Callable[[float], None]]
        ] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            status_text = str(status)
            children = (
                self.requests.labels(method, route, status_text).inc,
                self.latency.labels(method, route, status_text).observe,
            )
            self._children[key] = children
            if status == 429:
                self.rate_limited.labels(route)
        inc, observe = children
        inc()
        observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()
        if route == SIGN_IN_PATH:
            outcome = (
                "success"
                if 200 <= status < 300
                else "invalid_credentials"
                if status == 401
                else "other"
            )
            self.sign_ins.labels(outcome).inc()

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        routes: Iterable[str] = (),
        prefixes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = {path: path for path in routes}
        self.prefixes = tuple(prefixes)

    def route_label(self, path: str) -> str:
        label = self.routes.get(path)
        if label is not None:
            return label
        for prefix in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return prefix
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id: bytes | None = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                if valid_request_id(value):
                    request_id = value
                break
        if request_id is None:
            request_id = secrets.token_hex(8).encode()
        token = request_id_var.set(request_id.decode())
        header = (REQUEST_ID_HEADER, request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        metrics = self.metrics
        if metrics is None:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                request_id_var.reset(token)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            request_id_var.reset(token)
            method = scope["method"]
            metrics.record(
                method if method in METHODS else "other",
                self.route_label(scope["path"]),
                status,
                elapsed,
            )


def install_drain_on_signal(app: Any, drain_seconds: float) -> Callable[[], None]:
    """On SIGTERM/SIGINT: readiness turns 503 at once (app.state.draining), then, after
    `drain_seconds`, the previous handler (uvicorn's graceful shutdown: stop accepting, let
    in-flight requests finish) runs.

    Installed from the lifespan start-up, which runs inside uvicorn's signal capture; returns
    a function that puts the previous handlers back. Does nothing outside the main thread or
    when no Python handler is installed (e.g. in-process test clients)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        chained = previous[signum]
        first = not app.state.draining
        app.state.draining = True
        if first and drain_seconds > 0:
            log.info("shutdown: draining for %g s before closing the listener", drain_seconds)
            loop.call_soon_threadsafe(loop.call_later, drain_seconds, chained, signum, frame)
        else:
            chained(signum, frame)

    for signum in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(signum)
        if callable(current):
            previous[signum] = current
            signal.signal(signum, handler)

    def restore() -> None:
        for signum, chained in previous.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, chained)

    return restore
