"""Gateway integration: the endpoints an API gateway and other services call.

- `POST /api/internal/validate`: a structured credential check for a gateway (JSON answer).
- `/api/internal/forward-auth[/<original path>]`: the same check answered by status and
  identity headers, as nginx `auth_request`, Traefik `ForwardAuth` and Envoy `ext_authz` want.
- `GET /api/internal/user`: a user by id, e-mail or session token, for internal services.

routes (HTTP) -> service (rules) -> repository (SQL); callers prove who they are with a shared
secret header (`callers.py`), and credentials are read from the body or forwarded headers
(`credentials.py`).
"""
