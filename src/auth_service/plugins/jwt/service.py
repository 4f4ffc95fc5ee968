"""JWT rules: which key signs, what the payload holds, how tokens are verified."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import jwt as pyjwt

from auth_service.auth.serializers import user_json
from auth_service.auth.sessions.service import ResolvedSession
from auth_service.core.clock import utcnow
from auth_service.core.ids import generate_id
from auth_service.db.engine import Database
from auth_service.db.schema import Schema
from auth_service.plugins.jwt.keys import (
    CURVES,
    KeyAlgorithm,
    KeySet,
    StoredKey,
    generate_private_key,
    load_private_jwk,
    load_public_jwk,
    to_jwk,
)
from auth_service.plugins.jwt.private_key_crypto import (
    PrivateKeyDecryptionError,
    decrypt_private_key,
    encrypt_private_key,
)
from auth_service.plugins.jwt.repository import JwksRepository
from auth_service.settings import Settings

log = logging.getLogger("auth_service.jwt")

# Once a token names a kid we do not know, re-read the key set at most this often.
UNKNOWN_KID_REFRESH_SECONDS = 5.0
# Tokens kept for reuse by the set-auth-jwt header (one per recently seen user row).
RECENT_TOKENS_MAX = 10_000
MAX_REMEMBERED_TOKEN_LENGTH = 8192


class JwtService:
    def __init__(self, settings: Settings, schema: Schema, database: Database) -> None:
        self.settings = settings
        self.alg: KeyAlgorithm = settings.jwt_key_algorithm
        self.issuer = settings.jwt_issuer or settings.base_origin
        self.audience = settings.jwt_audience or settings.base_origin
        self.expires_in = settings.jwt_expires_in
        self.grace = timedelta(seconds=settings.jwks_grace_period)
        self._secret = settings.secret_value
        self._database = database
        self._repository = JwksRepository(schema)
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()
        self._last_forced_refresh = 0.0
        self._recent_tokens: OrderedDict[tuple[Any, ...], tuple[str, float]] = OrderedDict()
        self._verified: OrderedDict[str, tuple[dict[str, Any], str]] = OrderedDict()
        self._unusable_kids: set[str] = set()

    # -- key set ---------------------------------------------------------------------------

    def _decode(self, row: dict[str, Any]) -> StoredKey:
        alg = row.get("alg") or self.alg
        public_jwk = json.loads(row["public_key"])
        private = None
        try:
            private = load_private_jwk(decrypt_private_key(self._secret, row["private_key"]), alg)
        except (PrivateKeyDecryptionError, ValueError) as exc:
            if row["id"] not in self._unusable_kids:  # once per key, not at every refresh
                self._unusable_kids.add(row["id"])
                log.warning("JWT key %s cannot be used for signing: %s", row["id"], exc)
        return StoredKey(
            kid=row["id"],
            alg=alg,
            crv=row.get("crv") or CURVES.get(alg),
            public_jwk=public_jwk,
            public_key=load_public_jwk(public_jwk, alg),
            private_key=private,
            created_at=row["created_at"],
            expires_at=row.get("expires_at"),
        )

    async def reload(self) -> KeySet:
        async with self._database.autocommit_engine.connect() as conn:
            rows = await self._repository.all(conn)
        self._keys = KeySet([self._decode(row) for row in rows], self.grace)
        return self._keys

    async def key_set(self) -> KeySet:
        keys = self._keys
        if (
            keys is not None
            and time.monotonic() - keys.loaded_at < self.settings.jwks_refresh_seconds
        ):
            return keys
        async with self._lock:
            keys = self._keys
            if (
                keys is None
                or time.monotonic() - keys.loaded_at >= self.settings.jwks_refresh_seconds
            ):
                keys = await self.reload()
            return keys

    async def signing_key(self) -> StoredKey:
        key = (await self.key_set()).signing_key(self.alg)
        if key is not None:
            return key
        async with self._lock:
            key = (await self.reload()).signing_key(self.alg)
            if key is None:
                await self.create_key(expire_others=False)
                key = (await self.reload()).signing_key(self.alg)
        if key is None:  # pragma: no cover - the key was just created
            raise RuntimeError("no JWT signing key available")
        return key

    async def create_key(self, *, expire_others: bool) -> str:
        """Generate, encrypt and store a key (serialised across replicas); returns its kid."""
        private = generate_private_key(self.alg)
        public_jwk = to_jwk(private.public_key())
        now = utcnow()
        interval = self.settings.jwks_rotation_interval
        row = {
            "id": generate_id(),
            "public_key": json.dumps(public_jwk, separators=(",", ":")),
            "private_key": encrypt_private_key(
                self._secret, json.dumps(to_jwk(private), separators=(",", ":"))
            ),
            "created_at": now,
            "expires_at": now + timedelta(seconds=interval) if interval else None,
            "alg": self.alg,
            "crv": CURVES.get(self.alg),
        }
        async with self._database.engine.begin() as conn:
            await self._repository.lock_for_creation(conn)
            if not expire_others:
                existing = KeySet(
                    [self._decode(r) for r in await self._repository.all(conn)], self.grace
                )
                live = existing.signing_key(self.alg)
                if live is not None:
                    return live.kid  # another replica created one meanwhile
            else:
                await self._repository.expire_live_keys(conn, now)
            await self._repository.insert(conn, row)
        return str(row["id"])

    async def jwks_json(self) -> bytes:
        keys = await self.key_set()
        if not keys.by_kid:
            await self.signing_key()
            keys = await self.key_set()
        return keys.jwks_json

    # -- tokens ----------------------------------------------------------------------------

    async def token_for_user(self, user: dict[str, Any]) -> str:
        key = await self.signing_key()
        assert key.private_key is not None  # signing_key only returns usable keys
        now = int(time.time())
        payload: dict[str, Any] = {"iat": now, **user_json(user)}
        payload["sub"] = user["id"]
        payload["exp"] = now + self.expires_in
        payload["iss"] = self.issuer
        payload["aud"] = self.audience
        return pyjwt.encode(
            payload, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": None}
        )

    async def set_auth_jwt_header(self, resolved: ResolvedSession) -> dict[str, str]:
        """The get-session after-hook: the session's user as a JWT in `set-auth-jwt`.

        A client polling get-session gets the same token again for JWT_HEADER_REUSE_SECONDS
        (its claims are the same user row; it still expires JWT_EXPIRES_IN after it was
        issued), which spares a signature per poll."""
        return {
            "set-auth-jwt": await self.reusable_token(resolved.user),
            "access-control-expose-headers": "set-auth-jwt",
        }

    async def reusable_token(self, user: dict[str, Any]) -> str:
        """A token for the user: the one issued in the last JWT_HEADER_REUSE_SECONDS for the
        same user row and key set, else a new one (it still expires JWT_EXPIRES_IN after it
        was issued)."""
        reuse = self.settings.jwt_header_reuse_seconds
        if reuse <= 0:
            return await self.token_for_user(user)
        key = (self._keys.loaded_at if self._keys else 0.0, *user.values())
        now = time.monotonic()
        cached = self._recent_tokens.get(key)
        if cached is not None and now - cached[1] < reuse:
            return cached[0]
        token = await self.token_for_user(user)
        recent = self._recent_tokens
        recent[key] = (token, now)
        recent.move_to_end(key)
        # Oldest first: drop what can no longer be reused, so the map holds only the tokens of
        # the last JWT_HEADER_REUSE_SECONDS (and never more than RECENT_TOKENS_MAX).
        while recent:
            first_key, (_, issued) = next(iter(recent.items()))
            if now - issued < reuse and len(recent) <= RECENT_TOKENS_MAX:
                break
            del recent[first_key]
        return token

    async def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid token signed by one of our published keys, else None.

        A gateway presents the same token on every request until it expires: a token verified
        once is remembered until its `exp`, as long as its key is still published (a key
        rotated out past its grace period, or retired, invalidates it at once)."""
        keys = await self.key_set()
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, kid = remembered
            if claims["exp"] > time.time() and kid in keys.by_kid:
                return claims
            del self._verified[token]
        claims_or_none = await self._verify_signature(token)
        if claims_or_none is not None and len(token) <= MAX_REMEMBERED_TOKEN_LENGTH:
            verified = self._verified
            verified[token] = (claims_or_none, pyjwt.get_unverified_header(token)["kid"])
            # Oldest first: drop expired tokens at the front (and keep at most
            # RECENT_TOKENS_MAX), so expired tokens do not hold memory until pushed out.
            now = time.time()
            while verified:
                first, (first_claims, _) = next(iter(verified.items()))
                if first_claims["exp"] > now and len(verified) <= RECENT_TOKENS_MAX:
                    break
                del verified[first]
        return claims_or_none

    async def _verify_signature(self, token: str) -> dict[str, Any] | None:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError:
            return None
        kid = header.get("kid")
        alg = header.get("alg")
        if not isinstance(kid, str) or not isinstance(alg, str):
            return None
        keys = await self.key_set()
        key = keys.by_kid.get(kid)
        if (
            key is None
            and time.monotonic() - self._last_forced_refresh > UNKNOWN_KID_REFRESH_SECONDS
        ):
            self._last_forced_refresh = time.monotonic()
            async with self._lock:
                keys = await self.reload()
            key = keys.by_kid.get(kid)
        if key is None or key.alg != alg:
            return None
        try:
            claims: dict[str, Any] = pyjwt.decode(
                token,
                key.public_key,
                algorithms=[key.alg],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iat", "sub"]},
            )
        except pyjwt.PyJWTError:
            return None
        return claims
