"""Rules of e-mail verification: sending the mail, and the verify-email link in all its forms
(plain verification, and the two steps of an e-mail change)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request

from auth_service.auth.context import AuthContext
from auth_service.auth.mail.links import verify_email_link
from auth_service.auth.mail.sender import Mailer
from auth_service.auth.mail.templates import MailKind, render
from auth_service.auth.queued_cookies import queue_cookies
from auth_service.auth.serializers import user_json
from auth_service.auth.sessions.service import CookieSession, ResolvedSession, SessionService
from auth_service.auth.users.repository import UserRepository
from auth_service.auth.verification.tokens import (
    CHANGE_EMAIL_CONFIRMATION,
    CHANGE_EMAIL_VERIFICATION,
    EmailClaims,
    TokenError,
    create_email_token,
    read_email_token,
)
from auth_service.core.clock import utcnow
from auth_service.core.errors import APIError, ErrorCode
from auth_service.db.engine import RequestDb

UNAUTHENTICATED_SEND_FLOOR_SECONDS = 0.5
"""An unauthenticated send-verification-email always takes at least this long (as Better Auth),
so its timing does not tell whether the address has an unverified account."""


class VerifyFailure(Exception):
    """verify-email failed: a redirect with `?error=<code>`, or 401 without a callbackURL."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.name)
        self.code = code


@dataclass(slots=True)
class Verified:
    """A successful verify-email: the JSON answer (without a callbackURL) and the cookies."""

    body: dict[str, Any]
    cookies: list[str] = field(default_factory=list)


PLAIN_VERIFIED: dict[str, Any] = {"status": True, "user": None}


class EmailVerificationService:
    def __init__(self, ctx: AuthContext, sessions: SessionService, mailer: Mailer) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.sessions = sessions
        self.mailer = mailer
        self.users = UserRepository(ctx.schema)

    @property
    def enabled(self) -> bool:
        """Better Auth's `emailVerification.sendVerificationEmail` is configured."""
        return self.settings.email_verification_enabled

    def token_for(
        self,
        email: str,
        *,
        user_id: str | None = None,
        update_to: str | None = None,
        request_type: str | None = None,
    ) -> str:
        return create_email_token(
            self.ctx.secret,
            email,
            expires_in=self.settings.email_verification_expires_in,
            user_id=user_id,
            update_to=update_to,
            request_type=request_type,
        )

    def send_verification_mail(
        self,
        user: dict[str, Any],
        callback_url: str | None,
        *,
        kind: MailKind = MailKind.VERIFY_EMAIL,
        token: str | None = None,
        to: str | None = None,
        new_email: str | None = None,
    ) -> None:
        """Mail `to` (default: the user's address) a link to verify-email."""
        address = to or user["email"]
        token = token or self.token_for(address, user_id=user["id"])
        self.mailer.send(
            render(
                kind,
                to=address,
                name=user["name"],
                url=verify_email_link(self.settings, token, callback_url),
                expires_in=self.settings.email_verification_expires_in,
                new_email=new_email or address,
            )
        )

    async def send_on_request(
        self,
        db: RequestDb,
        current: ResolvedSession | None,
        *,
        email: str,
        callback_url: str | None,
    ) -> None:
        """POST /send-verification-email."""
        if not self.enabled:
            raise APIError(400, ErrorCode.VERIFICATION_EMAIL_NOT_ENABLED)
        if current is None:
            started = time.monotonic()
            found = await self.users.find_with_credential_by_email(await db.conn(), email.lower())
            await db.release()
            user = found[0] if found is not None else None
            if user is None or user["email_verified"]:
                self.token_for(email)  # the same work as a real send, minus the mail
            else:
                self.send_verification_mail(user, callback_url)
            remaining = UNAUTHENTICATED_SEND_FLOOR_SECONDS - (time.monotonic() - started)
            if remaining > 0:
                await asyncio.sleep(remaining)
            return
        user = current.user
        if user["email"].lower() != email.lower():
            raise APIError(400, ErrorCode.EMAIL_MISMATCH)
        if user["email_verified"]:
            raise APIError(400, ErrorCode.EMAIL_ALREADY_VERIFIED)
        self.send_verification_mail(user, callback_url)

    async def verify(
        self,
        db: RequestDb,
        request: Request,
        cookie: CookieSession,
        *,
        token: str,
        callback_url: str | None,
    ) -> Verified:
        """GET /verify-email: raises VerifyFailure with the error code to report."""
        try:
            claims = read_email_token(self.ctx.secret, token)
        except TokenError as exc:
            code = ErrorCode.TOKEN_EXPIRED if exc.problem.value == "TOKEN_EXPIRED" else None
            raise VerifyFailure(code or ErrorCode.INVALID_TOKEN) from exc
        if claims.update_to:
            return await self._change_email(db, request, cookie, claims, callback_url)
        found = await self.users.find_with_credential_by_email(await db.conn(), claims.email)
        if found is None:
            raise VerifyFailure(ErrorCode.USER_NOT_FOUND)
        user = found[0]
        if claims.user_id and claims.user_id != user["id"]:
            raise VerifyFailure(ErrorCode.INVALID_TOKEN)
        if user["email_verified"]:
            return Verified(body=PLAIN_VERIFIED)
        conn = await db.conn()
        await self.users.update_user(
            conn, user["id"], {"email_verified": True, "updated_at": utcnow()}
        )
        cookies: list[str] = []
        if self.settings.email_verification_auto_sign_in:
            current = await self._current_session(db, request, cookie)
            if current is None or current.user["email"] != claims.email:
                session = await self.sessions.create(await db.conn(), request, user["id"])
                cookies = self.sessions.sign_in_cookies(session, cookie)
            else:
                cookies = self.sessions.sign_in_cookies(current.session, cookie)
        return Verified(body=PLAIN_VERIFIED, cookies=cookies)

    async def _current_session(
        self, db: RequestDb, request: Request, cookie: CookieSession
    ) -> ResolvedSession | None:
        found = await self.sessions.lookup(db, cookie)
        if found.found is None:
            queue_cookies(request, found.clear_cookies)
            return None
        queue_cookies(request, found.found.cookies)
        return found.found

    async def _change_email(
        self,
        db: RequestDb,
        request: Request,
        cookie: CookieSession,
        claims: EmailClaims,
        callback_url: str | None,
    ) -> Verified:
        assert claims.update_to is not None
        if not claims.user_id:
            raise VerifyFailure(ErrorCode.INVALID_TOKEN)
        found = await self.users.find_with_credential_by_id(await db.conn(), claims.user_id)
        if found is None:
            raise VerifyFailure(ErrorCode.USER_NOT_FOUND)
        user = found[0]
        if user["email"].lower() != claims.email:
            raise VerifyFailure(ErrorCode.INVALID_TOKEN)
        current = await self._current_session(db, request, cookie)
        if current is not None and current.user["id"] != user["id"]:
            raise VerifyFailure(ErrorCode.INVALID_USER)
        if claims.request_type == CHANGE_EMAIL_CONFIRMATION:
            # The old address approved: now prove the new one.
            if self.enabled:
                token = self.token_for(
                    claims.email,
                    update_to=claims.update_to,
                    request_type=CHANGE_EMAIL_VERIFICATION,
                    user_id=user["id"],
                )
                self.send_verification_mail(
                    user,
                    callback_url,
                    kind=MailKind.CHANGE_EMAIL_VERIFICATION,
                    token=token,
                    to=claims.update_to,
                )
            return Verified(body={"status": True})
        if claims.request_type == CHANGE_EMAIL_VERIFICATION:
            verified = bool(user["email_verified"])
        else:  # Better Auth's legacy token: change now, verify the new address afterwards
            verified = False
        changes = {"email": claims.update_to, "email_verified": verified, "updated_at": utcnow()}
        try:
            updated = await self.users.update_user(await db.conn(), user["id"], changes)
        except IntegrityError as exc:  # the new address was taken since the link was sent
            raise VerifyFailure(ErrorCode.INVALID_TOKEN) from exc
        if updated is None:
            raise VerifyFailure(ErrorCode.USER_NOT_FOUND)
        if claims.request_type != CHANGE_EMAIL_VERIFICATION and self.enabled:
            self.send_verification_mail(updated, callback_url)
        cookies = self.sessions.sign_in_cookies(current.session, cookie) if current else []
        return Verified(body={"status": True, "user": user_json(updated)}, cookies=cookies)
