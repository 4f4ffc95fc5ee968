"""`auth-service jwks list|rotate`: the key table as the CLI shows and changes it, and clear
one-line errors. (What a running server makes of a rotation is in test_jwt.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from tests.conftest import TEST_SECRET
from tests.support.auth_client import assert_close, db_fetch, utc_now
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.server import ROOT, free_port

KID = r"[A-Za-z0-9]{32}"
TIMESTAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "auth_service", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def list_lines(env: dict[str, str]) -> list[str]:
    result = run_cli("jwks", "list", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def rotated_kid(env: dict[str, str], alg: str) -> str:
    result = run_cli("jwks", "rotate", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    found = re.fullmatch(
        rf"New signing key ({KID}) \({alg}\); replicas pick it up within 30 s",
        result.stderr.strip(),
    )
    assert found, result.stderr
    return found.group(1)


def decrypt(column: str) -> dict[str, Any]:
    raw = bytes.fromhex(json.loads(column))
    key = hashlib.sha256(TEST_SECRET.encode()).digest()
    jwk: dict[str, Any] = json.loads(
        crypto_aead_xchacha20poly1305_ietf_decrypt(raw[24:], None, raw[:24], key)
    )
    return jwk


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[str]:
    name = f"jwks_cli_{secrets.token_hex(4)}"
    url = create_database(postgres, name)
    yield url
    drop_database(postgres, name)


def test_list_and_rotate(database: str) -> None:
    env = {"DATABASE_URL": database, "BETTER_AUTH_SECRET": TEST_SECRET}
    assert list_lines(env) == ["no keys yet (one is created on first use of /token or /jwks)"]

    first = rotated_kid(env, "EdDSA")
    # A second rotation, to ES256 keys that themselves expire after an hour.
    second = rotated_kid(
        {**env, "JWT_KEY_ALGORITHM": "ES256", "JWKS_ROTATION_INTERVAL": "3600"}, "ES256"
    )

    newest, older = list_lines(env)
    assert re.fullmatch(
        rf"{second}  ES256   created {TIMESTAMP}  expires {TIMESTAMP}  published", newest
    ), newest
    assert re.fullmatch(
        rf"{first}  EdDSA   created {TIMESTAMP}  expires {TIMESTAMP}  published", older
    ), older
    # Without a grace period the rotated-out key is no longer published. With another secret
    # the keys are still listed, with a warning that they cannot sign (the secret never shown).
    other_secret = "another-secret-0123456789-abcdefghij"
    result = run_cli(
        "jwks", "list", env={**env, "JWKS_GRACE_PERIOD": "0", "BETTER_AUTH_SECRET": other_secret}
    )
    assert result.returncode == 0, result.stderr
    no_grace = result.stdout.splitlines()
    assert no_grace[0].startswith(second)
    assert no_grace[0].endswith("  published")
    assert no_grace[1].startswith(first)
    assert no_grace[1].endswith("  retired")
    for kid in (first, second):
        assert f"JWT key {kid} cannot be used for signing" in result.stderr
    assert "BETTER_AUTH_SECRET differs" in result.stderr
    assert other_secret not in result.stderr

    rows = {row["id"]: row for row in db_fetch(database, "SELECT * FROM jwks ORDER BY created_at")}
    assert list(rows) == [first, second]
    assert_close(rows[first]["expires_at"], utc_now())
    assert_close(rows[second]["expires_at"], utc_now() + timedelta(hours=1))
    assert (rows[first]["alg"], rows[first]["crv"]) == ("EdDSA", "Ed25519")
    assert (rows[second]["alg"], rows[second]["crv"]) == ("ES256", "P-256")
    for row in rows.values():
        private = decrypt(row["private_key"])
        public = json.loads(row["public_key"])
        assert "d" in private
        assert {name: private[name] for name in public} == public


def test_an_unreachable_database_is_one_clear_line() -> None:
    port = free_port()
    env = {"DATABASE_URL": f"postgresql://u@127.0.0.1:{port}/x", "BETTER_AUTH_SECRET": TEST_SECRET}

    result = run_cli("jwks", "rotate", env=env)

    assert_one_line_error(result, "cannot reach the database", f"127.0.0.1:{port}", "DATABASE_URL")


def test_a_database_without_migrations_is_one_clear_line(postgres: PostgresServer) -> None:
    name = f"jwks_cli_{secrets.token_hex(4)}"
    url = create_database(postgres, name, migrate=False)
    try:
        result = run_cli("jwks", "rotate", env={"DATABASE_URL": url, "BETTER_AUTH_SECRET": "x"})
    finally:
        drop_database(postgres, name)

    assert_one_line_error(result, "has no jwks table", "auth-service db migrate")
