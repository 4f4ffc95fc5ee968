"""Users and sessions as Better Auth puts them on the wire (camelCase, JS dates)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auth_service.core.clock import iso_js


def _date(value: Any) -> str | None:
    return iso_js(value) if value is not None else None


def user_json(user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": user["name"],
        "email": user["email"],
        "emailVerified": user["email_verified"],
        "image": user["image"],
        "createdAt": _date(user["created_at"]),
        "updatedAt": _date(user["updated_at"]),
        "id": user["id"],
    }


def session_json(session: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "expiresAt": _date(session["expires_at"]),
        "token": session["token"],
        "createdAt": _date(session["created_at"]),
        "updatedAt": _date(session["updated_at"]),
        "ipAddress": session["ip_address"],
        "userAgent": session["user_agent"],
        "userId": session["user_id"],
        "id": session["id"],
    }
