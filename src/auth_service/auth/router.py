"""All Better Auth routes under /api/auth."""

from __future__ import annotations

from fastapi import APIRouter

from auth_service.auth import misc_routes
from auth_service.auth.change_email import routes as change_email_routes
from auth_service.auth.delete_user import routes as delete_user_routes
from auth_service.auth.email_password import routes as email_password_routes
from auth_service.auth.password_reset import routes as password_reset_routes
from auth_service.auth.sessions import routes as session_routes
from auth_service.auth.social import routes as social_routes
from auth_service.auth.users import routes as user_routes
from auth_service.auth.verification import routes as verification_routes
from auth_service.plugins.jwt import routes as jwt_routes

BASE_PATH = "/api/auth"


def build_auth_router() -> APIRouter:
    router = APIRouter(prefix=BASE_PATH)
    for module in (
        email_password_routes,
        session_routes,
        user_routes,
        misc_routes,
        jwt_routes,
        verification_routes,
        password_reset_routes,
        change_email_routes,
        delete_user_routes,
        social_routes,
    ):
        _without_implicit_head(module.router)
        router.include_router(module.router)
    return router


def _without_implicit_head(router: APIRouter) -> None:
    """Better Auth serves exactly the declared methods: HEAD on a GET route is a 404."""
    for route in router.routes:
        methods = getattr(route, "methods", None)
        if methods and "HEAD" in methods:
            methods.discard("HEAD")
