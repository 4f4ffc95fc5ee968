"""Rules of social sign-in: the OAuth state, the callback, implicit and explicit linking, and
the provider tokens of linked accounts (spec §4, Better Auth's oauth2/ and account routes)."""

from __future__ import annotations

import binascii
import hmac
import logging
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request

from auth_service.auth.context import AuthContext
from auth_service.auth.redirects import append_query
from auth_service.auth.sessions.service import SessionService
from auth_service.auth.social.providers import (
    GoogleProvider,
    OidcProvider,
    ProviderError,
    ProviderProfile,
    ProviderTokens,
    SocialProvider,
)
from auth_service.auth.social.repository import AccountRepository
from auth_service.auth.users.repository import new_user_row
from auth_service.auth.verification.service import EmailVerificationService
from auth_service.core.clock import seconds, to_naive_utc, utcnow
from auth_service.core.cookies import (
    encode_cookie_value,
    set_cookie_line,
    sign_value,
    verify_signed_value,
)
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.ids import ALPHANUMERIC, random_string
from auth_service.db.engine import RequestDb
from auth_service.plugins.jwt.private_key_crypto import decrypt_hex, encrypt_hex

log = logging.getLogger("auth_service.social")

AUTH_BASE_PATH = "/api/auth"  # auth.router.BASE_PATH (importing it here would be circular)
STATE_ALPHABET = ALPHANUMERIC + "-_"
STATE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
STATE_ROW_TTL = 600  # seconds: the verification row (Better Auth's 10 minutes)
STATE_COOKIE_MAX_AGE = 300
ACCESS_TOKEN_REFRESH_MARGIN = 5  # seconds before expiry get-access-token refreshes
_HEX = frozenset(string.hexdigits)


# Callback error codes (Better Auth's OAUTH_CALLBACK_ERROR_CODES, sent as `?error=`).
class CallbackError:
    STATE_NOT_FOUND = "state_not_found"
    STATE_MISMATCH = "state_mismatch"
    NO_CODE = "no_code"
    PROVIDER_NOT_FOUND = "oauth_provider_not_found"
    ISSUER_MISMATCH = "issuer_mismatch"
    INVALID_CODE = "invalid_code"
    UNABLE_TO_GET_USER_INFO = "unable_to_get_user_info"
    NO_CALLBACK_URL = "no_callback_url"
    UNABLE_TO_LINK_ACCOUNT = "unable_to_link_account"
    EMAIL_DOES_NOT_MATCH = "email_does_not_match"
    ACCOUNT_ALREADY_LINKED_TO_DIFFERENT_USER = "account_already_linked_to_different_user"
    EMAIL_NOT_FOUND = "email_not_found"


# Outcomes of `sign_in_with_profile` that are not a session (Better Auth's texts; the callback
# sends them with spaces turned into underscores, the id-token flow as the message).
ACCOUNT_NOT_LINKED = "account not linked"
UNABLE_TO_LINK = "unable to link account"
SIGNUP_DISABLED = "signup disabled"
UNABLE_TO_CREATE_USER = "unable to create user"


class CallbackRedirect(Exception):
    """Ends the callback with a 302 to `location`, carrying the cookies queued so far."""

    def __init__(self, location: str, cookies: list[str]) -> None:
        super().__init__(location)
        self.location = location
        self.cookies = cookies


def purpose_key(secret: str, purpose: str) -> str:
    """Better Auth's derivePurposeKey: a hex key per purpose, HKDF-SHA256 of the secret."""
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"better-auth:oauth-encryption:v1",
        info=f"better-auth:{purpose}:v1".encode(),
    ).derive(secret.encode())
    return derived.hex()


def is_likely_encrypted(token: str) -> bool:
    if token.startswith("$ba$"):
        return True
    return len(token) % 2 == 0 and bool(token) and all(ch in _HEX for ch in token)


@dataclass(slots=True)
class SignInOutcome:
    session: dict[str, Any] | None = None
    user: dict[str, Any] | None = None
    is_register: bool = False
    error: str | None = None


@dataclass(slots=True)
class StartedFlow:
    url: str
    cookies: list[str] = field(default_factory=list)


class SocialService:
    def __init__(
        self,
        ctx: AuthContext,
        sessions: SessionService,
        providers: dict[str, SocialProvider],
        verification: EmailVerificationService | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.sessions = sessions
        self.providers = providers
        self.verification = verification
        """Mails a new user whose provider did not verify the address (sendOnSignUp)."""
        self.accounts = AccountRepository(ctx.schema)
        head = "__Secure-" if ctx.secure_cookies else ""
        self.state_cookie = f"{head}{ctx.settings.cookie_prefix}.state"

    # ------------------------------------------------------------------ helpers

    @property
    def api_base(self) -> str:
        return f"{self.settings.base_origin}{AUTH_BASE_PATH}"

    @property
    def default_error_url(self) -> str:
        return f"{self.api_base}/error"

    def redirect_uri(self, provider: SocialProvider) -> str:
        return f"{self.api_base}/callback/{provider.id}"

    def provider(self, provider_id: str) -> SocialProvider | None:
        return self.providers.get(provider_id)

    def require_provider(self, provider_id: str) -> SocialProvider:
        provider = self.providers.get(provider_id)
        if provider is None:
            raise APIError(404, ErrorCode.PROVIDER_NOT_FOUND)
        return provider

    def seal_token(self, token: str | None) -> str | None:
        if token and self.settings.encrypt_oauth_tokens:
            return encrypt_hex(self.settings.secret_value, token)
        return token

    def unseal_token(self, token: str | None) -> str | None:
        if token and self.settings.encrypt_oauth_tokens and is_likely_encrypted(token):
            return decrypt_hex(self.settings.secret_value, token)
        return token

    def is_trusted(self, provider_id: str) -> bool:
        return provider_id in self.settings.account_linking_trusted_providers

    def _state_cookie_line(self, state: str) -> str:
        return set_cookie_line(
            self.state_cookie,
            encode_cookie_value(sign_value(self.ctx.secret, state)),
            max_age=STATE_COOKIE_MAX_AGE,
            secure=self.ctx.secure_cookies,
        )

    def _expire_state_cookie(self) -> str:
        return set_cookie_line(self.state_cookie, "", max_age=0, secure=self.ctx.secure_cookies)

    # ------------------------------------------------------------------ starting a redirect flow

    async def start(
        self,
        db: RequestDb,
        provider: SocialProvider,
        body: dict[str, Any],
        *,
        link: dict[str, str] | None = None,
    ) -> StartedFlow:
        """The authorization URL, with the state row and the signed state cookie."""
        state = random_string(32, STATE_ALPHABET)
        code_verifier = random_string(128, STATE_ALPHABET)
        nonce = random_string(32) if provider.uses_nonce else None
        try:
            url = await provider.authorization_url(
                state=state,
                code_verifier=code_verifier,
                redirect_uri=self.redirect_uri(provider),
                scopes=body.get("scopes") or (),
                login_hint=body.get("loginHint"),
                additional_params=body.get("additionalParams"),
                nonce=nonce,
            )
        except ProviderError as exc:
            log.error("social sign-in: provider %s unavailable: %s", provider.id, exc)
            raise APIError(502, ErrorCode.PROVIDER_UNAVAILABLE) from exc
        now = utcnow()
        data: dict[str, Any] = dict(body.get("additionalData") or {})
        data.update(
            {
                "callbackURL": body.get("callbackURL") or self.settings.base_origin,
                "codeVerifier": code_verifier,
                "errorURL": body.get("errorCallbackURL"),
                "newUserURL": body.get("newUserCallbackURL"),
                "link": link,
                "expiresAt": int((now - datetime(1970, 1, 1)).total_seconds() * 1000)
                + STATE_ROW_TTL * 1000,
                "requestSignUp": body.get("requestSignUp"),
                "idTokenNonce": nonce,
                "oauthState": state,
            }
        )
        value = orjson.dumps({k: v for k, v in data.items() if v is not None}).decode()
        await self.accounts.insert_state(
            await db.conn(), f"auth-state:{state}", value, now + seconds(STATE_ROW_TTL)
        )
        return StartedFlow(url=url, cookies=[self._state_cookie_line(state)])

    def link_data(self, user: dict[str, Any], session_token: str) -> dict[str, str]:
        key = purpose_key(self.settings.secret_value, "oauth-link-session-token")
        return {
            "userId": user["id"],
            "email": user["email"],
            "encryptedSessionToken": encrypt_hex(key, session_token),
        }

    # ------------------------------------------------------------------ the callback

    async def callback(
        self,
        db: RequestDb,
        request: Request,
        provider_id: str,
        query: dict[str, str],
        cookies: dict[str, str],
    ) -> tuple[str, list[str], dict[str, Any] | None]:
        """Where to send the browser, the cookies to set, and the new session (if any).

        Raises CallbackRedirect for every failure; it carries the cookies queued so far."""
        queued: list[str] = []

        def fail(base: str, error: str, description: str | None = None) -> CallbackRedirect:
            location = append_query(base, "error", error)
            if description:
                location = append_query(location, "error_description", description)
            return CallbackRedirect(location, queued)

        state = query.get("state")
        if not state:
            raise fail(self.default_error_url, CallbackError.STATE_NOT_FOUND)
        data = await self._parse_state(db, state, cookies, queued, fail)
        error_url = str(data.get("errorURL") or self.default_error_url)
        if query.get("error"):
            raise fail(error_url, query["error"], query.get("error_description"))
        code = query.get("code")
        if not code:
            raise fail(error_url, CallbackError.NO_CODE)
        provider = self.providers.get(provider_id)
        if provider is None:
            raise fail(error_url, CallbackError.PROVIDER_NOT_FOUND)
        iss = query.get("iss")
        if iss and isinstance(provider, OidcProvider):
            try:
                issuers = (await provider.metadata()).issuers
            except ProviderError:
                issuers = ()
            if iss not in issuers:
                raise fail(error_url, CallbackError.ISSUER_MISMATCH)
        await db.release()  # no pooled connection is held while the provider answers
        nonce = data.get("idTokenNonce")
        try:
            tokens = await provider.exchange_code(
                code, str(data.get("codeVerifier", "")), self.redirect_uri(provider)
            )
        except ProviderError as exc:
            log.warning("oauth callback %s: code exchange failed: %s", provider.id, exc)
            raise fail(error_url, CallbackError.INVALID_CODE) from exc
        try:
            profile = await provider.profile(
                tokens, nonce=nonce if isinstance(nonce, str) else None
            )
        except ProviderError as exc:
            log.warning("oauth callback %s: no user info: %s", provider.id, exc)
            raise fail(error_url, CallbackError.UNABLE_TO_GET_USER_INFO) from exc
        callback_url = data.get("callbackURL")
        if not isinstance(callback_url, str) or not callback_url:
            raise fail(error_url, CallbackError.NO_CALLBACK_URL)
        link = data.get("link")
        if isinstance(link, dict):
            code_or_none = await self._link_from_callback(db, provider, profile, tokens, link)
            if code_or_none is not None:
                raise fail(error_url, code_or_none)
            return callback_url, queued, None
        if not profile.email:
            raise fail(error_url, CallbackError.EMAIL_NOT_FOUND)
        outcome = await self.sign_in_with_profile(
            db,
            request,
            provider,
            profile,
            self._account_values(provider, profile, tokens),
            callback_url=callback_url,
        )
        if outcome.error is not None or outcome.session is None:
            raise fail(error_url, (outcome.error or UNABLE_TO_CREATE_USER).replace(" ", "_"))
        new_user_url = data.get("newUserURL")
        target = (
            new_user_url
            if outcome.is_register and isinstance(new_user_url, str) and new_user_url
            else callback_url
        )
        return target, queued, outcome.session

    async def _parse_state(
        self,
        db: RequestDb,
        state: str,
        cookies: dict[str, str],
        queued: list[str],
        fail: Callable[[str, str], CallbackRedirect],
    ) -> dict[str, Any]:
        if not STATE_PATTERN.fullmatch(state):
            raise fail(self.default_error_url, CallbackError.STATE_MISMATCH)
        identifier = f"auth-state:{state}"
        conn = await db.conn()
        raw = await self.accounts.find_state(conn, identifier)
        if raw is None:
            raise fail(self.default_error_url, CallbackError.STATE_MISMATCH)
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("state is not an object")
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise fail(self.default_error_url, CallbackError.STATE_MISMATCH) from exc
        error_url = str(data.get("errorURL") or self.default_error_url)
        if data.get("oauthState") is not None and data.get("oauthState") != state:
            raise fail(error_url, CallbackError.STATE_MISMATCH)
        raw_cookie = cookies.get(self.state_cookie)
        cookie_state = verify_signed_value(self.ctx.secret, raw_cookie) if raw_cookie else None
        if cookie_state is None or not _constant_time_equal(cookie_state, state):
            raise fail(error_url, CallbackError.STATE_MISMATCH)
        queued.append(self._expire_state_cookie())
        await self.accounts.delete_state(conn, identifier)
        expires_at = data.get("expiresAt")
        now_ms = (utcnow() - datetime(1970, 1, 1)).total_seconds() * 1000
        if not isinstance(expires_at, int | float) or expires_at < now_ms:
            raise fail(error_url, CallbackError.STATE_MISMATCH)
        return data

    def _account_values(
        self, provider: SocialProvider, profile: ProviderProfile, tokens: ProviderTokens
    ) -> dict[str, Any]:
        return {
            "provider_id": provider.id,
            "account_id": profile.account_id,
            "access_token": self.seal_token(tokens.access_token),
            "refresh_token": self.seal_token(tokens.refresh_token),
            "id_token": tokens.id_token,
            "access_token_expires_at": tokens.access_token_expires_at,
            "refresh_token_expires_at": tokens.refresh_token_expires_at,
            "scope": ",".join(tokens.scopes) if tokens.scopes else None,
        }

    # ------------------------------------------------------------------ users and accounts

    async def sign_in_with_profile(
        self,
        db: RequestDb,
        request: Request,
        provider: SocialProvider,
        profile: ProviderProfile,
        account: dict[str, Any],
        *,
        disable_sign_up: bool = False,
        callback_url: str | None = None,
    ) -> SignInOutcome:
        """Better Auth's handleOAuthUserInfo: find the account's user, or link the account to
        the user with the same e-mail when the linking rules allow, or create the user."""
        assert profile.email is not None
        email = profile.email.lower()
        conn = await db.conn()
        existing = await self.accounts.find_by_provider_account(
            conn, provider.id, profile.account_id
        )
        is_register = False
        if existing is not None:
            user = await self.accounts.find_user(conn, existing["user_id"])
            if user is None:
                return SignInOutcome(error=UNABLE_TO_LINK)
            fresh = {
                k: v
                for k, v in account.items()
                if v is not None and k not in ("scope", "account_id", "provider_id")
            }
            if fresh:
                await self.accounts.update(conn, existing["id"], fresh)
            await self._verify_matching_email(conn, user, profile, email)
        else:
            found = await self.accounts.find_user_by_email(conn, email)
            if found is not None:
                user = found
                settings = self.settings
                if (
                    (not self.is_trusted(provider.id) and not profile.email_verified)
                    or (
                        settings.account_linking_require_local_email_verified
                        and not user["email_verified"]
                    )
                    or not settings.account_linking_enabled
                ):
                    return SignInOutcome(error=ACCOUNT_NOT_LINKED)
                try:
                    await self.accounts.insert(conn, {**account, "user_id": user["id"]})
                except IntegrityError:
                    return SignInOutcome(error=UNABLE_TO_LINK)
                await self._verify_matching_email(conn, user, profile, email)
            else:
                if disable_sign_up:
                    return SignInOutcome(error=SIGNUP_DISABLED)
                user = new_user_row(
                    profile.name, email, profile.image, email_verified=profile.email_verified
                )
                try:
                    async with db.transaction() as tx:
                        await self.accounts.insert_user(tx, user)
                        await self.accounts.insert(tx, {**account, "user_id": user["id"]})
                except IntegrityError:
                    return SignInOutcome(error=UNABLE_TO_CREATE_USER)
                is_register = True
                self._mail_verification_to_new_user(user, callback_url)
        session = await self.sessions.create(await db.conn(), request, user["id"])
        return SignInOutcome(session=session, user=user, is_register=is_register)

    def _mail_verification_to_new_user(
        self, user: dict[str, Any], callback_url: str | None
    ) -> None:
        verification = self.verification
        if (
            not user["email_verified"]
            and self.settings.send_verification_on_sign_up
            and verification is not None
            and verification.enabled
        ):
            verification.send_verification_mail(user, callback_url)

    async def _verify_matching_email(
        self, conn: Any, user: dict[str, Any], profile: ProviderProfile, email: str
    ) -> None:
        if profile.email_verified and not user["email_verified"] and email == user["email"]:
            await self.accounts.mark_email_verified(conn, user["id"])
            user["email_verified"] = True

    async def _link_from_callback(
        self,
        db: RequestDb,
        provider: SocialProvider,
        profile: ProviderProfile,
        tokens: ProviderTokens,
        link: dict[str, Any],
    ) -> str | None:
        """Better Auth's linkOAuthAccount; the error code, or None when linked."""
        user_id = str(link.get("userId", ""))
        if not await self._link_session_live(db, link, user_id):
            return CallbackError.UNABLE_TO_LINK_ACCOUNT
        if (
            not self.is_trusted(provider.id) and not profile.email_verified
        ) or not self.settings.account_linking_enabled:
            return CallbackError.UNABLE_TO_LINK_ACCOUNT
        if (profile.email or "").lower() != str(link.get("email", "")).lower() and (
            not self.settings.account_linking_allow_different_emails
        ):
            return CallbackError.EMAIL_DOES_NOT_MATCH
        conn = await db.conn()
        account = self._account_values(provider, profile, tokens)
        existing = await self.accounts.find_by_provider_account(
            conn, provider.id, profile.account_id
        )
        if existing is not None:
            if existing["user_id"] != user_id:
                return CallbackError.ACCOUNT_ALREADY_LINKED_TO_DIFFERENT_USER
            merged = merge_scopes(existing.get("scope"), tokens.scopes)
            values = {
                k: v
                for k, v in {**account, "scope": merged or None}.items()
                if v is not None and k not in ("account_id", "provider_id")
            }
            await self.accounts.update(conn, existing["id"], values)
            return None
        try:
            await self.accounts.insert(conn, {**account, "user_id": user_id})
        except IntegrityError:
            return CallbackError.UNABLE_TO_LINK_ACCOUNT
        return None

    async def _link_session_live(self, db: RequestDb, link: dict[str, Any], user_id: str) -> bool:
        sealed = link.get("encryptedSessionToken")
        if not isinstance(sealed, str):
            return True  # a link started without a recorded session (as Better Auth)
        key = purpose_key(self.settings.secret_value, "oauth-link-session-token")
        try:
            token = decrypt_hex(key, sealed)
        except (ValueError, binascii.Error):
            return False
        record = await self.sessions.repository.find_with_user(db.database, token)
        if record is None:
            return False
        session = record.session
        return bool(
            session["user_id"] == user_id and to_naive_utc(session["expires_at"]) > utcnow()
        )

    # ------------------------------------------------------------------ id tokens

    async def profile_from_id_token(
        self, provider: SocialProvider, token: str, nonce: str | None
    ) -> ProviderProfile:
        if not provider.supports_id_token or not isinstance(provider, OidcProvider):
            raise APIError(404, ErrorCode.ID_TOKEN_NOT_SUPPORTED)
        try:
            claims = await provider.verify_id_token(token, nonce)
        except ProviderError as exc:
            log.warning("id token for %s rejected: %s", provider.id, exc)
            raise APIError(401, ErrorCode.INVALID_TOKEN) from exc
        try:
            profile = provider.profile_from_claims(claims)
        except ProviderError as exc:
            raise APIError(401, ErrorCode.FAILED_TO_GET_USER_INFO) from exc
        if not profile.email:
            raise APIError(401, ErrorCode.USER_EMAIL_NOT_FOUND)
        return profile

    async def sign_in_with_id_token(
        self, db: RequestDb, request: Request, provider: SocialProvider, id_token: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The new session and its user."""
        profile = await self.profile_from_id_token(
            provider, id_token["token"], id_token.get("nonce")
        )
        account = {
            "provider_id": provider.id,
            "account_id": profile.account_id,
            "access_token": self.seal_token(id_token.get("accessToken")),
            "id_token": id_token["token"],
        }
        outcome = await self.sign_in_with_profile(
            db,
            request,
            provider,
            profile,
            account,
            disable_sign_up=False,
        )
        if outcome.error is not None or outcome.session is None or outcome.user is None:
            raise APIError(401, ErrorCode.OAUTH_LINK_ERROR, outcome.error or UNABLE_TO_CREATE_USER)
        return outcome.session, outcome.user

    async def link_with_id_token(
        self,
        db: RequestDb,
        provider: SocialProvider,
        user: dict[str, Any],
        id_token: dict[str, Any],
    ) -> None:
        profile = await self.profile_from_id_token(
            provider, id_token["token"], id_token.get("nonce")
        )
        conn = await db.conn()
        linked = await self.accounts.find_by_provider_account(conn, provider.id, profile.account_id)
        values = {
            "access_token": self.seal_token(id_token.get("accessToken")),
            "id_token": id_token["token"],
            "refresh_token": self.seal_token(id_token.get("refreshToken")),
        }
        if linked is not None and linked["user_id"] == user["id"]:
            await self.accounts.update(
                conn, linked["id"], {k: v for k, v in values.items() if v is not None}
            )
            return
        if linked is not None:
            raise APIError(409, ErrorCode.SOCIAL_ACCOUNT_ALREADY_LINKED)
        if (
            not self.is_trusted(provider.id) and not profile.email_verified
        ) or not self.settings.account_linking_enabled:
            raise APIError(401, ErrorCode.LINKING_NOT_ALLOWED)
        if (profile.email or "").lower() != user["email"].lower() and (
            not self.settings.account_linking_allow_different_emails
        ):
            raise APIError(401, ErrorCode.LINKING_DIFFERENT_EMAILS_NOT_ALLOWED)
        try:
            await self.accounts.insert(
                conn,
                {
                    "provider_id": provider.id,
                    "account_id": profile.account_id,
                    "user_id": user["id"],
                    **values,
                },
            )
        except IntegrityError as exc:
            raise APIError(417, ErrorCode.LINKING_FAILED) from exc

    # ------------------------------------------------------------------ linked accounts

    async def unlink(self, db: RequestDb, user_id: str, account_id: str) -> None:
        conn = await db.conn()
        accounts = await self.accounts.list_for_user(conn, user_id)
        if len(accounts) == 1 and not self.settings.account_linking_allow_unlinking_all:
            raise APIError(400, ErrorCode.FAILED_TO_UNLINK_LAST_ACCOUNT)
        if not any(a["id"] == account_id for a in accounts):
            raise APIError(400, ErrorCode.ACCOUNT_NOT_FOUND)
        await self.accounts.delete(conn, account_id)

    async def user_account(self, db: RequestDb, user_id: str, account_id: str) -> dict[str, Any]:
        accounts = await self.accounts.list_for_user(await db.conn(), user_id)
        for account in accounts:
            if account["id"] == account_id:
                return account
        raise APIError(400, ErrorCode.ACCOUNT_NOT_FOUND)

    def _provider_of(self, account: dict[str, Any]) -> SocialProvider:
        provider = self.providers.get(account["provider_id"])
        if provider is None:
            raise APIError(
                400,
                ErrorCode.PROVIDER_NOT_SUPPORTED,
                f"Provider {account['provider_id']} is not supported.",
            )
        return provider

    async def valid_access_token(self, db: RequestDb, account: dict[str, Any]) -> dict[str, Any]:
        """Better Auth's getValidAccessToken: refresh within 5 s of expiry, then answer."""
        provider = self._provider_of(account)
        try:
            new_tokens: ProviderTokens | None = None
            expires_at = account.get("access_token_expires_at")
            expiring = (
                expires_at is not None
                and (to_naive_utc(expires_at) - utcnow()).total_seconds()
                < ACCESS_TOKEN_REFRESH_MARGIN
            )
            if account.get("refresh_token") and expiring:
                refresh_token = self.unseal_token(account["refresh_token"])
                assert refresh_token is not None
                await db.release()
                new_tokens = await provider.refresh(refresh_token)
                update = {
                    "access_token": self.seal_token(new_tokens.access_token),
                    "access_token_expires_at": new_tokens.access_token_expires_at,
                    "refresh_token": self.seal_token(new_tokens.refresh_token)
                    if new_tokens.refresh_token
                    else account["refresh_token"],
                    "refresh_token_expires_at": new_tokens.refresh_token_expires_at
                    or account.get("refresh_token_expires_at"),
                    "id_token": new_tokens.id_token or account.get("id_token"),
                }
                await self.accounts.update(await db.conn(), account["id"], update)
            answer: dict[str, Any] = {
                "accessToken": new_tokens.access_token
                if new_tokens is not None and new_tokens.access_token
                else self.unseal_token(account.get("access_token") or ""),
            }
            final_expiry = (
                new_tokens.access_token_expires_at
                if new_tokens is not None and new_tokens.access_token_expires_at
                else expires_at
            )
            if final_expiry is not None:
                answer["accessTokenExpiresAt"] = final_expiry
            answer["scopes"] = parse_scopes(account.get("scope"))
            id_token = (new_tokens.id_token if new_tokens else None) or account.get("id_token")
            if id_token:
                answer["idToken"] = id_token
            return answer
        except (ProviderError, ValueError) as exc:
            log.warning("get-access-token %s failed: %s", provider.id, exc)
            raise APIError(400, ErrorCode.FAILED_TO_GET_ACCESS_TOKEN) from exc

    async def refresh_tokens(self, db: RequestDb, account: dict[str, Any]) -> dict[str, Any]:
        provider = self._provider_of(account)
        stored_refresh = account.get("refresh_token")
        if not stored_refresh:
            raise APIError(400, ErrorCode.REFRESH_TOKEN_NOT_FOUND)
        try:
            refresh_token = self.unseal_token(stored_refresh)
            assert refresh_token is not None
            await db.release()
            tokens = await provider.refresh(refresh_token)
        except (ProviderError, ValueError) as exc:
            log.warning("refresh-token %s failed: %s", provider.id, exc)
            raise APIError(400, ErrorCode.FAILED_TO_REFRESH_ACCESS_TOKEN) from exc
        refresh_expiry = tokens.refresh_token_expires_at or account.get("refresh_token_expires_at")
        id_token = tokens.id_token or account.get("id_token")
        await self.accounts.update(
            await db.conn(),
            account["id"],
            {
                "access_token": self.seal_token(tokens.access_token),
                "refresh_token": self.seal_token(tokens.refresh_token)
                if tokens.refresh_token
                else stored_refresh,
                "access_token_expires_at": tokens.access_token_expires_at,
                "refresh_token_expires_at": refresh_expiry,
                "id_token": id_token,
            },
        )
        answer: dict[str, Any] = {
            "accessToken": tokens.access_token,
            "refreshToken": tokens.refresh_token or refresh_token,
        }
        if tokens.access_token_expires_at is not None:
            answer["accessTokenExpiresAt"] = tokens.access_token_expires_at
        answer.update(
            {
                "refreshTokenExpiresAt": refresh_expiry,
                "scope": account.get("scope"),
                "idToken": id_token,
                "providerId": account["provider_id"],
                "accountId": account["id"],
            }
        )
        return answer

    async def account_info(self, db: RequestDb, account: dict[str, Any]) -> dict[str, Any]:
        provider = self.providers.get(account["provider_id"])
        if provider is None:
            raise APIError(400, ErrorCode.PROVIDER_NOT_CONFIGURED)
        tokens = await self.valid_access_token(db, account)
        if not tokens.get("accessToken"):
            raise APIError(400, ErrorCode.ACCESS_TOKEN_NOT_FOUND)
        await db.release()
        id_token = tokens.get("idToken")
        if isinstance(provider, OidcProvider) and not isinstance(provider, GoogleProvider):
            id_token = None  # the userinfo endpoint answers; a stored id token may be stale
        try:
            profile = await provider.profile(
                ProviderTokens(access_token=tokens["accessToken"], id_token=id_token), nonce=None
            )
        except ProviderError as exc:
            log.warning("account-info %s failed: %s", provider.id, exc)
            raise APIError(401, ErrorCode.FAILED_TO_GET_USER_INFO) from exc
        return {
            "user": {
                "id": profile.account_id,
                "name": profile.name,
                "email": profile.email,
                "image": profile.image,
                "emailVerified": profile.email_verified,
            },
            "data": profile.data,
            "account": {
                "id": account["id"],
                "providerId": account["provider_id"],
                "accountId": account["account_id"],
            },
        }


def parse_scopes(scope: str | None) -> list[str]:
    if not scope:
        return []
    return [s.strip() for s in scope.split(",") if s.strip()]


def merge_scopes(stored: str | None, incoming: list[str]) -> str:
    merged: dict[str, None] = {}
    for scope in [*parse_scopes(stored), *(s.strip() for s in incoming)]:
        if scope:
            merged[scope] = None
    return ",".join(merged)


def _constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
