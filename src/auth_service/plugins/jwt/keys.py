"""Signing keys: generation, JWK export, and the in-memory key set.

The key set is read from the `jwks` table at start-up and re-read at most every
`refresh_seconds` (and at once when a token names an unknown kid), so a rotation done by any
replica or by the CLI reaches every replica without a per-request database read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from auth_service.core.clock import to_naive_utc, utcnow

KeyAlgorithm = Literal["EdDSA", "ES256", "RS256"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

CURVES: dict[str, str | None] = {"EdDSA": "Ed25519", "ES256": "P-256", "RS256": None}


def generate_private_key(alg: KeyAlgorithm) -> PrivateKey:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk_algorithm(alg: str) -> type[OKPAlgorithm] | type[ECAlgorithm] | type[RSAAlgorithm]:
    if alg == "EdDSA":
        return OKPAlgorithm
    if alg.startswith("ES"):
        return ECAlgorithm
    return RSAAlgorithm


def to_jwk(key: PrivateKey | PublicKey) -> dict[str, Any]:
    """The key as a JWK with only key material, like jose's exportJWK (no `key_ops`)."""
    jwk: dict[str, Any]
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    jwk.pop("key_ops", None)  # PyJWT adds it to RSA keys; Better Auth's keys have none
    return jwk


def load_private_jwk(jwk_json: str, alg: str) -> PrivateKey:
    key = _jwk_algorithm(alg).from_jwk(jwk_json)
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise ValueError("the stored JWK is not a private key")
    return key


def load_public_jwk(jwk: dict[str, Any], alg: str) -> PublicKey:
    key = _jwk_algorithm(alg).from_jwk(json.dumps(jwk))
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("a public JWK holds private key material")
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ValueError("unsupported public key type")
    return key


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One row of the jwks table, decoded."""

    kid: str
    alg: str
    crv: str | None
    public_jwk: dict[str, Any]
    public_key: PublicKey
    private_key: PrivateKey | None
    created_at: datetime
    expires_at: datetime | None

    def is_live(self, now: datetime) -> bool:
        return self.expires_at is None or to_naive_utc(self.expires_at) > now

    def published(self, now: datetime, grace: timedelta) -> bool:
        return self.expires_at is None or to_naive_utc(self.expires_at) + grace > now

    def public_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"alg": self.alg}
        if self.crv is not None:
            entry["crv"] = self.crv
        entry.update(self.public_jwk)
        entry["kid"] = self.kid
        return entry


class KeySet:
    """The keys as last read from the database, with the published JWKS pre-rendered."""

    def __init__(self, keys: list[StoredKey], grace: timedelta) -> None:
        self.loaded_at = time.monotonic()
        self.keys = sorted(keys, key=lambda key: to_naive_utc(key.created_at), reverse=True)
        now = utcnow()
        self.by_kid = {key.kid: key for key in self.keys if key.published(now, grace)}
        document = {"keys": [key.public_entry() for key in self.keys if key.published(now, grace)]}
        self.jwks_json = json.dumps(document, separators=(",", ":")).encode()

    def signing_key(self, alg: str) -> StoredKey | None:
        """The newest live key with the configured alg, else the newest live key."""
        now = utcnow()
        live = [key for key in self.keys if key.private_key is not None and key.is_live(now)]
        for key in live:
            if key.alg == alg:
                return key
        return live[0] if live else None
