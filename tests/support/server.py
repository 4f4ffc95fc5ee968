"""Run auth-service as a real server process for the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.url

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# Servers started by the tests' `server_factory` during the current module, and those kept for
# the whole run (the default `live_server`, `shared_server`'s): see tests/conftest.py.
module_servers: list[LiveServer] = []
_kept: set[int] = set()


def keep_for_the_session(server: LiveServer) -> LiveServer:
    _kept.add(id(server))
    return server


def stop_module_servers() -> None:
    while module_servers:
        server = module_servers.pop()
        if id(server) not in _kept:
            server.stop()


def start_server(
    database_url: str,
    extra_env: dict[str, str],
    *,
    secret: str,
    port: int | None = None,
    timeout: float = 30.0,
) -> LiveServer:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_URL": url,
        "BETTER_AUTH_SECRET": secret,
        "ENVIRONMENT": "development",
        **extra_env,
    }
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"auth-service-test-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "auth_service",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=url, process=process, log_path=log_path, env=extra_env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"auth-service exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"auth-service did not answer /health within {timeout}s:\n{server.log()}")
