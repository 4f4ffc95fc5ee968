"""Rules of the e-mail change (spec §4 change-email, §8.3).

(a) an unverified user, when CHANGE_EMAIL_WITHOUT_VERIFICATION is on: changed at once, and the
    new address is sent a verification link;
(b) a verified user, when CHANGE_EMAIL_SEND_CONFIRMATION is on: the current address is sent a
    link to approve; approving mails a verification link to the new address;
(c) otherwise: the new address is sent a link that changes the address when opened.
A new address that already has an account answers the same and does nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from auth_service.auth.context import AuthContext
from auth_service.auth.mail.templates import MailKind
from auth_service.auth.sessions.service import ResolvedSession
from auth_service.auth.users.repository import UserRepository
from auth_service.auth.verification.service import EmailVerificationService
from auth_service.auth.verification.tokens import (
    CHANGE_EMAIL_CONFIRMATION,
    CHANGE_EMAIL_VERIFICATION,
)
from auth_service.core.clock import utcnow
from auth_service.core.errors import APIError, ErrorCode
from auth_service.db.engine import RequestDb


class ChangeEmailService:
    def __init__(self, ctx: AuthContext, verification: EmailVerificationService) -> None:
        self.settings = ctx.settings
        self.verification = verification
        self.users = UserRepository(ctx.schema)

    async def change_email(
        self,
        db: RequestDb,
        current: ResolvedSession,
        *,
        new_email: str,
        callback_url: str | None,
    ) -> bool:
        """Start (or make) the change; True when the session's cookie is to be re-issued."""
        if not self.settings.change_email_enabled:
            raise APIError(400, ErrorCode.CHANGE_EMAIL_DISABLED)
        user: dict[str, Any] = current.user
        new_email = new_email.lower()
        if new_email == user["email"]:
            raise APIError(400, None, "Email is the same")
        verified = bool(user["email_verified"])
        immediate = not verified and self.settings.change_email_without_verification
        can_send = self.verification.enabled
        confirm_first = can_send and verified and self.settings.change_email_send_confirmation
        if not immediate and not can_send:
            raise APIError(400, None, "Verification email isn't enabled")
        conn = await db.conn()
        if await self.users.email_exists(conn, new_email):
            # The same answer as a real change, so the address's owner stays unknown.
            self.verification.token_for(user["email"], update_to=new_email, user_id=user["id"])
            return False
        if immediate:
            try:
                await self.users.update_user(
                    conn, user["id"], {"email": new_email, "updated_at": utcnow()}
                )
            except IntegrityError:  # taken by a concurrent sign-up: the same silent answer
                return False
            if can_send:
                changed = {**user, "email": new_email}
                self.verification.send_verification_mail(changed, callback_url)
            return True
        if confirm_first:
            token = self.verification.token_for(
                user["email"],
                update_to=new_email,
                request_type=CHANGE_EMAIL_CONFIRMATION,
                user_id=user["id"],
            )
            self.verification.send_verification_mail(
                user,
                callback_url,
                kind=MailKind.CHANGE_EMAIL_CONFIRMATION,
                token=token,
                new_email=new_email,
            )
            return False
        token = self.verification.token_for(
            user["email"],
            update_to=new_email,
            request_type=CHANGE_EMAIL_VERIFICATION,
            user_id=user["id"],
        )
        self.verification.send_verification_mail(
            user, callback_url, kind=MailKind.CHANGE_EMAIL_VERIFICATION, token=token, to=new_email
        )
        return False
