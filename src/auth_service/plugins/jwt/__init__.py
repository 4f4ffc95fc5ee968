"""The JWT plugin: GET /token, GET /jwks, the `set-auth-jwt` header (spec §9.1)."""
