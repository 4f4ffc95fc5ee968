"""Password hashing: argon2id by default, Better Auth's scrypt read and optionally written.

Hashing runs in a bounded thread pool (argon2-cffi and libsodium's scrypt, through PyNaCl's
cffi bindings, release the GIL), so a burst of sign-ins queues there instead of blocking the
event loop. scrypt is libsodium's rather than hashlib's (OpenSSL): the same bytes, measured
about 1.5x faster at Better Auth's parameters (61 vs 95 ms a hash on this machine).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type as Argon2Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from nacl.bindings import crypto_pwhash_scryptsalsa208sha256_ll

# Better Auth's scrypt parameters (spec §5).
SCRYPT_N = 16384
SCRYPT_R = 16
SCRYPT_P = 1
SCRYPT_DKLEN = 64
SCRYPT_MAXMEM = 64 * 1024 * 1024


def _normalise(password: str) -> bytes:
    return unicodedata.normalize("NFKC", password).encode()


def _scrypt_key(password: str, salt_hex: str) -> bytes:
    """Better Auth's derivation: the hex salt string itself, as ASCII bytes, is the salt."""
    key: bytes = crypto_pwhash_scryptsalsa208sha256_ll(
        _normalise(password),
        salt_hex.encode(),
        SCRYPT_N,
        SCRYPT_R,
        SCRYPT_P,
        dklen=SCRYPT_DKLEN,
        maxmem=SCRYPT_MAXMEM,
    )
    return key


def scrypt_hash(password: str) -> str:
    salt_hex = secrets.token_hex(16)
    return f"{salt_hex}:{_scrypt_key(password, salt_hex).hex()}"


def scrypt_verify(stored: str, password: str) -> bool:
    salt_hex, sep, key_hex = stored.partition(":")
    if not sep or not salt_hex or len(key_hex) != SCRYPT_DKLEN * 2:
        return False
    key = _scrypt_key(password, salt_hex)
    return hmac.compare_digest(key.hex(), key_hex.lower())


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    needs_rehash: bool


class PasswordHasher:
    """Hashes with the configured algorithm and verifies both formats."""

    def __init__(
        self,
        algorithm: Literal["argon2id", "scrypt"],
        *,
        argon2_memory_kib: int,
        argon2_time_cost: int,
        argon2_parallelism: int,
        workers: int,
    ) -> None:
        self.algorithm = algorithm
        self._argon2 = Argon2Hasher(
            time_cost=argon2_time_cost,
            memory_cost=argon2_memory_kib,
            parallelism=argon2_parallelism,
            type=Argon2Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="password-hash")
        self._dummy_hash = self._hash_sync("dummy-password-for-timing-equalisation")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _hash_sync(self, password: str) -> str:
        if self.algorithm == "scrypt":
            return scrypt_hash(password)
        return self._argon2.hash(_normalise(password))

    def _verify_sync(self, stored: str, password: str) -> VerifyResult:
        if stored.startswith("$argon2"):
            try:
                self._argon2.verify(stored, _normalise(password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return VerifyResult(ok=False, needs_rehash=False)
            rehash = self.algorithm != "argon2id" or self._argon2.check_needs_rehash(stored)
            return VerifyResult(ok=True, needs_rehash=rehash)
        matches = scrypt_verify(stored, password)
        return VerifyResult(ok=matches, needs_rehash=matches and self.algorithm != "scrypt")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hash_sync, password)

    async def verify(self, stored: str, password: str) -> VerifyResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._verify_sync, stored, password)

    async def spend_equal_time(self, password: str) -> None:
        """Verify against a dummy hash so an unknown account costs what a known one does."""
        await self.verify(self._dummy_hash, password)
