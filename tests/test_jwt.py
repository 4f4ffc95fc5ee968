"""The JWT plugin (spec §9.1): GET /token, GET /jwks, the `set-auth-jwt` header, key storage,
key algorithms, rotation, and keys shared with the real Better Auth.

Tokens are verified here with PyJWT and the JWKS the server publishes (`jwt.PyJWK`), stored
private keys are decrypted with PyNaCl, and keys and tokens are exchanged with better-auth
1.7.25 itself (tests/interop/better_auth_jwks.mjs) - never with the service's own code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError

from tests.conftest import TEST_SECRET
from tests.support.auth_client import (
    API,
    SignedIn,
    api_client,
    assert_close,
    db_fetch,
    db_one,
    shared_server,
    sign_in,
    sign_up,
    utc_now,
)
from tests.support.gateway import GATEWAY_ENV, INVALID, jwt_parts, validate
from tests.support.npm import run_node_json
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.server import ROOT, LiveServer, start_server

# The payload of Better Auth's getJwtToken, in its order (measured on the reference 1.7.25).
PAYLOAD_KEYS = [
    "iat",
    "name",
    "email",
    "emailVerified",
    "image",
    "createdAt",
    "updatedAt",
    "id",
    "sub",
    "exp",
    "iss",
    "aud",
]
USER_KEYS = ["name", "email", "emailVerified", "image", "createdAt", "updatedAt", "id"]
ED25519_JWK_KEYS = ["alg", "crv", "x", "kty", "kid"]
FAST_REFRESH = {"JWKS_REFRESH_SECONDS": "0.5"}
NODE_ENV = {"TZ": "UTC"}  # Better Auth writes `timestamp` columns in the process's local time
INTEROP_BASE_URL = "http://localhost:3000"  # iss/aud of both implementations in the interop


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def get_jwks(http: httpx.Client) -> list[dict[str, Any]]:
    response = http.get(f"{API}/jwks")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["keys"]
    keys: list[dict[str, Any]] = body["keys"]
    return keys


def token_for(http: httpx.Client, user: SignedIn) -> str:
    response = http.get(f"{API}/token", headers={"cookie": user.cookie})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["token"]
    return str(body["token"])


def kid_of(token: str) -> str:
    return str(jwt_parts(token)[0]["kid"])


def verify_with_jwks(
    token: str, keys: list[dict[str, Any]], *, issuer: str, audience: str | None = None
) -> dict[str, Any]:
    """PyJWT's verification with the published key that the token's kid names."""
    header = jwt.get_unverified_header(token)
    matching = [key for key in keys if key["kid"] == header["kid"]]
    assert len(matching) == 1, (header, keys)
    public = jwt.PyJWK(matching[0])
    assert public.algorithm_name == header["alg"]
    claims: dict[str, Any] = jwt.decode(
        token,
        public.key,
        algorithms=[header["alg"]],
        issuer=issuer,
        audience=audience or issuer,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )
    return claims


def decrypt_stored_private_key(column: str, secret: str = TEST_SECRET) -> dict[str, Any]:
    """Better Auth's format: a JSON string of hex(nonce(24) || XChaCha20-Poly1305 ciphertext)."""
    assert column.startswith('"'), column[:20]
    assert column.endswith('"'), column[-20:]
    hex_text = json.loads(column)
    assert re.fullmatch(r"[0-9a-f]+", hex_text), hex_text[:20]
    raw = bytes.fromhex(hex_text)
    plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
        raw[24:], None, raw[:24], hashlib.sha256(secret.encode()).digest()
    )
    jwk: dict[str, Any] = json.loads(plain)
    return jwk


def jwks_row(database_url: str, kid: str) -> dict[str, Any]:
    return db_one(database_url, "SELECT * FROM jwks WHERE id = $1", kid)


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


def rotate(database_url: str, **env: str) -> str:
    """`auth-service jwks rotate` on the database; the new key's id."""
    result = run_cli(
        "jwks",
        "rotate",
        env={"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": TEST_SECRET, **env},
    )
    assert result.returncode == 0, result.stderr
    found = re.search(r"New signing key (\S+) ", result.stderr)
    assert found, result.stderr
    return found.group(1)


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@dataclass
class Isolated:
    """A server with settings of its own on a migrated database of its own."""

    server: LiveServer
    url: str
    prepared: dict[str, Any] = field(default_factory=dict)


@contextmanager
def isolated_server(
    postgres: PostgresServer,
    env: dict[str, str],
    *,
    prepare: Callable[[str], dict[str, Any]] | None = None,
) -> Iterator[Isolated]:
    """`prepare` runs on the fresh database before the server starts."""
    name = f"jwt_{secrets.token_hex(4)}"
    url = create_database(postgres, name)
    try:
        prepared = prepare(url) if prepare is not None else {}
        server = start_server(url, env, secret=TEST_SECRET)
        try:
            yield Isolated(server, url, prepared)
        finally:
            server.stop()
    finally:
        drop_database(postgres, name)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> LiveServer:
    return live_server


ISSUER, AUDIENCE = "https://issuer.example.test", "api://resource"


@pytest.fixture(scope="module")
def issuer_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """JWT_ISSUER / JWT_AUDIENCE set, and the gateway secret (for /api/internal/validate)."""
    return shared_server(
        server_factory, {**GATEWAY_ENV, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}
    )


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


@pytest.fixture
def user(http: httpx.Client) -> SignedIn:
    return sign_up(http, name="Jwt User")


# --------------------------------------------------------------------------- GET /token


def test_token_without_a_session_is_401(http: httpx.Client) -> None:
    for headers in ({}, {"cookie": "better-auth.session_token=nope"}):
        response = http.get(f"{API}/token", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized", "code": "UNAUTHORIZED"}


def test_token_is_an_eddsa_jwt_of_the_session_user(
    http: httpx.Client, server: LiveServer, user: SignedIn
) -> None:
    before = int(time.time())
    token = token_for(http, user)
    header, claims, _ = jwt_parts(token)

    assert header == {"alg": "EdDSA", "kid": header["kid"]}
    assert list(header) == ["alg", "kid"]  # no typ
    assert list(claims) == PAYLOAD_KEYS
    session_user = http.get(f"{API}/get-session", headers={"cookie": user.cookie}).json()["user"]
    assert {key: claims[key] for key in USER_KEYS} == session_user
    assert claims["sub"] == user.user_id
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 900
    assert claims["iss"] == claims["aud"] == server.origin

    verified = verify_with_jwks(token, get_jwks(http), issuer=server.origin)
    assert verified == claims


def test_token_also_works_with_a_bearer_session(http: httpx.Client, user: SignedIn) -> None:
    response = http.get(f"{API}/token", headers={"authorization": f"Bearer {user.token}"})
    assert response.status_code == 200
    assert jwt_parts(response.json()["token"])[1]["sub"] == user.user_id
    assert "set-auth-jwt" not in response.headers
    assert "set-cookie" not in response.headers


# --------------------------------------------------------------------------- GET /jwks


def test_jwks_publishes_ed25519_public_keys(http: httpx.Client, user: SignedIn) -> None:
    kid = kid_of(token_for(http, user))
    keys = get_jwks(http)

    assert keys, keys
    for key in keys:
        assert list(key) == ED25519_JWK_KEYS
        assert key["alg"] == "EdDSA"
        assert key["crv"] == "Ed25519"
        assert key["kty"] == "OKP"
        assert len(b64url_decode(key["x"])) == 32
        assert "d" not in key
    assert kid in [key["kid"] for key in keys]


def test_jwks_needs_no_session_and_sets_no_cookie(http: httpx.Client) -> None:
    response = http.get(f"{API}/jwks", headers={"cookie": "better-auth.session_token=nope"})
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "set-auth-jwt" not in response.headers


def test_stored_private_key_is_better_auths_xchacha20_ciphertext(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    kid = kid_of(token_for(http, user))
    row = jwks_row(database_url, kid)
    published = next(key for key in get_jwks(http) if key["kid"] == kid)

    private = decrypt_stored_private_key(row["private_key"])

    assert set(private) == {"crv", "d", "x", "kty"}
    assert private["crv"] == "Ed25519"
    assert private["kty"] == "OKP"
    assert private["x"] == published["x"]
    derived = ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(private["d"]))
    raw_public = derived.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert raw_public == b64url_decode(published["x"])
    assert json.loads(row["public_key"]) == {"crv": "Ed25519", "x": published["x"], "kty": "OKP"}
    assert (row["alg"], row["crv"]) == ("EdDSA", "Ed25519")
    # Another secret cannot open it.
    with pytest.raises(CryptoError):
        decrypt_stored_private_key(row["private_key"], secret="another-secret-0123456789abcdefgh")


# --------------------------------------------------------------------------- set-auth-jwt


def test_get_session_sends_a_jwt_and_exposes_it(
    http: httpx.Client, server: LiveServer, user: SignedIn
) -> None:
    for headers in ({"cookie": user.cookie}, {"authorization": f"Bearer {user.token}"}):
        response = http.get(f"{API}/get-session", headers=headers)

        assert response.status_code == 200
        assert response.headers["access-control-expose-headers"] == "set-auth-jwt"
        token = response.headers["set-auth-jwt"]
        claims = verify_with_jwks(token, get_jwks(http), issuer=server.origin)
        assert list(claims) == PAYLOAD_KEYS
        assert claims["sub"] == user.user_id
        assert {key: claims[key] for key in USER_KEYS} == response.json()["user"]


def test_no_set_auth_jwt_without_a_session_or_on_other_endpoints(
    http: httpx.Client, user: SignedIn
) -> None:
    no_session = http.get(f"{API}/get-session")
    assert no_session.json() is None
    signed_in = sign_in(http, user.email)
    responses = [
        no_session,
        http.get(f"{API}/get-session", headers={"authorization": "Bearer unknown-token"}),
        signed_in.response,
        sign_up(http).response,
        http.get(f"{API}/token", headers={"cookie": user.cookie}),
        http.get(f"{API}/jwks"),
        http.get(f"{API}/list-sessions", headers={"cookie": user.cookie}),
    ]
    for response in responses:
        assert "set-auth-jwt" not in response.headers, response.request.url
        assert "set-auth-jwt" not in response.headers.get("access-control-expose-headers", "")


# --------------------------------------------------------------------------- issuer / audience


def test_jwt_issuer_and_audience_settings(
    issuer_server: LiveServer, server: LiveServer, http: httpx.Client, user: SignedIn
) -> None:
    with api_client(issuer_server) as other:
        token = token_for(other, user)
        claims = verify_with_jwks(token, get_jwks(other), issuer=ISSUER, audience=AUDIENCE)
        assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
        assert list(claims) == PAYLOAD_KEYS
        assert validate(other, {"jwt": token}).json()["valid"] is True

        # The same key signs on both servers, but each accepts only its own iss/aud.
        default_token = token_for(http, user)
        assert kid_of(default_token) == kid_of(token)
        assert jwt_parts(default_token)[1]["iss"] == server.origin
        assert validate(other, {"jwt": default_token}).json() == INVALID


# --------------------------------------------------------------------------- /api/internal/validate


def test_validate_accepts_our_jwts_and_rejects_foreign_keys(
    issuer_server: LiveServer, user: SignedIn
) -> None:
    with api_client(issuer_server) as http:
        token = token_for(http, user)
        header, claims, _ = jwt_parts(token)
        assert validate(http, {"jwt": token}).json()["valid"] is True

        now = int(time.time())
        fresh = {**claims, "iat": now, "exp": now + 900}
        kid = header["kid"]
        forged = [
            jwt.encode(fresh, ed25519.Ed25519PrivateKey.generate(), "EdDSA", {"kid": kid}),
            jwt.encode(fresh, ed25519.Ed25519PrivateKey.generate(), "EdDSA", {"kid": "unknown"}),
            jwt.encode(fresh, ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": kid}),
        ]
        for token in forged:
            assert validate(http, {"jwt": token}).json() == INVALID, token
            assert validate(http, headers={"authorization": f"Bearer {token}"}).json() == INVALID


# --------------------------------------------------------------------------- key algorithms


@dataclass(frozen=True)
class KeyShape:
    kty: str
    crv: str | None
    fields: frozenset[str]  # of the published JWK; jose's exportJWK has no key_ops


ALGORITHMS = {
    "ES256": KeyShape("EC", "P-256", frozenset({"alg", "crv", "kty", "x", "y", "kid"})),
    "RS256": KeyShape("RSA", None, frozenset({"alg", "kty", "n", "e", "kid"})),
}


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_other_key_algorithms(postgres: PostgresServer, alg: str) -> None:
    expected = ALGORITHMS[alg]
    env = {**GATEWAY_ENV, "JWT_KEY_ALGORITHM": alg}
    with isolated_server(postgres, env) as isolated, api_client(isolated.server) as http:
        user = sign_up(http)
        token = token_for(http, user)
        header, claims, _ = jwt_parts(token)
        keys = get_jwks(http)

        assert header == {"alg": alg, "kid": header["kid"]}
        assert len(keys) == 1
        key = keys[0]
        assert set(key) == expected.fields
        assert (key["alg"], key["kty"], key.get("crv"), key["kid"]) == (
            alg,
            expected.kty,
            expected.crv,
            header["kid"],
        )
        assert verify_with_jwks(token, keys, issuer=isolated.server.origin) == claims
        assert validate(http, {"jwt": token}).json()["valid"] is True
        session = http.get(f"{API}/get-session", headers={"cookie": user.cookie})
        assert jwt_parts(session.headers["set-auth-jwt"])[0] == header

        row = jwks_row(isolated.url, header["kid"])
    assert (row["alg"], row["crv"]) == (alg, expected.crv)
    private = decrypt_stored_private_key(row["private_key"])
    assert private["kty"] == expected.kty
    assert "d" in private
    assert "key_ops" not in private
    public_fields = expected.fields - {"alg", "kid"}
    assert {name: private[name] for name in public_fields} == {
        name: key[name] for name in public_fields
    }


# --------------------------------------------------------------------------- rotation


def test_without_a_grace_period_a_rotated_out_key_is_gone(postgres: PostgresServer) -> None:
    env = {**GATEWAY_ENV, **FAST_REFRESH, "JWKS_GRACE_PERIOD": "0"}
    with isolated_server(postgres, env) as isolated, api_client(isolated.server) as http:
        user = sign_up(http)
        old_token = token_for(http, user)
        old_kid = kid_of(old_token)
        assert validate(http, {"jwt": old_token}).json()["valid"] is True
        stored = jwks_row(isolated.url, old_kid)["private_key"]
        old_private = jwt.PyJWK(decrypt_stored_private_key(stored))

        new_kid = rotate(isolated.url, JWKS_GRACE_PERIOD="0")

        # JWKS_REFRESH_SECONDS=0.5: the server picks the change up without a restart.
        wait_for(lambda: [key["kid"] for key in get_jwks(http)] == [new_kid], timeout=5)
        assert kid_of(token_for(http, user)) == new_kid
        assert validate(http, {"jwt": old_token}).json() == INVALID
        # A token freshly signed with the retired private key is refused as well.
        now = int(time.time())
        claims = {**jwt_parts(old_token)[1], "iat": now, "exp": now + 900}
        resigned = jwt.encode(claims, old_private.key, "EdDSA", {"kid": old_kid})
        assert validate(http, {"jwt": resigned}).json() == INVALID


# --------------------------------------------------------------------------- the real Better Auth


def better_auth(url: str, *args: str) -> dict[str, Any]:
    """Run tests/interop/better_auth_jwks.mjs (the real better-auth jwt plugin) on `url`."""
    result: dict[str, Any] = run_node_json(
        "better_auth_jwks.mjs", url, TEST_SECRET, INTEROP_BASE_URL, *args, env=NODE_ENV
    )
    return result


def test_better_auth_keys_work_here_and_rotate_with_a_grace_period(
    postgres: PostgresServer,
) -> None:
    """Better Auth makes the first key; our server serves and signs with it; our CLI rotates it
    out (a grace period of 60 s), and both implementations keep agreeing on the key set."""
    env = {
        **GATEWAY_ENV,
        **FAST_REFRESH,
        "JWKS_GRACE_PERIOD": "60",
        "BETTER_AUTH_URL": INTEROP_BASE_URL,
    }
    prepare = lambda url: better_auth(url, "sign")  # noqa: E731
    with (
        isolated_server(postgres, env, prepare=prepare) as isolated,
        api_client(isolated.server) as http,
    ):
        server, url, made = isolated.server, isolated.url, isolated.prepared
        ba_keys = made["jwks"]["keys"]
        assert len(ba_keys) == 1
        old_kid = ba_keys[0]["kid"]
        ba_token = made["token"]
        ba_header, ba_claims, _ = jwt_parts(ba_token)
        assert ba_header == {"alg": "EdDSA", "kid": old_kid}
        assert list(ba_claims) == PAYLOAD_KEYS
        assert ba_claims["iss"] == ba_claims["aud"] == INTEROP_BASE_URL

        # Our server publishes Better Auth's key exactly as Better Auth does, and signs with it.
        assert get_jwks(http) == ba_keys
        assert list(get_jwks(http)[0]) == list(ba_keys[0])
        user = sign_up(http)
        ours = token_for(http, user)
        assert jwt_parts(ours)[0] == ba_header
        assert list(jwt_parts(ours)[1]) == list(ba_claims)
        assert verify_with_jwks(ours, ba_keys, issuer=INTEROP_BASE_URL)["sub"] == user.user_id

        # Our validate accepts the token Better Auth signed, for Better Auth's user.
        answer = validate(http, {"jwt": ba_token}).json()
        assert answer["valid"] is True
        assert answer["claims"] == ba_claims
        assert answer["claims"]["sub"] == made["userId"]

        # Better Auth verifies ours: jose with our /jwks, and its own verifyJWT on the table.
        checked = better_auth(url, "verify", ours, f"{server.url}{API}/jwks")
        assert checked["jose"] == {"header": ba_header, "payload": jwt_parts(ours)[1]}
        assert checked["betterAuth"] == jwt_parts(ours)[1]

        # `auth-service jwks rotate`: new tokens carry the new kid within JWKS_REFRESH_SECONDS.
        new_kid = rotate(url, JWKS_GRACE_PERIOD="60")
        assert new_kid != old_kid
        wait_for(lambda: kid_of(token_for(http, user)) == new_kid, timeout=5)
        ours_new = token_for(http, user)
        session = http.get(f"{API}/get-session", headers={"cookie": user.cookie})
        assert kid_of(session.headers["set-auth-jwt"]) == new_kid
        old_row, new_row = jwks_row(url, old_kid), jwks_row(url, new_kid)
        assert_close(old_row["expires_at"], utc_now())
        assert new_row["expires_at"] is None

        # During the grace period the old key stays published and its tokens keep verifying.
        keys = get_jwks(http)
        assert [key["kid"] for key in keys] == [new_kid, old_kid]  # newest first
        for token in (ba_token, ours, ours_new):
            assert verify_with_jwks(token, keys, issuer=INTEROP_BASE_URL)
            assert validate(http, {"jwt": token}).json()["valid"] is True

        # Better Auth verifies with the key our CLI made, and signs with it (so it decrypts
        # our private key column); it lists the same key set (oldest first, we newest first).
        checked = better_auth(url, "verify", ours_new, f"{server.url}{API}/jwks")
        assert checked["jose"] == {
            "header": {"alg": "EdDSA", "kid": new_kid},
            "payload": jwt_parts(ours_new)[1],
        }
        assert checked["betterAuth"] == jwt_parts(ours_new)[1]
        ba_new = better_auth(url, "sign")
        assert kid_of(ba_new["token"]) == new_kid
        assert [key["kid"] for key in ba_new["jwks"]["keys"]] == [old_kid, new_kid]
        assert list(reversed(ba_new["jwks"]["keys"])) == keys
        assert validate(http, {"jwt": ba_new["token"]}).json()["claims"]["sub"] == ba_new["userId"]

        # Past expires_at + grace (moved back here, as time would) the old key is no longer
        # published, and every token it signed is refused.
        db_fetch(
            url,
            "UPDATE jwks SET expires_at = $1 WHERE id = $2",
            utc_now() - timedelta(seconds=61),
            old_kid,
        )
        wait_for(lambda: [key["kid"] for key in get_jwks(http)] == [new_kid], timeout=5)
        for token in (ba_token, ours):
            assert validate(http, {"jwt": token}).json() == INVALID
        assert validate(http, {"jwt": ours_new}).json()["valid"] is True
