"""Schema-driven fuzzing: schemathesis sends generated requests (valid and invalid) to every
operation of the OpenAPI document, against a real server and PostgreSQL, signed in.

Every answer must be a non-5xx, with a documented status code, content type and body schema,
and documented headers. The number of cases per operation is FUZZ_MAX_EXAMPLES (default 8:
about a minute here); `uv run poe fuzz` runs many more. Hypothesis is derandomized (a run is
reproducible) and keeps no example database.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from auth_service.app import create_app
from auth_service.openapi.document import build_document
from auth_service.openapi.routes import reference_enabled
from auth_service.settings import Settings
from tests.conftest import TEST_SECRET
from tests.support.server import LiveServer, free_port, start_server

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
# No example database (database=None below), and Hypothesis's other caches outside the repo.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "auth-service-hypothesis")
GATEWAY_SECRET = "fuzz-gateway-secret-0123456789abcdefghijkl"
SERVICE_SECRET = "fuzz-service-secret-0123456789abcdefghijkl"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Operations after which the fuzzing user's session (or the user) may be gone.
SESSION_ENDING = {
    "/sign-out",
    "/revoke-sessions",
    "/revoke-session",
    "/change-password",
    "/delete-user",
    "/reset-password",
    "/delete-user/callback",
}


@dataclass
class Identity:
    """A signed-in user whose bearer token every fuzzed request carries; renewed when a fuzzed
    call ends the session (sign-out, revoke-sessions, delete-user, ...)."""

    url: str
    email: str = field(default_factory=lambda: f"fuzz-{secrets.token_hex(6)}@example.com")
    password: str = "fuzz-password-123"
    token: str = ""

    def sign_in(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            answer = http.post(
                "/api/auth/sign-in/email", json={"email": self.email, "password": self.password}
            )
            if answer.status_code != 200:  # a new user: the first time, or after delete-user
                self.email = f"fuzz-{secrets.token_hex(6)}@example.com"
                answer = http.post(
                    "/api/auth/sign-up/email",
                    json={"name": "Fuzz", "email": self.email, "password": self.password},
                )
            assert answer.status_code == 200, answer.text
            self.token = answer.headers["set-auth-token"]

    def ensure_signed_in(self) -> None:
        session = httpx.get(
            f"{self.url}/api/auth/get-session?disableRefresh=true",
            headers={"authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        if session.json() is None:
            self.sign_in()

    @property
    def headers(self) -> dict[str, str]:
        return {
            "authorization": f"Bearer {self.token}",
            "x-gateway-auth": GATEWAY_SECRET,
            "x-service-auth": SERVICE_SECRET,
        }


# The schema is built in-process at collection (schemathesis parametrizes from it), for a
# server started on this port with the same settings; the test below checks that the served
# document is this one.
PORT = free_port()
SERVER_ENV = {
    "API_GATEWAY_SECRET": GATEWAY_SECRET,
    "INTERNAL_SERVICE_SECRET": SERVICE_SECRET,
    "SHOW_ROUTES": "false",
}


def _document() -> dict[str, Any]:
    app_settings = Settings(
        database_url="postgresql://unused@127.0.0.1/unused",
        base_url=f"http://127.0.0.1:{PORT}",
        api_gateway_secret=GATEWAY_SECRET,
        internal_service_secret=SERVICE_SECRET,
        environment="development",
    )
    app = create_app(app_settings)
    return build_document(
        app,
        app_settings,
        session_cookie=app.state.auth.cookies.session_token,
        reference_enabled=reference_enabled(app_settings),
    )


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.location = f"http://127.0.0.1:{PORT}/api/auth/open-api/generate-schema"
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    # The credentials are this test's own (a live session, the gateway secrets).
    with_security_parameters=False,
    database="none",
)


@pytest.fixture(scope="module")
def fuzz_server(database_url: str) -> Iterator[LiveServer]:
    server = start_server(database_url, SERVER_ENV, secret=TEST_SECRET, port=PORT)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def identity(fuzz_server: LiveServer) -> Identity:
    user = Identity(fuzz_server.url)
    user.sign_in()
    return user


def test_the_fuzzed_document_is_the_served_one(fuzz_server: LiveServer) -> None:
    served = httpx.get(f"{fuzz_server.url}/api/auth/open-api/generate-schema", timeout=30).json()
    differing = sorted(
        path
        for path in set(served["paths"]) | set(DOCUMENT["paths"])
        if served["paths"].get(path) != DOCUMENT["paths"].get(path)
    )
    assert differing == []
    assert served == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_fuzz_every_operation(case: schemathesis.Case, identity: Identity) -> None:
    response = case.call(headers=identity.headers, timeout=30)
    case.validate_response(response, checks=CHECKS, headers=identity.headers)
    if case.path in SESSION_ENDING:
        identity.ensure_signed_in()
