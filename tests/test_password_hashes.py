"""Our scrypt is Better Auth's scrypt, checked against better-auth's own hashPassword /
verifyPassword (tests/interop/hash_password.mjs, "better-auth/crypto") in both directions."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterator

import pytest

from auth_service.core.passwords import PasswordHasher, scrypt_hash, scrypt_verify
from tests.support.npm import ensure_interop_node_modules, run_node

SCRIPT = "hash_password.mjs"
SCRYPT_RE = re.compile(r"^[0-9a-f]{32}:[0-9a-f]{128}$")
PASSWORD = "correct horse battery staple"
# U+FB01 LATIN SMALL LIGATURE FI: NFKC turns it into "fi", so both spellings are one password.
LIGATURE = "\ufb01sh and chips 2024"
PLAIN = "fish and chips 2024"


def better_auth_hash(password: str) -> str:
    result = run_node(SCRIPT, password)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def better_auth_verify(stored: str, password: str) -> bool:
    result = run_node(SCRIPT, "--verify", stored, password)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("true", "false"), result.stdout
    return result.stdout.strip() == "true"


@pytest.fixture(scope="module", autouse=True)
def _node_modules() -> None:
    ensure_interop_node_modules()


@pytest.fixture(scope="module")
def better_auth_hashes() -> dict[str, str]:
    return {PASSWORD: better_auth_hash(PASSWORD), LIGATURE: better_auth_hash(LIGATURE)}


@pytest.fixture(scope="module")
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher(
        "argon2id", argon2_memory_kib=19456, argon2_time_cost=2, argon2_parallelism=1, workers=1
    )
    yield hasher
    hasher.close()


def test_better_auth_hash_format(better_auth_hashes: dict[str, str]) -> None:
    for stored in better_auth_hashes.values():
        assert SCRYPT_RE.match(stored), stored


def test_scrypt_verify_accepts_better_auth_hash(better_auth_hashes: dict[str, str]) -> None:
    stored = better_auth_hashes[PASSWORD]
    assert scrypt_verify(stored, PASSWORD)
    assert not scrypt_verify(stored, PASSWORD + " ")
    assert not scrypt_verify(stored, "Correct horse battery staple")
    assert not scrypt_verify(stored, "")


def test_scrypt_verify_normalises_nfkc(better_auth_hashes: dict[str, str]) -> None:
    assert LIGATURE != PLAIN
    assert unicodedata.normalize("NFKC", LIGATURE) == PLAIN
    stored = better_auth_hashes[LIGATURE]
    assert scrypt_verify(stored, LIGATURE)
    assert scrypt_verify(stored, PLAIN)  # Better Auth hashed NFKC(ligature) == plain
    assert not scrypt_verify(stored, "fish and chips 2025")


def test_password_hasher_verifies_better_auth_hash_and_asks_for_rehash(
    better_auth_hashes: dict[str, str], hasher: PasswordHasher
) -> None:
    stored = better_auth_hashes[LIGATURE]

    async def run() -> tuple[bool, bool, bool, bool]:
        good = await hasher.verify(stored, PLAIN)
        bad = await hasher.verify(stored, "not the password")
        return good.ok, good.needs_rehash, bad.ok, bad.needs_rehash

    assert asyncio.run(run()) == (True, True, False, False)


def test_better_auth_verifies_our_scrypt_hash() -> None:
    ours = scrypt_hash(PASSWORD)
    assert SCRYPT_RE.match(ours)
    assert better_auth_verify(ours, PASSWORD)
    assert not better_auth_verify(ours, "wrong password")


def test_better_auth_verifies_our_scrypt_hash_with_nfkc() -> None:
    ours = scrypt_hash(PLAIN)
    assert better_auth_verify(ours, LIGATURE)
    assert better_auth_verify(scrypt_hash(LIGATURE), PLAIN)
