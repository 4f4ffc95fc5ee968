"""Every (method, path) the running application answers: its routes and the fast path.

The OpenAPI document and its coverage test both start from this list, so a route added
anywhere is either documented or reported (see auth_service.openapi.document).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI
from fastapi.routing import APIRoute

from auth_service.auth.deps import EndpointOptions, endpoint_options
from auth_service.fastpath import FastPath

ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
"""What a route declared with no methods (it answers every method) is documented with."""

_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")


@dataclass(frozen=True, slots=True)
class LiveRoute:
    method: str
    path: str  # OpenAPI style: `{name}`, no Starlette converter
    route: APIRoute | None  # None for a fast-path-only endpoint

    @property
    def options(self) -> EndpointOptions | None:
        """The `endpoint(...)` options of the route, when it runs that pipeline."""
        if self.route is None:
            return None
        for dependency in self.route.dependant.dependencies:
            call: Callable[..., Any] | None = dependency.call
            found = endpoint_options(call) if call is not None else None
            if found is not None:
                return found
        return None


def openapi_path(path: str) -> str:
    return _CONVERTER.sub(r"{\1}", path)


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # an included router (FastAPI resolves these lazily)
            context = getattr(route, "include_context", None)
            yield from _walk(list(original.routes), prefix + str(getattr(context, "prefix", "")))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def live_routes(app: FastAPI) -> list[LiveRoute]:
    """The application's (method, path) pairs, fast-path endpoints included, sorted."""
    found: dict[tuple[str, str], LiveRoute] = {}
    for path, route in _walk(list(app.router.routes)):
        methods = sorted(route.methods) if route.methods else ANY_METHOD
        for method in methods:
            key = (method, openapi_path(path))
            found[key] = LiveRoute(method, key[1], route)
    for middleware in app.user_middleware:
        if getattr(middleware, "cls", None) is not FastPath:
            continue
        fast_routes = cast(dict[tuple[str, str], object], middleware.kwargs.get("routes", {}))
        for method, path in fast_routes:
            found.setdefault((method, path), LiveRoute(method, path, None))
        prefixes = cast(dict[str, object], middleware.kwargs.get("prefixes", {}))
        for prefix in prefixes:
            for method in ANY_METHOD:
                found.setdefault((method, prefix), LiveRoute(method, prefix, None))
    return [found[key] for key in sorted(found, key=lambda item: (item[1], item[0]))]
