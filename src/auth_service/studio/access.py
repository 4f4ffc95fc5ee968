"""Who may use the studio: whoever holds the access token the command printed.

The token (256 random bits, new for every run) is exchanged for a session cookie signed with
a key that is also new for every run (itsdangerous, through Starlette's SessionMiddleware),
so nothing outlives the process. It is accepted once in the URL (`/admin/?token=...`, then
redirected to the same page without it) or typed into the login form.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from sqladmin.authentication import AuthenticationBackend
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

log = logging.getLogger("auth_service.studio")

SESSION_KEY = "studio"
SESSION_MAX_AGE = 12 * 3600


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


class AccessTokenBackend(AuthenticationBackend):
    def __init__(self, token: str, *, cookie_name: str) -> None:
        super().__init__(
            secret_key=secrets.token_urlsafe(32),
            session_cookie=cookie_name,
            max_age=SESSION_MAX_AGE,
            same_site="strict",
            https_only=False,  # plain http on loopback
        )
        self._token_digest = _digest(token)

    def token_matches(self, candidate: str) -> bool:
        # Both sides hashed to a fixed length, then compared in constant time.
        return hmac.compare_digest(_digest(candidate), self._token_digest)

    def _sign_in(self, request: Request) -> None:
        request.session.clear()
        request.session[SESSION_KEY] = True
        request.session["user_id"] = "studio"

    async def login(self, request: Request) -> Response | bool:
        form = await request.form()
        candidate = form.get("token")
        if isinstance(candidate, str) and self.token_matches(candidate.strip()):
            self._sign_in(request)
            return True
        log.warning("studio: refused a login with a wrong access token")
        return False

    async def logout(self, request: Request) -> Response | bool:
        request.session.clear()
        return RedirectResponse(request.url_for("admin:login"), status_code=302)

    async def authenticate(self, request: Request) -> Response | bool:
        candidate = request.query_params.get("token")
        if candidate is not None:
            if self.token_matches(candidate):
                self._sign_in(request)
                # Drop the token from the address bar (and from what later pages refer to).
                return RedirectResponse(
                    str(request.url.remove_query_params("token")), status_code=302
                )
            log.warning("studio: refused a wrong access token")
            request.session.clear()
            return False
        return request.session.get(SESSION_KEY) is True
