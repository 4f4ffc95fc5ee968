"""What each endpoint does and answers, keyed by (method, full path).

Request bodies and session requirements come from the routes themselves when they run the
`endpoint(...)` pipeline (auth_service.openapi.document reads them back); `body` here is the
contract of spec §4 for endpoints whose route is not written yet, and is replaced by the
route's own fields as soon as it exists. Responses, summaries and error statuses live here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from auth_service.core.validation import Field
from auth_service.openapi.schemas import (
    DATE_TIME,
    NULLABLE_STRING,
    SESSION_AND_USER,
    STATUS_TRUE,
    TOKEN_AND_USER,
    Schema,
    array,
    const,
    obj,
    ref,
)

AUTH = "/api/auth"
INTERNAL = "/api/internal"


class Access(Enum):
    PUBLIC = "public"
    OPTIONAL_SESSION = "optional-session"  # read when present (sign-out, get-session)
    SESSION = "session"
    FRESH_SESSION = "fresh-session"
    GATEWAY = "gateway"  # x-gateway-auth
    SERVICE = "service"  # x-service-auth


@dataclass(frozen=True, slots=True)
class Reply:
    description: str
    schema: Schema | None = None
    media_type: str | None = "application/json"  # None: empty body
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    location: str = "query"
    required: bool = False
    description: str = ""
    schema: Schema = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str = "Default"
    access: Access = Access.PUBLIC
    replies: dict[int, Reply] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    """Statuses answered with the `Error` body; common ones are added (see document.py)."""
    body: tuple[Field, ...] | Schema | None = None
    form: bool = False
    body_required: bool | None = None
    params: tuple[Param, ...] = ()
    description: str = ""
    database: bool = True  # may answer 503 when PostgreSQL is down


def redirect(description: str) -> Reply:
    return Reply(description, media_type=None, headers=("Location",))


REDIRECT_PARAMS = (
    Param("callbackURL", description="Where to redirect afterwards (a trusted origin or path)."),
)
TOKEN_ID_BODY = obj(
    {
        "accountId": {"type": "string", "description": "The local account id."},
        "providerId": {"type": "string"},
        "userId": {"type": "string"},
    }
)
ID_TOKEN = obj(
    {
        "token": {"type": "string"},
        "nonce": {"type": "string"},
        "accessToken": {"type": "string"},
        "refreshToken": {"type": "string"},
        "expiresAt": {"type": "number"},
        "user": {"type": "object"},
    },
    ["token"],
)
SOCIAL_BODY = obj(
    {
        "provider": {"type": "string"},
        "callbackURL": {"type": "string"},
        "newUserCallbackURL": {"type": "string"},
        "errorCallbackURL": {"type": "string"},
        "disableRedirect": {"type": "boolean"},
        "scopes": array({"type": "string"}),
        "loginHint": {"type": "string"},
        "requestSignUp": {"type": "boolean"},
        "additionalParams": {"type": "object"},
        "additionalData": {"type": "object"},
        "idToken": ID_TOKEN,
    },
    ["provider"],
)
SOCIAL_REPLY = obj(
    {
        "url": {"type": "string"},
        "redirect": {"type": "boolean"},
        "token": {"type": "string"},
        "user": ref("User"),
        "status": {"type": "boolean"},
    },
    ["redirect"],
)
CALLBACK_PARAMS = (
    Param("id", "path", True, "The provider id."),
    Param("code"),
    Param("state"),
    Param("error"),
    Param("error_description"),
    Param("iss"),
    Param("device_id"),
    Param("user"),
)
SUCCESS_MESSAGE = obj(
    {"success": {"type": "boolean"}, "message": {"type": "string"}}, ["success", "message"]
)
VALIDATE_BODY: Schema = {
    "type": "object",
    "description": "Exactly one credential; no body (or `{}`) uses the forwarded headers.",
    "properties": {
        "token": {"type": "string", "description": "A session token, bare or `token.sig`."},
        "cookie": {"type": "string", "description": "A signed session cookie or Cookie header."},
        "jwt": {"type": "string", "description": "A JWT from GET /api/auth/token."},
    },
    "maxProperties": 1,
    "additionalProperties": False,
}
VALIDATE_REPLY: Schema = {
    "oneOf": [
        obj({"valid": const(False)}, ["valid"]),
        obj(
            {
                "valid": const(True),
                "type": const("session"),
                "user": ref("User"),
                "session": obj(
                    {
                        "id": {"type": "string"},
                        "userId": {"type": "string"},
                        "expiresAt": DATE_TIME,
                        "createdAt": DATE_TIME,
                        "updatedAt": DATE_TIME,
                        "ipAddress": NULLABLE_STRING,
                        "userAgent": NULLABLE_STRING,
                    },
                    ["id", "userId", "expiresAt"],
                ),
                "expiresAt": DATE_TIME,
            },
            ["valid", "type", "user", "session", "expiresAt"],
        ),
        obj(
            {
                "valid": const(True),
                "type": const("jwt"),
                "claims": {"type": "object"},
                "expiresAt": DATE_TIME,
            },
            ["valid", "type", "claims", "expiresAt"],
        ),
    ]
}
STATUS_OK = obj({"status": {"type": "string"}}, ["status"])
TEXT = "text/plain"


def _forward_auth(method: str, path: str, operation_id: str) -> Operation:
    params = (
        (Param("original_path", "path", True, "The original request's path (Envoy)."),)
        if "{original_path}" in path
        else ()
    )
    return Operation(
        method,
        path,
        operation_id,
        "Forward-auth verdict for a reverse proxy (any method, any path below)",
        tag="Gateway",
        access=Access.GATEWAY,
        params=params,
        replies={
            200: Reply(
                "The credential identifies a user: identity headers, empty body.",
                media_type=None,
                headers=("X-Auth-User-Id", "X-Auth-User-Email", "X-Auth-Session-Id"),
            ),
            401: Reply("No valid credential, or a bad gateway secret.", media_type=None),
        },
        errors=(401, 503),
        description=(
            "The end user's credential is the forwarded `Authorization: Bearer` (JWT or session "
            "token) or session cookie. The identity header names are configurable. A missing "
            "or wrong gateway secret is a 401 JSON error; an unset one a 503."
        ),
    )


def _any_method(path: str, operation_id: str) -> list[Operation]:
    return [
        _forward_auth(method, path, f"{operation_id}{method.capitalize()}")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    ]


OPERATIONS: tuple[Operation, ...] = (
    # Email and password, sessions, users (Better Auth core, tag "Default").
    Operation(
        "POST",
        f"{AUTH}/sign-up/email",
        "signUpWithEmailAndPassword",
        "Sign up a user using email and password",
        form=True,
        replies={200: Reply("The user, signed in", TOKEN_AND_USER, headers=("set-auth-token",))},
        errors=(422,),
    ),
    Operation(
        "POST",
        f"{AUTH}/sign-in/email",
        "signInEmail",
        "Sign in with email and password",
        form=True,
        replies={
            200: Reply(
                "Signed in (a `Location` header too when a callbackURL was given)",
                obj(
                    {
                        "redirect": {"type": "boolean"},
                        "token": {"type": "string"},
                        "url": {"type": "string"},
                        "user": ref("User"),
                    },
                    ["redirect", "token", "user"],
                ),
                headers=("set-auth-token", "Location"),
            )
        },
        errors=(401,),
    ),
    Operation(
        "POST",
        f"{AUTH}/sign-out",
        "signOut",
        "Sign out the current user",
        access=Access.OPTIONAL_SESSION,
        replies={
            200: Reply(
                "Signed out; the session cookies are cleared",
                obj(
                    {
                        "success": const(True),
                        "url": {"type": "string"},
                        "redirect": {"type": "boolean"},
                    },
                    ["success"],
                ),
            )
        },
    ),
    Operation(
        "GET",
        f"{AUTH}/get-session",
        "getSession",
        "Get the current session",
        access=Access.OPTIONAL_SESSION,
        params=(
            Param("disableCookieCache", schema={"type": "string"}),
            Param("disableRefresh", description="Any non-empty value: do not extend the session."),
        ),
        replies={
            200: Reply(
                "The session and its user, or `null` when there is none",
                {**SESSION_AND_USER, "type": ["object", "null"]},
                headers=("set-auth-jwt",),
            )
        },
        errors=(401,),
    ),
    Operation(
        "POST",
        f"{AUTH}/get-session",
        "getSessionPost",
        "Get the current session (POST: only with deferred session refresh)",
        access=Access.OPTIONAL_SESSION,
        replies={},
        errors=(403, 405),
        database=False,
    ),
    Operation(
        "GET",
        f"{AUTH}/list-sessions",
        "listUserSessions",
        "List all active sessions for the user",
        access=Access.FRESH_SESSION,
        replies={200: Reply("The user's unexpired sessions", array(ref("Session")))},
    ),
    Operation(
        "POST",
        f"{AUTH}/revoke-session",
        "revokeSession",
        "Revoke a single session",
        access=Access.SESSION,
        replies={200: Reply("Revoked (or it was not the user's: nothing changes)", STATUS_TRUE)},
    ),
    Operation(
        "POST",
        f"{AUTH}/revoke-sessions",
        "revokeSessions",
        "Revoke all sessions for the user",
        access=Access.SESSION,
        replies={200: Reply("Every session revoked; cookies cleared", STATUS_TRUE)},
    ),
    Operation(
        "POST",
        f"{AUTH}/revoke-other-sessions",
        "revokeOtherSessions",
        "Revoke all other sessions for the user except the current one",
        access=Access.SESSION,
        replies={200: Reply("Other sessions revoked", STATUS_TRUE)},
    ),
    Operation(
        "POST",
        f"{AUTH}/update-user",
        "updateUser",
        "Update the current user",
        access=Access.SESSION,
        replies={200: Reply("Updated", STATUS_TRUE)},
    ),
    Operation(
        "POST",
        f"{AUTH}/change-password",
        "changePassword",
        "Change the password of the user",
        access=Access.SESSION,
        replies={
            200: Reply("Changed; a new session token when others were revoked", TOKEN_AND_USER)
        },
    ),
    Operation(
        "POST",
        f"{AUTH}/verify-password",
        "verifyPassword",
        "Verify the current user's password",
        access=Access.SESSION,
        replies={200: Reply("The password is right", STATUS_TRUE)},
    ),
    Operation(
        "GET",
        f"{AUTH}/ok",
        "ok",
        "Check if the API is working",
        replies={200: Reply("Up", obj({"ok": const(True)}, ["ok"]))},
        database=False,
    ),
    Operation(
        "GET",
        f"{AUTH}/error",
        "error",
        "Displays an error page",
        params=(Param("error"), Param("error_description")),
        replies={
            200: Reply("An HTML error page (outside production)", {"type": "string"}, "text/html"),
            302: redirect("In production: to `/?error=…`"),
        },
        database=False,
    ),
    # E-mail verification, password reset, change-email, delete-user (spec §4).
    Operation(
        "POST",
        f"{AUTH}/send-verification-email",
        "sendVerificationEmail",
        "Send a verification email to the user",
        access=Access.OPTIONAL_SESSION,
        body=(Field("email", "email"), Field("callbackURL", optional=True)),
        replies={200: Reply("Sent (always this answer without a session)", STATUS_TRUE)},
    ),
    Operation(
        "GET",
        f"{AUTH}/verify-email",
        "verifyEmail",
        "Verify the email of the user",
        params=(Param("token", required=True), *REDIRECT_PARAMS),
        replies={
            200: Reply(
                "Verified",
                obj({"status": const(True), "user": {**ref("User"), "type": ["object", "null"]}}),
            ),
            302: redirect("To callbackURL (with `?error=<CODE>` on failure)"),
        },
        errors=(400, 401, 403),
    ),
    Operation(
        "POST",
        f"{AUTH}/request-password-reset",
        "requestPasswordReset",
        "Send a password reset email to the user",
        body=(Field("email", "email"), Field("redirectTo", optional=True)),
        replies={
            200: Reply(
                "Always the same answer, whether the user exists or not",
                obj({"status": const(True), "message": {"type": "string"}}, ["status"]),
            )
        },
    ),
    Operation(
        "GET",
        f"{AUTH}/reset-password/{{token}}",
        "resetPasswordCallback",
        "Redirects the user to the callback URL with the token",
        params=(
            Param("token", "path", True),
            Param("callbackURL", required=True, description="A trusted origin or path."),
        ),
        replies={302: redirect("To `callbackURL?token=…`, or `?error=INVALID_TOKEN`")},
        errors=(400, 403),
    ),
    Operation(
        "POST",
        f"{AUTH}/forget-password",
        "forgetPassword",
        "Old name of request-password-reset (Better Auth < 1.4 clients)",
        body=(Field("email", "email"), Field("redirectTo", optional=True)),
        replies={
            200: Reply(
                "Always the same answer, whether the user exists or not",
                obj({"status": const(True), "message": {"type": "string"}}, ["status"]),
            )
        },
    ),
    Operation(
        "POST",
        f"{AUTH}/reset-password",
        "resetPassword",
        "Reset the password for a user",
        body=(Field("newPassword"), Field("token", optional=True)),
        params=(Param("token", description="The reset token, when not in the body."),),
        replies={200: Reply("Password changed", STATUS_TRUE)},
    ),
    Operation(
        "POST",
        f"{AUTH}/change-email",
        "changeEmail",
        "Change the email of the user",
        access=Access.SESSION,
        body=(Field("newEmail", "email"), Field("callbackURL", optional=True)),
        replies={
            200: Reply("Done or mailed (the same answer when the address is taken)", STATUS_TRUE)
        },
    ),
    Operation(
        "POST",
        f"{AUTH}/delete-user",
        "deleteUser",
        "Delete the user",
        access=Access.SESSION,
        body=(
            Field("callbackURL", optional=True),
            Field("password", optional=True),
            Field("token", optional=True),
        ),
        body_required=False,
        replies={
            200: Reply("Deleted, or a verification email sent", SUCCESS_MESSAGE),
            404: Reply("Account deletion is not enabled", media_type=None),
        },
    ),
    Operation(
        "GET",
        f"{AUTH}/delete-user/callback",
        "deleteUserCallback",
        "Callback to complete user deletion with verification token",
        access=Access.SESSION,
        params=(Param("token", required=True), *REDIRECT_PARAMS),
        replies={
            200: Reply("Deleted", SUCCESS_MESSAGE),
            302: redirect("Deleted; to callbackURL"),
        },
        errors=(400, 403, 404),
    ),
    # Social sign-in and linked accounts (spec §4).
    Operation(
        "POST",
        f"{AUTH}/sign-in/social",
        "socialSignIn",
        "Sign in with a social provider",
        body=SOCIAL_BODY,
        replies={
            200: Reply("The provider's authorization URL, or a session (idToken)", SOCIAL_REPLY)
        },
        errors=(401, 404),
    ),
    Operation(
        "GET",
        f"{AUTH}/callback/{{id}}",
        "socialCallback",
        "OAuth callback from the provider",
        params=CALLBACK_PARAMS,
        replies={302: redirect("To the callback URL, or to the error URL with `?error=…`")},
    ),
    Operation(
        "POST",
        f"{AUTH}/callback/{{id}}",
        "socialCallbackPost",
        "OAuth callback (form_post response mode)",
        params=CALLBACK_PARAMS[:1],
        form=True,
        body=obj({name.name: {"type": "string"} for name in CALLBACK_PARAMS[1:]}),
        body_required=False,
        replies={302: redirect("To the equivalent GET callback")},
    ),
    Operation(
        "POST",
        f"{AUTH}/link-social",
        "linkSocialAccount",
        "Link a social account to the user",
        access=Access.SESSION,
        body=SOCIAL_BODY,
        replies={200: Reply("The provider's authorization URL, or linked (idToken)", SOCIAL_REPLY)},
        errors=(404, 409, 417),
    ),
    Operation(
        "GET",
        f"{AUTH}/list-accounts",
        "listUserAccounts",
        "List all accounts linked to the user",
        access=Access.SESSION,
        replies={200: Reply("The user's accounts", array(ref("Account")))},
    ),
    Operation(
        "POST",
        f"{AUTH}/unlink-account",
        "unlinkAccount",
        "Unlink an account",
        access=Access.FRESH_SESSION,
        body=(Field("accountId"), Field("providerId", optional=True)),
        replies={200: Reply("Unlinked", STATUS_TRUE)},
    ),
    Operation(
        "POST",
        f"{AUTH}/get-access-token",
        "getAccessToken",
        "Get a valid access token, doing a refresh if needed",
        access=Access.SESSION,
        body=TOKEN_ID_BODY,
        replies={
            200: Reply(
                "The provider access token",
                obj(
                    {
                        "accessToken": {"type": "string"},
                        "accessTokenExpiresAt": DATE_TIME,
                        "scopes": array({"type": "string"}),
                        "idToken": {"type": "string"},
                    },
                    ["accessToken"],
                ),
            ),
            401: Reply("No session", media_type=None),
        },
        errors=(404,),
    ),
    Operation(
        "POST",
        f"{AUTH}/refresh-token",
        "refreshToken",
        "Refresh the access token using a refresh token",
        access=Access.SESSION,
        body=TOKEN_ID_BODY,
        replies={
            200: Reply(
                "Fresh provider tokens",
                obj(
                    {
                        "accessToken": {"type": "string"},
                        "refreshToken": {"type": "string"},
                        "accessTokenExpiresAt": DATE_TIME,
                        "refreshTokenExpiresAt": DATE_TIME,
                        "scope": {"type": "string"},
                        "idToken": {"type": "string"},
                        "providerId": {"type": "string"},
                        "accountId": {"type": "string"},
                    },
                ),
            ),
            401: Reply("No session", media_type=None),
        },
        errors=(404,),
    ),
    Operation(
        "GET",
        f"{AUTH}/account-info",
        "accountInfo",
        "Get the account info provided by the provider",
        access=Access.SESSION,
        params=(Param("accountId"), Param("providerId"), Param("userId")),
        replies={
            200: Reply(
                "The provider's user info",
                obj(
                    {
                        "user": {"type": "object"},
                        "data": {"type": "object"},
                        "account": obj(
                            {
                                "id": {"type": "string"},
                                "providerId": {"type": "string"},
                                "accountId": {"type": "string"},
                            }
                        ),
                    },
                    ["user"],
                ),
            ),
            401: Reply("No session", media_type=None),
        },
        errors=(400, 404),
    ),
    # JWT plugin (tag "Jwt", as Better Auth names it).
    Operation(
        "GET",
        f"{AUTH}/token",
        "getJSONWebToken",
        "Get a JWT token",
        tag="Jwt",
        access=Access.SESSION,
        replies={200: Reply("A signed JWT", obj({"token": {"type": "string"}}, ["token"]))},
    ),
    Operation(
        "GET",
        f"{AUTH}/jwks",
        "getJSONWebKeySet",
        "Get the JSON Web Key Set",
        tag="Jwt",
        replies={200: Reply("The public keys", obj({"keys": array(ref("Jwk"))}, ["keys"]))},
    ),
    # This document and its reference page.
    Operation(
        "GET",
        f"{AUTH}/open-api/generate-schema",
        "generateOpenAPISchema",
        "This OpenAPI document",
        tag="Open API",
        replies={200: Reply("OpenAPI 3.1 document", {"type": "object"})},
        database=False,
    ),
    Operation(
        "GET",
        f"{AUTH}/reference",
        "apiReference",
        "Interactive API reference (served offline)",
        tag="Open API",
        replies={200: Reply("The reference page", {"type": "string"}, "text/html")},
        database=False,
    ),
    Operation(
        "GET",
        f"{AUTH}/reference/assets/{{name}}",
        "apiReferenceAsset",
        "A script or stylesheet of the reference page",
        tag="Open API",
        params=(Param("name", "path", True),),
        replies={
            200: Reply("The file", {"type": "string"}, "*/*"),
            404: Reply("No such file", media_type=None),
        },
        database=False,
    ),
    # Gateway integration (README "Gateway integration").
    Operation(
        "POST",
        f"{INTERNAL}/validate",
        "gatewayValidate",
        "Validate a credential for the API gateway",
        tag="Gateway",
        access=Access.GATEWAY,
        body=VALIDATE_BODY,
        body_required=False,
        replies={
            200: Reply(
                "The verdict (`valid:false` for any credential naming no one)", VALIDATE_REPLY
            )
        },
        errors=(400, 401, 413),
    ),
    *_any_method(f"{INTERNAL}/forward-auth", "forwardAuth"),
    *_any_method(f"{INTERNAL}/forward-auth/{{original_path}}", "forwardAuthPath"),
    Operation(
        "GET",
        f"{INTERNAL}/user",
        "internalUser",
        "Look a user up by id, email or session token (internal services)",
        tag="Gateway",
        access=Access.SERVICE,
        params=(
            Param("id", description="Exactly one of id, email, token."),
            Param("email"),
            Param("token", description="A live session's token, bare or signed."),
        ),
        replies={200: Reply("The user", obj({"user": ref("User")}, ["user"]))},
        errors=(400, 401, 404),
    ),
    # Probes and metrics.
    Operation(
        "GET",
        "/",
        "root",
        "Service banner",
        tag="Health",
        replies={200: Reply("A line of text", {"type": "string"}, TEXT)},
        database=False,
    ),
    Operation(
        "GET",
        "/health",
        "health",
        "Liveness (the process answers)",
        tag="Health",
        replies={200: Reply("Alive", STATUS_OK)},
        database=False,
    ),
    Operation(
        "GET",
        "/live",
        "live",
        "Liveness (the process answers)",
        tag="Health",
        replies={200: Reply("Alive", STATUS_OK)},
        database=False,
    ),
    Operation(
        "GET",
        "/ready",
        "ready",
        "Readiness: the database answers and the process is not draining",
        tag="Health",
        replies={
            200: Reply("Ready", STATUS_OK),
            503: Reply(
                "Not ready (database down or shutting down)",
                obj(
                    {
                        "status": {"type": "string"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                    },
                    ["status", "code", "message"],
                ),
            ),
        },
        database=False,
    ),
    Operation(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus metrics (text exposition format)",
        tag="Health",
        replies={200: Reply("Metrics", {"type": "string"}, TEXT)},
        database=False,
    ),
    # Feature routes (auth_service/features/*).
    Operation(
        "GET",
        "/api/me",
        "me",
        "The signed-in user and session",
        tag="Features",
        access=Access.SESSION,
        replies={
            200: Reply(
                "The user and the session's id and expiry",
                obj(
                    {
                        "user": ref("User"),
                        "session": obj({"id": {"type": "string"}, "expiresAt": DATE_TIME}),
                    },
                    ["user", "session"],
                ),
            )
        },
    ),
)

_PATH_PARAM = re.compile(r"\{[^}]*\}")


def route_key(method: str, path: str) -> tuple[str, str]:
    """(method, path) with path parameters unnamed: `/callback/{id}` = `/callback/{provider}`."""
    return method, _PATH_PARAM.sub("{}", path)


BY_KEY: dict[tuple[str, str], Operation] = {route_key(op.method, op.path): op for op in OPERATIONS}
