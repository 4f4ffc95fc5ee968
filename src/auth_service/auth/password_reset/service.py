"""Rules of the password reset: single-use tokens in the verification table
(`reset-password:<token>` -> user id), mailed as a link; the reset sets the credential password
(creating the credential account when the user has none) and revokes the user's sessions."""

from __future__ import annotations

import logging

from auth_service.auth.context import AuthContext
from auth_service.auth.email_password.service import EmailPasswordService
from auth_service.auth.mail.links import reset_password_link
from auth_service.auth.mail.sender import Mailer
from auth_service.auth.mail.templates import MailKind, render
from auth_service.auth.sessions.repository import SessionRepository
from auth_service.auth.users.repository import CREDENTIAL_PROVIDER, UserRepository
from auth_service.auth.verification.repository import VerificationRepository
from auth_service.core.clock import utcnow
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.ids import generate_id, random_string
from auth_service.db.engine import RequestDb

log = logging.getLogger("auth_service.password_reset")

RESET_TOKEN_LENGTH = 24
RESET_REQUESTED = {
    "status": True,
    "message": "If this email exists in our system, check your email for the reset link",
}


def reset_identifier(token: str) -> str:
    return f"reset-password:{token}"


class PasswordResetService:
    def __init__(
        self, ctx: AuthContext, email_password: EmailPasswordService, mailer: Mailer
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.email_password = email_password
        self.mailer = mailer
        self.users = UserRepository(ctx.schema)
        self.sessions = SessionRepository(ctx.schema)
        self.verifications = VerificationRepository(ctx.schema)

    def _check_enabled(self) -> None:
        if not self.settings.password_reset_enabled:
            raise APIError(400, ErrorCode.RESET_PASSWORD_DISABLED)

    async def request_reset(self, db: RequestDb, *, email: str, redirect_to: str | None) -> None:
        """Mail a reset link if the address has an account; the caller answers the same way
        either way (and the work done is the same, bar the mail sent in the background)."""
        self._check_enabled()
        conn = await db.conn()
        found = await self.users.find_with_credential_by_email(conn, email.lower())
        token = random_string(RESET_TOKEN_LENGTH)
        if found is None:
            await self.verifications.find(conn, reset_identifier("dummy-verification-token"))
            return
        user = found[0]
        expires_in = self.settings.reset_password_token_expires_in
        await self.verifications.create(conn, reset_identifier(token), user["id"], expires_in)
        self.mailer.send(
            render(
                MailKind.RESET_PASSWORD,
                to=user["email"],
                name=user["name"],
                url=reset_password_link(self.settings, token, redirect_to),
                expires_in=expires_in,
            )
        )

    async def token_is_live(self, db: RequestDb, token: str) -> bool:
        found = await self.verifications.find(await db.conn(), reset_identifier(token))
        return found is not None and found.is_live(utcnow())

    async def reset(self, db: RequestDb, *, token: str | None, new_password: str) -> None:
        if not token:
            raise APIError(400, ErrorCode.INVALID_TOKEN)
        self.email_password.check_password_length(new_password)
        identifier = reset_identifier(token)
        verification = await self.verifications.find(await db.conn(), identifier)
        if verification is None or not verification.is_live(utcnow()):
            raise APIError(400, ErrorCode.INVALID_TOKEN)
        user_id = verification.value
        found = await self.users.find_with_credential_by_id(await db.conn(), user_id)
        await db.release()
        if found is None:
            raise APIError(400, ErrorCode.USER_NOT_FOUND)
        _, account_id, _ = found
        password_hash = await self.ctx.hasher.hash(new_password)
        now = utcnow()
        # One transaction: the token is spent, the sessions go and the password changes
        # together, or nothing happens (a concurrent reset with the same token gets 400).
        async with db.transaction() as conn:
            consumed = await self.verifications.consume(conn, identifier)
            if consumed is None or consumed.value != user_id:
                raise APIError(400, ErrorCode.INVALID_TOKEN)
            if self.settings.revoke_sessions_on_password_reset:
                await self.sessions.delete_all_for_user(conn, user_id)
            if account_id is None:
                await self.users.insert_account(
                    conn,
                    {
                        "id": generate_id(),
                        "account_id": user_id,
                        "provider_id": CREDENTIAL_PROVIDER,
                        "user_id": user_id,
                        "password": password_hash,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            else:
                await self.users.set_password(conn, account_id, password_hash, now)
