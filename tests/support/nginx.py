"""A real nginx in front of auth-service, using `auth_request` exactly as the README shows.

nginx must be installed (`apt-get install nginx`; CI's `.ci/run` does it): the test that uses
it fails, never skips, when it is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import free_port

CONFIG = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{ worker_connections 256; }}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream auth_service {{
        server {auth_host_port};
        keepalive 8;
    }}

    # The protected application: it echoes what the gateway told it about the caller.
    server {{
        listen 127.0.0.1:{app_port};
        location / {{
            default_type text/plain;
            set $who "user=$http_x_auth_user_id|email=$http_x_auth_user_email";
            set $what "session=$http_x_auth_session_id|method=$request_method";
            return 200 "$who|$what|uri=$request_uri";
        }}
    }}

    # The gateway (the README's snippet, with the upstream and secret filled in).
    server {{
        listen 127.0.0.1:{port};

        location = /_auth {{
            internal;
            proxy_pass http://auth_service/api/internal/forward-auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Gateway-Auth "{secret}";
            proxy_set_header X-Original-URI $request_uri;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}

        location / {{
            auth_request /_auth;
            auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
            auth_request_set $auth_user_email $upstream_http_x_auth_user_email;
            auth_request_set $auth_session_id $upstream_http_x_auth_session_id;
            proxy_set_header X-Auth-User-Id $auth_user_id;
            proxy_set_header X-Auth-User-Email $auth_user_email;
            proxy_set_header X-Auth-Session-Id $auth_session_id;
            proxy_pass http://127.0.0.1:{app_port};
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
        None,
    )
    if found is None:
        raise AssertionError(
            "nginx is not installed, so the real auth_request test cannot run. Install it "
            "(`apt-get install -y --no-install-recommends nginx`); CI's .ci/run does."
        )
    return found


@dataclass
class Nginx:
    url: str
    process: subprocess.Popen[bytes]
    directory: Path

    def log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nginx(directory: Path, *, auth_url: str, secret: str, timeout: float = 15) -> Nginx:
    binary = nginx_binary()
    directory.mkdir(parents=True, exist_ok=True)
    port, app_port = free_port(), free_port()
    config = directory / "nginx.conf"
    config.write_text(
        CONFIG.format(
            dir=directory,
            auth_host_port=auth_url.removeprefix("http://"),
            app_port=app_port,
            port=port,
            secret=secret,
        )
    )
    test = subprocess.run(
        [binary, "-t", "-p", str(directory), "-c", str(config), "-e", str(directory / "t.log")],
        capture_output=True,
        check=False,
    )
    assert test.returncode == 0, test.stderr.decode(errors="replace")
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nginx = Nginx(url=f"http://127.0.0.1:{port}", process=process, directory=directory)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited with {process.returncode}:\n{nginx.log()}")
        try:
            httpx.get(nginx.url, timeout=1)
            return nginx
        except httpx.TransportError:
            time.sleep(0.1)
    nginx.stop()
    raise AssertionError(f"nginx did not start within {timeout}s:\n{nginx.log()}")
