"""The bearer plugin: `Authorization: Bearer` sessions and the `set-auth-token` header (§9.2)."""
