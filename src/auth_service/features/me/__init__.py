"""GET /api/me: the signed-in user, as an example of a feature module."""
