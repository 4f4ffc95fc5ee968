"""Better Auth's encryption of stored private keys (spec §9.1).

The `jwks.private_key` column holds a JSON string literal of hex(nonce(24) || ciphertext ||
tag(16)), XChaCha20-Poly1305 with key = SHA-256(secret) and no associated data.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

NONCE_BYTES = 24


class PrivateKeyDecryptionError(ValueError):
    """The stored key was not encrypted with the current secret."""


def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def encrypt_hex(secret: str, plaintext: str) -> str:
    """Better Auth's `symmetricEncrypt` with one secret: hex(nonce(24) || ciphertext || tag)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext.encode(), None, nonce, _key(secret)
    )
    return (nonce + sealed).hex()


def decrypt_hex(secret: str, hex_text: str) -> str:
    """Better Auth's `symmetricDecrypt`; raises ValueError when the text was not sealed with
    `secret` (or is not hex)."""
    if hex_text.startswith("$ba$"):
        # Rotated secrets: `$ba$<version>$<hex>`; only the current secret is configured here.
        hex_text = hex_text.rsplit("$", 1)[-1]
    try:
        raw = bytes.fromhex(hex_text)
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
            raw[NONCE_BYTES:], None, raw[:NONCE_BYTES], _key(secret)
        )
        return plain.decode()
    except (TypeError, CryptoError, UnicodeDecodeError) as exc:
        raise ValueError("cannot decrypt: wrong secret or corrupted value") from exc


def encrypt_private_key(secret: str, private_jwk_json: str) -> str:
    return json.dumps(encrypt_hex(secret, private_jwk_json))


def decrypt_private_key(secret: str, stored: str) -> str:
    """The private JWK JSON from the column value (encrypted or, if disabled, raw)."""
    value = stored.strip()
    if value.startswith("{"):
        return value  # jwks.disablePrivateKeyEncryption
    try:
        hex_text = json.loads(value) if value.startswith('"') else value
    except json.JSONDecodeError as exc:
        raise PrivateKeyDecryptionError("private key column is not a JSON string") from exc
    try:
        if not isinstance(hex_text, str):
            raise TypeError("private key column is not a JSON string")
        return decrypt_hex(secret, hex_text)
    except (ValueError, TypeError) as exc:
        raise PrivateKeyDecryptionError(
            "cannot decrypt a stored JWT signing key: BETTER_AUTH_SECRET differs from the one "
            "that encrypted it. Restore that secret, or rotate keys (`auth-service jwks rotate`)."
        ) from exc
