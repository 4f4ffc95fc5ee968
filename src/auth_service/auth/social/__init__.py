"""Social sign-in: OAuth 2 / OpenID Connect providers and account linking (spec §4)."""
