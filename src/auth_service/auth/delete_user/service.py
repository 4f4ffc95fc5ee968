"""Rules of account deletion (spec §4 delete-user): with the password, a fresh session, or a
mailed single-use token (`delete-account-<token>` -> user id in the verification table).
Sessions, accounts and the user go in one transaction."""

from __future__ import annotations

import string

from auth_service.auth.context import AuthContext
from auth_service.auth.delete_user.repository import AccountDeletionRepository
from auth_service.auth.email_password.service import EmailPasswordService
from auth_service.auth.mail.links import delete_account_link
from auth_service.auth.mail.sender import Mailer
from auth_service.auth.mail.templates import MailKind, render
from auth_service.auth.sessions.service import ResolvedSession, SessionService
from auth_service.auth.verification.repository import VerificationRepository
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.ids import random_string
from auth_service.db.engine import RequestDb

DELETE_TOKEN_ALPHABET = string.digits + string.ascii_lowercase
DELETE_TOKEN_LENGTH = 32
USER_DELETED = "User deleted"
VERIFICATION_SENT = "Verification email sent"


def delete_identifier(token: str) -> str:
    return f"delete-account-{token}"


class DeleteUserService:
    def __init__(
        self,
        ctx: AuthContext,
        sessions: SessionService,
        email_password: EmailPasswordService,
        mailer: Mailer,
    ) -> None:
        self.settings = ctx.settings
        self.sessions = sessions
        self.email_password = email_password
        self.mailer = mailer
        self.verifications = VerificationRepository(ctx.schema)
        self.deletions = AccountDeletionRepository(ctx.schema)

    @property
    def enabled(self) -> bool:
        return self.settings.delete_user_enabled

    async def delete_user(
        self,
        db: RequestDb,
        current: ResolvedSession,
        *,
        password: str | None,
        token: str | None,
        callback_url: str | None,
    ) -> str:
        """POST /delete-user: the message of the answer (deleted, or the link mailed)."""
        if not self.enabled:
            raise APIError(404, None, empty_body=True)
        user = current.user
        if password:
            self.email_password.check_password_length(password, check_min=False)
            await self.email_password.check_current_password(db, user["id"], password)
        if token:
            await self.delete_with_token(db, user["id"], token)
            return USER_DELETED
        if self.settings.delete_user_send_verification:
            token = random_string(DELETE_TOKEN_LENGTH, DELETE_TOKEN_ALPHABET)
            expires_in = self.settings.delete_user_token_expires_in
            await self.verifications.create(
                await db.conn(), delete_identifier(token), user["id"], expires_in
            )
            self.mailer.send(
                render(
                    MailKind.DELETE_ACCOUNT,
                    to=user["email"],
                    name=user["name"],
                    url=delete_account_link(self.settings, token, callback_url),
                    expires_in=expires_in,
                )
            )
            return VERIFICATION_SENT
        if not password and not self.sessions.is_fresh(current.session):
            raise APIError(400, ErrorCode.SESSION_EXPIRED)
        async with db.transaction() as conn:
            await self.deletions.delete_user(conn, user["id"])
        return USER_DELETED

    async def delete_with_token(self, db: RequestDb, user_id: str, token: str) -> None:
        """Spend the user's deletion token and delete them, all in one transaction; a token that
        is unknown, expired or someone else's changes nothing (404 INVALID_TOKEN)."""
        async with db.transaction() as conn:
            consumed = await self.verifications.consume(conn, delete_identifier(token))
            if consumed is None or consumed.value != user_id:
                raise APIError(404, ErrorCode.INVALID_TOKEN)
            await self.deletions.delete_user(conn, user_id)
