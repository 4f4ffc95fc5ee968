"""The rate limiter as pure ASGI middleware, in front of routing (spec §1, §8.2).

- `/api/auth` and everything under it, known routes or not: key `<ip>|<path after /api/auth>`
  (trailing slashes removed), `no-trusted-ip|<path>` when no client IP can be trusted.
- `/api/internal` and everything under it: key `internal|<peer address>` (the gateway or
  service calling), with its own rule, so a misbehaving caller cannot take the service down.
- OPTIONS to /api/auth is not counted (a browser's preflight; Better Auth never sees it).
- Over the limit: 429, `X-Retry-After: <seconds>`, Better Auth's JSON body.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.core.client_ip import ClientIpResolver
from auth_service.core.rate_limit.limiter import RateLimiter
from auth_service.core.rate_limit.rules import Rule, RuleTable

log = logging.getLogger("auth_service.rate_limit")

AUTH_PREFIX = "/api/auth"
INTERNAL_PREFIX = "/api/internal"
NO_TRUSTED_IP = "no-trusted-ip"

BODY = b'{"message":"Too many requests. Please try again later."}'
_BASE_HEADERS = (
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
)


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        rules: RuleTable,
        resolver: ClientIpResolver,
        internal_limiter: RateLimiter | None = None,
        internal_rule: Rule | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.rules = rules
        self.resolver = resolver
        self.internal_limiter = internal_limiter if internal_rule is not None else None
        self.internal_rule = internal_rule
        self._warned_no_ip = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, self._closing_receive(receive), send)
                return
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if _under(path, AUTH_PREFIX):
            if scope["method"] == "OPTIONS":
                await self.app(scope, receive, send)
                return
            relative = path[len(AUTH_PREFIX) :].rstrip("/") or "/"
            rule = self.rules.rule_for(relative)
            if rule is not None:
                ip = self.resolver.from_raw_headers(scope["headers"])
                if ip is None:
                    ip = NO_TRUSTED_IP
                    if not self._warned_no_ip:
                        self._warn_no_ip()
                retry = await self.limiter.check(f"{ip}|{relative}", rule)
                if retry:
                    await _too_many_requests(send, retry)
                    return
        elif (
            self.internal_limiter is not None
            and self.internal_rule is not None
            and _under(path, INTERNAL_PREFIX)
        ):
            client = scope.get("client")
            caller = client[0] if client else "unknown"
            retry = await self.internal_limiter.check(f"internal|{caller}", self.internal_rule)
            if retry:
                await _too_many_requests(send, retry)
                return
        await self.app(scope, receive, send)

    def _warn_no_ip(self) -> None:
        self._warned_no_ip = True
        log.warning(
            "rate limiting found no trusted client IP (X-Forwarded-For missing or not "
            "trusted) and falls back to one shared bucket per path; have the gateway set "
            "X-Forwarded-For, and list its addresses in TRUSTED_PROXIES if it appends to it"
        )

    def _closing_receive(self, receive: Receive) -> Receive:
        """Close the stores (and their connections) when the server shuts down."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.close()
            return message

        return wrapped

    async def close(self) -> None:
        limiters = [self.limiter]
        if self.internal_limiter is not None:
            limiters.append(self.internal_limiter)
        results = await asyncio.gather(
            *(limiter.close() for limiter in limiters), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                log.warning("closing a rate-limit store failed: %s", result)


async def _too_many_requests(send: Send, retry_after: int) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [*_BASE_HEADERS, (b"x-retry-after", str(retry_after).encode())],
        }
    )
    await send({"type": "http.response.body", "body": BODY, "more_body": False})
