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
