"""302 answers of the e-mail flows and the URLs they point to, built as Better Auth does."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from starlette.responses import Response

from auth_service.auth.http import add_cookies


def redirect_response(location: str, cookies: Iterable[str] = ()) -> Response:
    """Better Auth's redirect: 302, `Location`, empty body, JSON content type, cookies kept."""
    response = Response(status_code=302, media_type="application/json")
    response.headers["location"] = location
    add_cookies(response, cookies)
    return response


def append_query(url: str, name: str, value: str) -> str:
    """Add `name=value` to a callback URL, keeping a root-relative URL relative."""
    parts = urlsplit(url)
    pair = urlencode({name: value})
    query = f"{parts.query}{'' if parts.query.endswith('&') or not parts.query else '&'}{pair}"
    path = parts.path or ("/" if parts.netloc else "")
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def resolve_with_param(url: str, base: str, name: str, value: str) -> str:
    """`new URL(url, base)` with the search parameter `name` set to `value` (replacing any)."""
    parts = urlsplit(urljoin(base, url))
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    params.append((name, value))
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(params), parts.fragment))
