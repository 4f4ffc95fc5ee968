"""Feature routes, discovered at start-up like the seed's `src/feature/**/+routes.*.ts`.

A feature is a package `auth_service/features/<name>/` whose `routes.py` exports `router`
(a FastAPI APIRouter) and `base_path` (where it is mounted, e.g. "/api/me"). Adding the folder
is all it takes: `discover_features` imports every such module and mounts it.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

log = logging.getLogger("auth_service.features")


class FeatureError(RuntimeError):
    """A feature module does not follow the convention; the message names it."""


@dataclass(frozen=True)
class Feature:
    name: str
    base_path: str
    router: APIRouter


def discover_features(package: str = __name__) -> list[Feature]:
    root = importlib.import_module(package)
    features: list[Feature] = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda item: item.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}.routes")
        except ModuleNotFoundError as exc:
            if exc.name == f"{package}.{info.name}.routes":
                continue  # a helper package without routes
            raise
        router = getattr(module, "router", None)
        base_path = getattr(module, "base_path", None)
        if not isinstance(router, APIRouter) or not isinstance(base_path, str):
            raise FeatureError(
                f"{module.__name__} must export `router: APIRouter` and `base_path: str`"
            )
        if not base_path.startswith("/") or base_path.endswith("/"):
            raise FeatureError(f"{module.__name__}: base_path must look like '/api/name'")
        features.append(Feature(info.name, base_path, router))
    return features


def mount_features(app: FastAPI, features: list[Feature]) -> None:
    for feature in features:
        app.include_router(feature.router, prefix=feature.base_path)


def route_table(app: FastAPI) -> list[str]:
    """`METHOD path` for every route, for the start-up log (the seed's showRoutes)."""
    lines: list[str] = []

    def walk(routes: list[object], prefix: str = "") -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                context = getattr(route, "include_context", None)
                walk(list(original.routes), prefix + str(getattr(context, "prefix", "") or ""))
                continue
            path = getattr(route, "path", None)
            methods = getattr(route, "methods", None)
            if path is None or not methods:
                continue
            lines.extend(f"{method:6} {prefix}{path}" for method in sorted(methods))

    walk(list(app.router.routes))
    return lines
