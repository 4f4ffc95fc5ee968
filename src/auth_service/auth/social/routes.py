"""POST /sign-in/social, GET|POST /callback/:id, POST /link-social, GET /list-accounts,
POST /unlink-account, POST /get-access-token, POST /refresh-token, GET /account-info."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.deps import AuthCall, Ctx, Db, SessionNeed, Sessions, endpoint
from auth_service.auth.http import json_response
from auth_service.auth.queued_cookies import AuthRoute, queue_cookies
from auth_service.auth.redirects import append_query, redirect_response
from auth_service.auth.serializers import user_json
from auth_service.auth.sessions.service import ResolvedSession, read_cookie_session
from auth_service.auth.social.providers import RESERVED_AUTHORIZATION_PARAMS
from auth_service.auth.social.service import CallbackRedirect, SocialService, parse_scopes
from auth_service.core.body import read_body
from auth_service.core.clock import iso_js
from auth_service.core.cookies import parse_cookie_header
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.validation import NO_BODY, Field, js_type_name

router = APIRouter(route_class=AuthRoute)

_START_FIELDS = (
    Field("callbackURL", optional=True, allow_nul=False),
    Field("provider", allow_nul=False),
    Field("errorCallbackURL", optional=True, allow_nul=False),
    Field("disableRedirect", "boolean", optional=True),
    Field("requestSignUp", "boolean", optional=True),
    Field("loginHint", optional=True, allow_nul=False),
)
SIGN_IN_SOCIAL = (*_START_FIELDS, Field("newUserCallbackURL", optional=True, allow_nul=False))
# Characters a Location header carries as they are; anything else is percent-encoded.
_LOCATION_SAFE = ":/?#[]@!$&'()*+,;=%-._~"
LINK_SOCIAL = _START_FIELDS
UNLINK_ACCOUNT = (Field("accountId"),)
CALLBACK_KEYS = ("code", "error", "device_id", "error_description", "state", "user", "iss")


def _service(request: Request) -> SocialService:
    service: SocialService = request.app.state.social
    return service


# --------------------------------------------------------------------------- body checks


def _string_issue(value: object) -> str | None:
    if isinstance(value, str):
        return None
    return f"Invalid input: expected string, received {js_type_name(value)}"


def _complex_fields(body: Mapping[str, Any], *, sign_in: bool) -> dict[str, Any]:
    """The structured fields of the start bodies, with zod-like issues."""
    issues: list[str] = []
    clean: dict[str, Any] = {}
    scopes = body.get("scopes")
    if scopes is not None:
        if not isinstance(scopes, list):
            issues.append(
                f"[body.scopes] Invalid input: expected array, received {js_type_name(scopes)}"
            )
        else:
            for index, scope in enumerate(scopes):
                issue = _string_issue(scope)
                if issue:
                    issues.append(f"[body.scopes.{index}] {issue}")
            clean["scopes"] = scopes
    params = body.get("additionalParams")
    if params is not None:
        if not isinstance(params, dict):
            issues.append(
                "[body.additionalParams] Invalid input: expected record, "
                f"received {js_type_name(params)}"
            )
        elif any(not isinstance(v, str) for v in params.values()):
            issues.append("[body.additionalParams] Invalid input: expected string values")
        elif any(key in RESERVED_AUTHORIZATION_PARAMS for key in params):
            issues.append(
                "[body.additionalParams] additionalParams cannot include reserved OAuth "
                f"parameters: {', '.join(RESERVED_AUTHORIZATION_PARAMS)}"
            )
        else:
            clean["additionalParams"] = params
    data = body.get("additionalData")
    if data is not None:
        if not isinstance(data, dict):
            issues.append(
                "[body.additionalData] Invalid input: expected record, "
                f"received {js_type_name(data)}"
            )
        else:
            clean["additionalData"] = data
    id_token = body.get("idToken")
    if id_token is not None:
        if not isinstance(id_token, dict):
            issues.append(
                f"[body.idToken] Invalid input: expected object, received {js_type_name(id_token)}"
            )
        else:
            token_issue = _string_issue(id_token.get("token", _Missing))
            if token_issue:
                issues.append(f"[body.idToken.token] {token_issue}")
            for key in ("nonce", "accessToken", "refreshToken"):
                if key in id_token and id_token[key] is not None:
                    issue = _string_issue(id_token[key])
                    if issue:
                        issues.append(f"[body.idToken.{key}] {issue}")
            expires_at = id_token.get("expiresAt")
            if (
                sign_in
                and expires_at is not None
                and (isinstance(expires_at, bool) or not isinstance(expires_at, int | float))
            ):
                issues.append(
                    "[body.idToken.expiresAt] Invalid input: expected number, "
                    f"received {js_type_name(expires_at)}"
                )
            clean["idToken"] = id_token
    if issues:
        raise APIError(400, ErrorCode.VALIDATION_ERROR, "; ".join(issues))
    return clean


class _MissingType:
    pass


_Missing: Any = _MissingType()


def _start_body(call: AuthCall, *, sign_in: bool) -> dict[str, Any]:
    raw = call.raw if isinstance(call.raw, dict) else {}
    return {**call.body, **_complex_fields(raw, sign_in=sign_in)}


# --------------------------------------------------------------------------- sign-in, link


@router.post("/sign-in/social")
async def sign_in_social(
    call: Annotated[AuthCall, Depends(endpoint(SIGN_IN_SOCIAL))],
) -> Response:
    body = _start_body(call, sign_in=True)
    service = _service(call.request)
    provider = service.require_provider(body["provider"])
    if "idToken" in body:
        session, user = await service.sign_in_with_id_token(
            call.db, call.request, provider, body["idToken"]
        )
        return json_response(
            {"redirect": False, "token": session["token"], "user": user_json(user)},
            cookies=call.sessions.sign_in_cookies(session, call.cookie),
        )
    flow = await service.start(call.db, provider, body)
    redirect = not body.get("disableRedirect", False)
    return json_response(
        {"url": flow.url, "redirect": redirect},
        cookies=flow.cookies,
        headers={"location": flow.url} if redirect else None,
    )


@router.post("/link-social")
async def link_social(
    call: Annotated[AuthCall, Depends(endpoint(LINK_SOCIAL, session=SessionNeed.REQUIRED))],
) -> Response:
    body = _start_body(call, sign_in=False)
    service = _service(call.request)
    provider = service.require_provider(body["provider"])
    user = call.session.user
    if "idToken" in body:
        await service.link_with_id_token(call.db, provider, user, body["idToken"])
        return json_response({"url": "", "status": True, "redirect": False})
    link = service.link_data(user, call.session.session["token"])
    flow = await service.start(call.db, provider, body, link=link)
    redirect = not body.get("disableRedirect", False)
    return json_response(
        {"url": flow.url, "redirect": redirect},
        cookies=flow.cookies,
        headers={"location": flow.url} if redirect else None,
    )


# --------------------------------------------------------------------------- the callback


def _callback_params(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(values[key]) for key in CALLBACK_KEYS if values.get(key) is not None}


@router.get("/callback/{provider_id}")
async def callback_get(
    provider_id: str, request: Request, ctx: Ctx, db: Db, sessions: Sessions
) -> Response:
    service = _service(request)
    query = _callback_params(request.query_params)
    cookies = parse_cookie_header(request.headers.get("cookie"))
    try:
        location, lines, session = await service.callback(db, request, provider_id, query, cookies)
    except CallbackRedirect as redirect:
        return redirect_response(_header_safe(redirect.location), redirect.cookies)
    if session is not None:
        lines = [*lines, *sessions.sign_in_cookies(session, read_cookie_session(ctx, request))]
    return redirect_response(_header_safe(location), lines)


def _header_safe(location: str) -> str:
    """The URL with non-ASCII and control characters percent-encoded (a header is latin-1)."""
    return quote(location, safe=_LOCATION_SAFE)


@router.post("/callback/{provider_id}")
async def callback_post(provider_id: str, request: Request) -> Response:
    """form_post answers: a 302 to the GET callback with the same parameters (the browser
    sends the SameSite=Lax state cookie on that top-level GET, not on a cross-site POST)."""
    raw = await read_body(request, allow_form=True)
    body = raw if isinstance(raw, dict) else {}
    service = _service(request)
    known = [body.get(key) for key in CALLBACK_KEYS if body.get(key) is not None]
    if not all(isinstance(value, str) and _is_encodable(value) for value in known):
        # Better Auth's schema takes strings only; as its GET callback, the answer is a 302.
        error = append_query(service.default_error_url, "error", "invalid_callback_request")
        return redirect_response(error)
    merged = {**_callback_params(body), **_callback_params(request.query_params)}
    target = f"{service.api_base}/callback/{quote(provider_id, safe='')}?{urlencode(merged)}"
    return redirect_response(target)


def _is_encodable(value: str) -> bool:
    """False for text with lone surrogates (a JSON `\\udXXX` escape), which no URL can carry."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- accounts


def _account_json(account: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": account["id"],
        "providerId": account["provider_id"],
        "accountId": account["account_id"],
        "userId": account["user_id"],
        "createdAt": iso_js(account["created_at"]),
        "updatedAt": iso_js(account["updated_at"]),
        "scopes": parse_scopes(account.get("scope")),
    }


@router.get("/list-accounts")
async def list_accounts(
    call: Annotated[AuthCall, Depends(endpoint(session=SessionNeed.REQUIRED))],
) -> Response:
    service = _service(call.request)
    accounts = await service.accounts.list_for_user(await call.db.conn(), call.session.user["id"])
    return json_response([_account_json(account) for account in accounts])


@router.post("/unlink-account")
async def unlink_account(
    call: Annotated[AuthCall, Depends(endpoint(UNLINK_ACCOUNT, session=SessionNeed.FRESH))],
) -> Response:
    await _service(call.request).unlink(call.db, call.session.user["id"], call.body["accountId"])
    return json_response({"status": True})


def _account_selection(value: object, where: str) -> str | None:
    """Better Auth's strict union `{accountId, userId?}` | `{useAccountCookie: true, userId?}`:
    the local account id, or None for the account cookie (which this service never sets)."""
    if value is NO_BODY or not isinstance(value, dict):
        received = "undefined" if value is NO_BODY else js_type_name(value)
        raise APIError(
            400,
            ErrorCode.VALIDATION_ERROR,
            f"[{where}] Invalid input: expected object, received {received}",
        )
    keys = set(value)
    user_id_ok = "userId" not in value or isinstance(value["userId"], str)
    if keys <= {"accountId", "userId"} and isinstance(value.get("accountId"), str) and user_id_ok:
        return str(value["accountId"])
    if (
        keys <= {"useAccountCookie", "userId"}
        and value.get("useAccountCookie") is True
        and user_id_ok
    ):
        return None
    raise APIError(400, ErrorCode.VALIDATION_ERROR, f"[{where}] Invalid input")


async def _token_session(call: AuthCall) -> ResolvedSession:
    """The caller's session; without one these endpoints answer 401 with an empty body."""
    found = await call.sessions.lookup(call.db, call.cookie)
    if found.found is None:
        raise APIError(401, None, empty_body=True, cookies=found.clear_cookies)
    queue_cookies(call.request, found.found.cookies)  # a refreshed session's cookie
    return found.found


async def _selected_account(call: AuthCall, selection: object, where: str) -> dict[str, Any]:
    account_id = _account_selection(selection, where)
    session = await _token_session(call)
    if account_id is None:
        raise APIError(400, ErrorCode.ACCOUNT_NOT_FOUND)
    return await _service(call.request).user_account(call.db, session.user["id"], account_id)


def _dates(data: dict[str, Any]) -> dict[str, Any]:
    return {k: iso_js(v) if hasattr(v, "isoformat") else v for k, v in data.items()}


@router.post("/get-access-token")
async def get_access_token(
    call: Annotated[AuthCall, Depends(endpoint())],
) -> Response:
    account = await _selected_account(call, call.raw, "body")
    tokens = await _service(call.request).valid_access_token(call.db, account)
    return json_response(_dates(tokens))


@router.post("/refresh-token")
async def refresh_token(
    call: Annotated[AuthCall, Depends(endpoint())],
) -> Response:
    account = await _selected_account(call, call.raw, "body")
    tokens = await _service(call.request).refresh_tokens(call.db, account)
    return json_response(_dates(tokens))


@router.get("/account-info")
async def account_info(
    call: Annotated[AuthCall, Depends(endpoint())],
) -> Response:
    query: dict[str, Any] = dict(call.request.query_params)
    if query.get("useAccountCookie") == "true":
        query["useAccountCookie"] = True
    account = await _selected_account(call, query, "query")
    info = await _service(call.request).account_info(call.db, account)
    return json_response(info)
