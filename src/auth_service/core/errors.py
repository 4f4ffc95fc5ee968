"""Errors as exceptions carrying their HTTP status and Better Auth error code."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Better Auth's error codes (the member names) with their exact messages (the values)."""

    @property
    def message(self) -> str:
        return str(self.value)

    USER_NOT_FOUND = "User not found"
    FAILED_TO_CREATE_USER = "Failed to create user"
    FAILED_TO_CREATE_SESSION = "Failed to create session"
    FAILED_TO_UPDATE_USER = "Failed to update user"
    FAILED_TO_GET_SESSION = "Failed to get session"
    INVALID_PASSWORD = "Invalid password"
    INVALID_EMAIL = "Invalid email"
    INVALID_EMAIL_OR_PASSWORD = "Invalid email or password"
    INVALID_USER = "Invalid user"
    INVALID_TOKEN = "Invalid token"
    TOKEN_EXPIRED = "Token expired"
    EMAIL_NOT_VERIFIED = "Email not verified"
    PASSWORD_TOO_SHORT = "Password too short"
    PASSWORD_TOO_LONG = "Password too long"
    USER_ALREADY_EXISTS = "User already exists."
    USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL = "User already exists. Use another email."
    EMAIL_CAN_NOT_BE_UPDATED = "Email can not be updated"
    CREDENTIAL_ACCOUNT_NOT_FOUND = "Credential account not found"
    SESSION_EXPIRED = "Session expired. Re-authenticate to perform this action."
    CROSS_SITE_NAVIGATION_LOGIN_BLOCKED = (
        "Cross-site navigation login blocked. This request appears to be a CSRF attack."
    )
    SESSION_NOT_FRESH = "Session is not fresh"
    INVALID_ORIGIN = "Invalid origin"
    INVALID_CALLBACK_URL = "Invalid callbackURL"
    INVALID_REDIRECT_URL = "Invalid redirectURL"
    INVALID_ERROR_CALLBACK_URL = "Invalid errorCallbackURL"
    INVALID_NEW_USER_CALLBACK_URL = "Invalid newUserCallbackURL"
    MISSING_OR_NULL_ORIGIN = "Missing or null Origin"
    VALIDATION_ERROR = "Validation Error"
    METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED = (
        "POST method requires deferSessionRefresh to be enabled in session config"
    )
    UNAUTHORIZED = "Unauthorized"
    EMAIL_PASSWORD_SIGN_UP_DISABLED = "Email and password sign up is not enabled"
    BAD_REQUEST = "Bad Request"
    UNSUPPORTED_MEDIA_TYPE = "Unsupported Media Type"
    SERVICE_UNAVAILABLE = "The service is temporarily unavailable. Retry shortly."
    PAYLOAD_TOO_LARGE = "Request body is too large"
    # Social sign-in and accounts (auth/social).
    SOCIAL_ACCOUNT_ALREADY_LINKED = "Social account already linked"
    PROVIDER_NOT_FOUND = "Provider not found"
    ID_TOKEN_NOT_SUPPORTED = "id_token not supported"
    USER_EMAIL_NOT_FOUND = "User email not found"
    FAILED_TO_UNLINK_LAST_ACCOUNT = "You can't unlink your last account"
    ACCOUNT_NOT_FOUND = "Account not found"
    OAUTH_LINK_ERROR = "OAuth link error"  # sent with the outcome as its message
    LINKING_NOT_ALLOWED = "Account not linked - linking not allowed"
    LINKING_DIFFERENT_EMAILS_NOT_ALLOWED = "Account not linked - different emails not allowed"
    LINKING_FAILED = "Account not linked - unable to create account"
    PROVIDER_NOT_SUPPORTED = "Provider is not supported."
    PROVIDER_NOT_CONFIGURED = "Account is not associated with a configured social provider."
    REFRESH_TOKEN_NOT_FOUND = "Refresh token not found"
    FAILED_TO_REFRESH_ACCESS_TOKEN = "Failed to refresh access token"
    FAILED_TO_GET_ACCESS_TOKEN = "Failed to get a valid access token"
    ACCESS_TOKEN_NOT_FOUND = "Access token not found"
    PROVIDER_UNAVAILABLE = "The provider could not be reached"  # ours: discovery failed
    # E-mail and account lifecycle.
    VERIFICATION_EMAIL_NOT_ENABLED = "Verification email isn't enabled"
    EMAIL_ALREADY_VERIFIED = "Email is already verified"
    EMAIL_MISMATCH = "Email mismatch"
    RESET_PASSWORD_DISABLED = "Reset password isn't enabled"
    CHANGE_EMAIL_DISABLED = "Change email is disabled"
    FAILED_TO_GET_USER_INFO = "Failed to get user info"
    NOT_FOUND = "Not found"
    # Request size limits (hardening.py).
    REQUEST_HEADER_FIELDS_TOO_LARGE = "Request headers are too large"


class APIError(Exception):
    """An error answered as `{"message", "code"}` JSON (or an empty body) with a status."""

    def __init__(
        self,
        status: int,
        code: ErrorCode | str | None,
        message: str | None = None,
        *,
        empty_body: bool = False,
        cookies: list[str] | None = None,
    ) -> None:
        if message is None:
            message = code.message if isinstance(code, ErrorCode) else ""
        self.status = status
        self.code = code.name if isinstance(code, ErrorCode) else code
        self.message = message
        self.empty_body = empty_body
        self.cookies = cookies or []
        super().__init__(f"{status} {self.code}: {message}")

    def body(self) -> dict[str, str] | None:
        if self.empty_body:
            return None
        if self.code is None:
            return {"message": self.message}
        return {"message": self.message, "code": self.code}
