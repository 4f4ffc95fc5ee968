"""Rules of e-mail and password sign-up, sign-in and password changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.requests import Request

from auth_service.auth.context import AuthContext
from auth_service.auth.sessions.service import SessionService
from auth_service.auth.users.repository import (
    CREDENTIAL_PROVIDER,
    UserRepository,
    is_rejected_value,
    new_user_row,
)
from auth_service.core.clock import utcnow
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.ids import generate_id
from auth_service.core.validation import is_valid_email, utf16_length
from auth_service.db.engine import RequestDb

if TYPE_CHECKING:
    from auth_service.auth.verification.service import EmailVerificationService


@dataclass(slots=True)
class SignedIn:
    user: dict[str, Any]
    session: dict[str, Any] | None


class EmailPasswordService:
    def __init__(
        self,
        ctx: AuthContext,
        sessions: SessionService,
        verification: EmailVerificationService | None = None,
    ) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.users = UserRepository(ctx.schema)
        self.verification = verification
        """The verification mail (auth.verification); None: no mail is ever sent."""

    def _can_mail_verification(self) -> bool:
        return self.verification is not None and self.verification.enabled

    def check_password_length(self, password: str, *, check_min: bool = True) -> None:
        length = utf16_length(password)
        if check_min and length < self.ctx.settings.min_password_length:
            raise APIError(400, ErrorCode.PASSWORD_TOO_SHORT)
        if length > self.ctx.settings.max_password_length:
            raise APIError(400, ErrorCode.PASSWORD_TOO_LONG)

    async def sign_up(
        self,
        db: RequestDb,
        request: Request,
        *,
        name: str,
        email: str,
        password: str,
        image: str | None,
        remember_me: bool,
        callback_url: str | None = None,
    ) -> SignedIn:
        """Create the user; signed in (a session) unless e-mail verification is required."""
        if self.ctx.settings.disable_sign_up:
            raise APIError(400, ErrorCode.EMAIL_PASSWORD_SIGN_UP_DISABLED)
        self.check_password_length(password)
        email = email.lower()
        exists = await self.users.email_exists(await db.conn(), email)
        await db.release()
        # With verification required, an existing address gets the answer a new one gets (a
        # synthetic user, no session), after the same hashing work: no enumeration (spec §8.3).
        generic = self.ctx.settings.email_verification_required
        if exists and generic:
            await self.ctx.hasher.hash(password)
            return SignedIn(user=new_user_row(name, email, image), session=None)
        if exists:
            raise APIError(422, ErrorCode.USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL)
        password_hash = await self.ctx.hasher.hash(password)
        user = new_user_row(name, email, image)
        try:
            async with db.transaction() as conn:
                await self.users.insert_user(conn, user)
                await self.users.insert_account(
                    conn,
                    {
                        "id": generate_id(),
                        "account_id": user["id"],
                        "provider_id": CREDENTIAL_PROVIDER,
                        "user_id": user["id"],
                        "password": password_hash,
                        "created_at": user["created_at"],
                        "updated_at": user["updated_at"],
                    },
                )
                session = None
                if not generic:
                    session = await self.sessions.create(
                        conn, request, user["id"], remember_me=remember_me
                    )
        except IntegrityError as exc:
            # A concurrent sign-up of the same address won the unique constraint.
            if generic:
                return SignedIn(user=new_user_row(name, email, image), session=None)
            raise APIError(422, ErrorCode.USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL) from exc
        except DBAPIError as exc:
            if is_rejected_value(exc):
                raise APIError(422, ErrorCode.FAILED_TO_CREATE_USER) from exc
            raise
        if self.ctx.settings.send_verification_on_sign_up and self._can_mail_verification():
            assert self.verification is not None
            self.verification.send_verification_mail(user, callback_url)
        return SignedIn(user=user, session=session)

    async def sign_in(
        self,
        db: RequestDb,
        request: Request,
        *,
        email: str,
        password: str,
        remember_me: bool,
        callback_url: str | None = None,
    ) -> SignedIn:
        if not is_valid_email(email):
            raise APIError(400, ErrorCode.INVALID_EMAIL)
        self.check_password_length(password, check_min=False)
        found = await self.users.find_with_credential_by_email(await db.conn(), email.lower())
        await db.release()
        if found is None or found[2] is None:
            await self.ctx.hasher.spend_equal_time(password)
            raise APIError(401, ErrorCode.INVALID_EMAIL_OR_PASSWORD)
        user, account_id, password_hash = found
        assert account_id is not None
        assert password_hash is not None
        result = await self.ctx.hasher.verify(password_hash, password)
        if not result.ok:
            raise APIError(401, ErrorCode.INVALID_EMAIL_OR_PASSWORD)
        settings = self.ctx.settings
        if settings.email_verification_required and not user["email_verified"]:
            if settings.email_verification_send_on_sign_in and self._can_mail_verification():
                assert self.verification is not None
                self.verification.send_verification_mail(user, callback_url)
            raise APIError(403, ErrorCode.EMAIL_NOT_VERIFIED)
        new_hash = await self.ctx.hasher.hash(password) if result.needs_rehash else None
        async with db.transaction() as conn:
            # The password may have changed while it was being verified (change-password, a
            # reset): only the hash just checked opens a session, so none outlives a change that
            # revoked the others, and a re-hash never writes back a replaced password.
            current = await self.users.lock_password(
                conn, account_id, for_update=new_hash is not None
            )
            if current != password_hash:
                raise APIError(401, ErrorCode.INVALID_EMAIL_OR_PASSWORD)
            if new_hash is not None:
                await self.users.set_password(conn, account_id, new_hash, utcnow())
            session = await self.sessions.create(conn, request, user["id"], remember_me=remember_me)
        return SignedIn(user=user, session=session)

    async def check_current_password(
        self, db: RequestDb, user_id: str, password: str
    ) -> tuple[dict[str, Any], str]:
        """The user and credential account id, if `password` is the user's password."""
        found = await self.users.find_with_credential_by_id(await db.conn(), user_id)
        await db.release()
        if found is None:
            raise APIError(400, ErrorCode.CREDENTIAL_ACCOUNT_NOT_FOUND)
        user, account_id, password_hash = found
        if account_id is None or password_hash is None:
            raise APIError(400, ErrorCode.CREDENTIAL_ACCOUNT_NOT_FOUND)
        if not (await self.ctx.hasher.verify(password_hash, password)).ok:
            raise APIError(400, ErrorCode.INVALID_PASSWORD)
        return user, account_id

    async def change_password(
        self,
        db: RequestDb,
        request: Request,
        *,
        user_id: str,
        current_password: str,
        new_password: str,
        revoke_other_sessions: bool,
    ) -> SignedIn:
        self.check_password_length(new_password)
        self.check_password_length(current_password, check_min=False)
        user, account_id = await self.check_current_password(db, user_id, current_password)
        new_hash = await self.ctx.hasher.hash(new_password)
        session = None
        async with db.transaction() as conn:
            await self.users.set_password(conn, account_id, new_hash, utcnow())
            if revoke_other_sessions:
                await self.sessions.repository.delete_all_for_user(conn, user_id)
                session = await self.sessions.create(conn, request, user_id)
        return SignedIn(user=user, session=session)
