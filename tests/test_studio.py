"""`auth-service db studio`: the admin console, run as a real process on the test database and
driven by headless Chromium. It must show the tables and their rows, never a secret (password
hash, session token, OAuth tokens, verification values, private keys), refuse anyone without
the printed access token, and listen on loopback only."""

from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from sqlalchemy.engine import make_url

from auth_service.db.schema import Naming
from tests.support.auth_client import (
    API,
    SignedIn,
    api_client,
    credential_hash,
    db_fetch,
    db_one,
    session_row,
    sign_in,
    sign_up,
    signed_cookie_value,
    unique_email,
)
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.server import ROOT, LiveServer, free_port

URL_LINE = re.compile(r"(http://\S+/admin/\?token=(\S+))")
TABLES = ("Users", "Sessions", "Accounts", "Verifications", "JWKS keys", "Rate limits")


@dataclass
class Studio:
    process: subprocess.Popen[str]
    link: str  # with the access token
    token: str
    output: list[str]
    pump: threading.Thread

    @property
    def base(self) -> str:
        parts = urlsplit(self.link)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def port(self) -> int:
        return int(urlsplit(self.link).port or 0)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)

    @contextmanager
    def signed_in_client(self) -> Iterator[httpx.Client]:
        with self.client() as client:
            response = client.get(f"/admin/?token={self.token}")
            assert response.status_code == 302, response.text
            assert "token" not in response.headers["location"]
            yield client

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.pump.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def studio_env(database_url: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update({"ENVIRONMENT": "development", **(extra or {})})
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def run_studio_cli(
    *args: str, database_url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auth_service", "db", "studio", "--no-browser", *args],
        cwd=ROOT,
        env=studio_env(database_url, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_studio(
    database_url: str | None, env: dict[str, str] | None = None, timeout: float = 60
) -> Studio:
    process = subprocess.Popen(
        [sys.executable, "-m", "auth_service", "db", "studio", "--no-browser", "--port", "0"],
        cwd=ROOT,
        env=studio_env(database_url, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        match = URL_LINE.search(line)
        if match:
            studio = Studio(process, match.group(1), match.group(2), output, pump_thread)
            for _ in range(100):  # until it answers
                try:
                    httpx.get(f"{studio.base}/admin/login", timeout=1)
                    return studio
                except httpx.TransportError:
                    time.sleep(0.1)
            break
    process.kill()
    process.wait()
    pump_thread.join(timeout=5)
    if process.stdout is not None:
        process.stdout.close()
    raise RuntimeError("the studio did not start:\n" + "".join(output))


@dataclass
class Secrets:
    user: SignedIn
    session_id: str
    verification_id: str
    password_hash: str
    session_token: str
    session_cookie: str
    private_keys: list[str]
    verification_identifier: str
    verification_value: str
    oauth_tokens: list[str]

    def all(self) -> dict[str, str]:
        values = {
            "password hash": self.password_hash,
            "session token": self.session_token,
            "signed session cookie": self.session_cookie,
            "verification identifier": self.verification_identifier,
            "verification value": self.verification_value,
        }
        values.update({f"oauth token {i}": token for i, token in enumerate(self.oauth_tokens)})
        values.update({f"JWKS private key {i}": key for i, key in enumerate(self.private_keys)})
        return values


def assert_no_secret(text: str, data: Secrets, where: str) -> None:
    for name, value in data.all().items():
        # The whole value, and a slice of it, in case a page shortened it.
        for piece in (value, value[len(value) // 3 : len(value) // 3 + 12]):
            assert piece not in text, f"{name} shown in {where}"


@pytest.fixture(scope="module")
def data(live_server: LiveServer, database_url: str) -> Secrets:
    """A user signed up through the real server, a JWT signing key made by the real server,
    an OAuth account and a pending password reset: rows holding every kind of secret."""
    with api_client(live_server) as http:
        user = sign_up(http, email=unique_email("studio"), name="Studio Person")
        token_response = http.get(f"{API}/token", headers={"cookie": user.cookie})
        assert token_response.status_code == 200, token_response.text
    session = session_row(database_url, user.token)
    assert session is not None
    keys = db_fetch(database_url, "SELECT private_key FROM jwks")
    assert keys, "the server made no signing key"
    oauth_tokens = [f"ya29.{secrets.token_urlsafe(24)}" for _ in range(3)]
    db_fetch(
        database_url,
        "INSERT INTO account (id, account_id, provider_id, user_id, access_token, "
        "refresh_token, id_token, scope, created_at, updated_at) "
        "VALUES ($1, 'g-123', 'google', $2, $3, $4, $5, 'openid email', now(), now())",
        f"acc{secrets.token_hex(8)}",
        user.user_id,
        *oauth_tokens,
    )
    identifier = f"reset-password:{secrets.token_urlsafe(18)}"
    value = secrets.token_urlsafe(18)
    verification_id = f"ver{secrets.token_hex(8)}"
    db_fetch(
        database_url,
        "INSERT INTO verification (id, identifier, value, expires_at) "
        "VALUES ($1, $2, $3, now() + interval '1 hour')",
        verification_id,
        identifier,
        value,
    )
    return Secrets(
        user=user,
        session_id=str(session["id"]),
        verification_id=verification_id,
        password_hash=credential_hash(database_url, user.user_id),
        session_token=user.token,
        session_cookie=signed_cookie_value(user.token),
        private_keys=[str(row["private_key"]) for row in keys],
        verification_identifier=identifier,
        verification_value=value,
        oauth_tokens=oauth_tokens,
    )


@pytest.fixture(scope="module")
def studio(data: Secrets, database_url: str) -> Iterator[Studio]:
    started = start_studio(database_url)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


# --------------------------------------------------------------------------- the browser


def test_browser_shows_the_tables_and_rows_but_never_a_secret(
    studio: Studio, data: Secrets, browser: webdriver.Chrome
) -> None:
    browser.get(studio.link)
    # The token was exchanged for a cookie and dropped from the address bar.
    assert browser.current_url == f"{studio.base}/admin/"
    assert "token=" not in browser.current_url
    menu = browser.find_element(By.ID, "navbar-menu").text
    for table in TABLES:
        assert table in menu
    assert_no_secret(browser.page_source, data, "the index")

    pages: list[tuple[str, list[str]]] = [
        ("/admin/user/list", [data.user.email, data.user.user_id]),
        (f"/admin/user/details/{data.user.user_id}", [data.user.email, "Studio Person"]),
        ("/admin/session/list", [data.session_id, data.user.email]),
        (f"/admin/session/details/{data.session_id}", [data.session_id, data.user.user_id]),
        ("/admin/account/list", ["credential", "google", data.user.email]),
        ("/admin/verification/list", []),
        ("/admin/jwks/list", []),
        ("/admin/rate-limit/list", []),
    ]
    for path, expected in pages:
        browser.get(f"{studio.base}{path}")
        source = browser.page_source
        assert "/login" not in browser.current_url, path
        for text in expected:
            assert text in source, f"{text!r} missing from {path}"
        assert_no_secret(source, data, path)

    # Every detail page of the rows holding secrets, reached by clicking through the lists.
    for identity in ("account", "verification", "jwks"):
        browser.get(f"{studio.base}/admin/{identity}/list")
        links = [
            link.get_attribute("href")
            for link in browser.find_elements(By.CSS_SELECTOR, "a[href*='/details/']")
        ]
        assert links, identity
        for href in {link for link in links if link and f"/admin/{identity}/" in link}:
            browser.get(href)
            assert "/details/" in browser.current_url
            assert_no_secret(browser.page_source, data, href)


# --------------------------------------------------------------------------- access


def test_unauthenticated_requests_are_sent_to_the_login(
    studio: Studio, data: Secrets, database_url: str
) -> None:
    with studio.client() as http:
        for path in (
            "/admin/",
            "/admin/user/list",
            f"/admin/user/details/{data.user.user_id}",
            f"/admin/session/details/{data.session_id}",
            "/admin/session/export/csv",
            "/admin/account/export/json",
        ):
            response = http.get(path)
            assert response.status_code == 302, path
            assert response.headers["location"] == f"{studio.base}/admin/login", path
            assert_no_secret(response.text, data, path)
        deleted = http.delete(f"/admin/session/delete?pks={data.session_id}")
        assert deleted.status_code == 302
    assert session_row(database_url, data.session_token) is not None


def test_a_wrong_token_is_refused(studio: Studio) -> None:
    wrong = secrets.token_urlsafe(32)
    with studio.client() as http:
        response = http.get(f"/admin/?token={wrong}")
        assert response.status_code == 302
        assert response.headers["location"] == f"{studio.base}/admin/login"
        # Whatever cookie came back grants nothing.
        assert http.get("/admin/user/list").status_code == 302
        for candidate in (wrong, studio.token[:-1], "", "é" * 40):
            login = http.post("/admin/login", data={"token": candidate})
            assert login.status_code == 400, candidate
            assert http.get("/admin/user/list").status_code == 302
        # The right token typed into the login form works.
        login = http.post("/admin/login", data={"token": studio.token})
        assert login.status_code == 302
        assert http.get("/admin/user/list").status_code == 200
        # Logging out ends it.
        assert http.get("/admin/logout").status_code == 302
        assert http.get("/admin/user/list").status_code == 302


def test_a_cookie_forged_or_from_another_run_is_refused(studio: Studio) -> None:
    with studio.signed_in_client() as http:
        (cookie,) = list(http.cookies.jar)
        value = cookie.value
    assert cookie.name == f"auth_service_studio_{studio.port}"
    payload, _, _ = value.partition(".")
    with studio.client() as http:
        http.cookies.set(cookie.name, f"{payload}.AAAAAA.forged-signature")
        assert http.get("/admin/user/list").status_code == 302


def test_a_foreign_host_header_is_refused(studio: Studio) -> None:
    """A page on another domain resolving to 127.0.0.1 (DNS rebinding) gets nothing."""
    with studio.client() as http:
        response = http.get(f"/admin/?token={studio.token}", headers={"host": "evil.example"})
    assert response.status_code == 400
    assert "set-cookie" not in response.headers


def test_it_listens_on_loopback_only(studio: Studio) -> None:
    listening = listening_addresses(studio.port)
    assert listening == {"127.0.0.1"}, listening


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port` (Linux /proc/net/tcp{,6})."""
    found: set[str] = set()
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(path) as table:
            next(table)
            for line in table:
                fields = line.split()
                address, port_hex = fields[1].split(":")
                if int(port_hex, 16) != port or fields[3] != "0A":  # 0A = LISTEN
                    continue
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8))
                    found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])  # noqa: S104
def test_a_non_loopback_host_is_refused(host: str, database_url: str) -> None:
    result = run_studio_cli("--host", host, "--port", "0", database_url=database_url)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "loopback only" in line
    assert "ssh -L" in line
    assert "token=" not in result.stdout


# --------------------------------------------------------------------------- what it allows


def test_search_sort_and_export_never_touch_secrets(studio: Studio, data: Secrets) -> None:
    with studio.signed_in_client() as http:
        # Searching for part of a secret finds nothing (no oracle); a shown column finds it.
        for piece in (data.session_token[:10], data.password_hash[-12:]):
            for identity in ("session", "account"):
                page = http.get(f"/admin/{identity}/list", params={"search": piece})
                assert page.status_code == 200
                assert data.session_id not in page.text
                assert data.user.user_id not in page.text
        found = http.get("/admin/session/list", params={"search": data.user.email})
        assert data.session_id in found.text
        for piece in (data.verification_identifier[-10:], data.verification_value[:10]):
            page = http.get("/admin/verification/list", params={"search": piece})
            assert data.verification_id not in page.text
        everything = http.get("/admin/verification/list").text
        assert data.verification_id in everything

        for identity, column in (
            ("session", "token"),
            ("account", "password"),
            ("account", "access_token"),
            ("verification", "value"),
            ("verification", "identifier"),
            ("jwks", "private_key"),
        ):
            sorted_page = http.get(f"/admin/{identity}/list", params={"sortBy": column})
            assert sorted_page.status_code == 400, (identity, column)

        for identity in ("user", "session", "account", "verification", "jwks"):
            for kind in ("csv", "json"):
                export = http.get(f"/admin/{identity}/export/{kind}")
                assert export.status_code == 200, (identity, kind)
                assert_no_secret(export.text, data, f"{identity} {kind} export")
        assert data.session_id in http.get("/admin/session/export/csv").text


def test_nothing_can_be_created_or_edited(studio: Studio, data: Secrets, database_url: str) -> None:
    with studio.signed_in_client() as http:
        for identity in ("user", "session", "account", "verification", "jwks", "rate-limit"):
            assert http.get(f"/admin/{identity}/create").status_code == 403
        edit = http.post(
            f"/admin/user/edit/{data.user.user_id}", data={"email": "taken@example.com"}
        )
        assert edit.status_code == 403
        assert http.delete(f"/admin/user/delete?pks={data.user.user_id}").status_code == 403
        assert http.delete(f"/admin/account/delete?pks={data.user.user_id}").status_code == 403
        assert http.delete("/admin/jwks/delete?pks=x").status_code == 403
    user = db_one(database_url, 'SELECT email FROM "user" WHERE id = $1', data.user.user_id)
    assert user["email"] == data.user.email


def test_deleting_a_session_revokes_it(
    studio: Studio, data: Secrets, live_server: LiveServer, database_url: str
) -> None:
    with api_client(live_server) as api:
        other = sign_in(api, data.user.email, data.user.password)
        assert api.get(f"{API}/get-session", headers={"cookie": other.cookie}).json()
        row = session_row(database_url, other.token)
        assert row is not None
        with studio.signed_in_client() as http:
            deleted = http.delete(f"/admin/session/delete?pks={row['id']}")
            assert deleted.status_code == 200
            assert "error" not in deleted.text
        assert session_row(database_url, other.token) is None
        assert api.get(f"{API}/get-session", headers={"cookie": other.cookie}).json() is None
        # The first session is untouched.
        assert api.get(f"{API}/get-session", headers={"cookie": data.user.cookie}).json()


# --------------------------------------------------------------------------- start-up errors


@pytest.fixture
def scratch_database(postgres: PostgresServer) -> Iterator[Callable[..., str]]:
    names: list[str] = []

    def make(*, migrate: bool, naming: Naming | None = None) -> str:
        name = f"studio_{secrets.token_hex(4)}"
        names.append(name)
        return create_database(postgres, name, migrate=migrate, naming=naming)

    yield make
    for name in names:
        drop_database(postgres, name)


def test_an_unmigrated_database_says_to_migrate(scratch_database: Callable[..., str]) -> None:
    result = run_studio_cli("--port", "0", database_url=scratch_database(migrate=False))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "auth-service db migrate" in line


def test_a_busy_port_is_a_clear_error(database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_studio_cli("--port", str(port), database_url=database_url)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert f"port {port}" in line
    assert "--port" in line


def test_an_unreachable_database_is_a_clear_error() -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    result = run_studio_cli("--port", "0", database_url=url)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "cannot reach the database" in line


def test_it_follows_the_configured_table_and_column_names(
    scratch_database: Callable[..., str],
) -> None:
    """A Kysely-made (camelCase) database with a renamed user table."""
    naming = Naming(preset="camelCase", tables={"user": "members"})
    url = scratch_database(migrate=True, naming=naming)
    user_id = secrets.token_hex(8)
    db_fetch(
        url,
        'INSERT INTO members (id, name, email, "emailVerified", "createdAt", "updatedAt") '
        "VALUES ($1, 'Camel Case', 'camel@example.com', true, now(), now())",
        user_id,
    )
    db_fetch(
        url,
        'INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "userId") '
        "VALUES ('s-camel', now() + interval '1 day', 'camel-secret-token', now(), now(), $1)",
        user_id,
    )
    env = {"DB_NAMING": "camelCase", "DB_TABLE_NAMES": '{"user": "members"}'}
    mismatched = run_studio_cli("--port", "0", database_url=url)  # snake_case settings
    assert mismatched.returncode == 1
    assert "DB_NAMING=camelCase" in mismatched.stderr

    studio = start_studio(url, env)
    try:
        with studio.signed_in_client() as http:
            users = http.get("/admin/user/list")
            assert users.status_code == 200
            assert "camel@example.com" in users.text
            details = http.get(f"/admin/user/details/{user_id}").text
            assert "Camel Case" in details
            sessions = http.get("/admin/session/list").text
            assert "s-camel" in sessions
            assert "camel@example.com" in sessions
            assert "camel-secret-token" not in sessions
            assert "camel-secret-token" not in http.get("/admin/session/details/s-camel").text
        assert "members" in "".join(studio.output)
    finally:
        studio.stop()


def test_a_lost_database_is_a_clear_503(
    scratch_database: Callable[..., str], postgres: PostgresServer
) -> None:
    url = scratch_database(migrate=True)
    studio = start_studio(url)
    try:
        with studio.signed_in_client() as http:
            assert http.get("/admin/user/list").status_code == 200
            drop_database(postgres, make_url(url).database or "")
            response = http.get("/admin/user/list")
            assert response.status_code == 503
            assert "database did not answer" in response.text
            assert "Traceback" not in response.text
        assert studio.process.poll() is None  # still serving
    finally:
        studio.stop()


def test_html_in_a_row_is_shown_as_text(
    studio: Studio, live_server: LiveServer, browser: webdriver.Chrome
) -> None:
    name = '<img src="x" id="studio-xss" onerror="document.title=\'pwned\'">'
    with api_client(live_server) as http:
        user = sign_up(http, email=unique_email("xss"), name=name)
    browser.get(studio.link)
    for path in ("/admin/user/list", f"/admin/user/details/{user.user_id}"):
        browser.get(f"{studio.base}{path}")
        assert not browser.find_elements(By.ID, "studio-xss"), path
        assert browser.title != "pwned"
        assert name in browser.find_element(By.TAG_NAME, "body").text, path


def test_without_database_url_it_uses_the_embedded_postgres(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    studio = start_studio(None, {"EMBEDDED_PG_DIR": str(data_dir)}, timeout=120)
    try:
        with studio.signed_in_client() as http:
            assert http.get("/admin/user/list").status_code == 200
            assert http.get("/admin/session/list").status_code == 200
    finally:
        studio.process.send_signal(signal.SIGTERM)
        assert studio.process.wait(timeout=30) == 0
        studio.stop()
    assert "embedded PostgreSQL" in "".join(studio.output)
    assert "Stopping embedded PostgreSQL" in "".join(studio.output)
    assert not (data_dir / "postmaster.pid").exists(), "the embedded PostgreSQL was left running"


def test_the_login_form_takes_the_token(studio: Studio, browser: webdriver.Chrome) -> None:
    browser.get(f"{studio.base}/admin/logout")
    assert browser.current_url == f"{studio.base}/admin/login"
    browser.get(f"{studio.base}/admin/user/list")
    assert browser.current_url == f"{studio.base}/admin/login"

    browser.find_element(By.NAME, "token").send_keys(secrets.token_urlsafe(32))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "Wrong access token" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.ID, "navbar-menu")

    browser.find_element(By.NAME, "token").send_keys(studio.token)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert browser.current_url == f"{studio.base}/admin/"
    assert "Users" in browser.find_element(By.ID, "navbar-menu").text
