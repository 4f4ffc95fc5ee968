"""Soak: mixed traffic for a chosen time, then the error count and the server's memory growth.

    uv run python bench/soak.py --duration 600            # 10 minutes (uv run poe soak)
    uv run python bench/soak.py --duration 60 --concurrency 4

Starts `auth-service serve` on a free loopback port, against DATABASE_URL when it is set (use a
scratch database: users and sessions are created there, migrations are applied) or else an
embedded PostgreSQL in a temporary folder. `--concurrency` workers each hold one user and loop
over a weighted mix: get-session, internal validate (session token and JWT), token, sign-in,
sign-out and a new sign-in, and sign-up of a new user. Every answer is checked against the
status that operation must give; anything else, a transport error or a 5xx is an error.

The server's RSS is sampled every `--sample-every` seconds. Growth is judged after a warm-up
(the first quarter of the run): the least-squares slope of RSS over time (MiB per minute) and
the difference between the mean RSS of the last and the first post-warm-up tenth, and the slope of
the last third (near 0 once every bounded cache is full). Exit status 1 when there was any error
or the growth passes `--max-growth-mib` over the post-warm-up part. The bounded caches (the JWT
plugin's, about 40 MiB when full) fill with distinct users: at the default mix, about 9,000
users in 10 minutes, not yet full; `--mix sign-up=50,validate-jwt=50` fills them in about
7 minutes and shows the plateau.
The summary is printed and written as JSON (`--out`, default bench/results/soak-<stamp>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SECRET = "soak-secret-not-for-production-" + secrets.token_hex(16)
GATEWAY_SECRET = "soak-gateway-secret-" + secrets.token_hex(16)
PASSWORD = "soak-password-123"
# Operation -> weight. Cheap reads dominate, as in production; hashing operations are rarer.
MIX = {
    "get-session": 40,
    "validate-session": 15,
    "validate-jwt": 10,
    "token": 10,
    "sign-in": 12,
    "sign-out": 5,
    "sign-up": 8,
}


def log(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def database() -> Iterator[str]:
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    from auth_service.db.embedded import embedded_postgres  # noqa: PLC0415

    with (
        tempfile.TemporaryDirectory(prefix="auth-soak-pg-") as folder,
        embedded_postgres(Path(folder) / "data") as url,
    ):
        yield url


@contextmanager
def server(database_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_URL": url,
        "BETTER_AUTH_SECRET": SECRET,
        "API_GATEWAY_SECRET": GATEWAY_SECRET,
        "ENVIRONMENT": "development",  # no rate limit: the soak is one client address
        "SHOW_ROUTES": "false",
    }
    log_path = RESULTS / "soak-server.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "auth_service", "serve"),
                *("--host", "127.0.0.1", "--port", str(port), "--migrate"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited; see {log_path}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {log_path}")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def check(self, op: str, response: httpx.Response | Exception, expected: int) -> bool:
        self.requests[op] += 1
        if isinstance(response, Exception):
            problem = f"{op}: {type(response).__name__}: {response}"
        elif response.status_code != expected:
            problem = f"{op}: {response.status_code} {response.text[:200]}"
        else:
            return True
        self.errors[op] += 1
        if len(self.examples) < 20:
            self.examples.append(problem)
        return False


class NoCookieJar(CookieJar):
    """Every worker sends its own credential (a bearer token); nothing is kept between calls."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class Worker:
    def __init__(
        self, http: httpx.AsyncClient, tally: Tally, rng: random.Random, mix: dict[str, int]
    ) -> None:
        self.http = http
        self.tally = tally
        self.rng = rng
        self.operations = list(mix)
        self.weights = list(mix.values())
        self.email = ""
        self.token: str | None = None

    async def call(
        self, op: str, expected: int, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self.tally.check(op, exc, expected)
            return None
        return response if self.tally.check(op, response, expected) else None

    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    async def sign_up(self) -> None:
        self.email = f"soak-{secrets.token_hex(8)}@example.com"
        body = {"name": "Soak", "email": self.email, "password": PASSWORD}
        response = await self.call("sign-up", 200, "POST", "/api/auth/sign-up/email", json=body)
        self.token = response.json()["token"] if response is not None else None

    async def sign_in(self) -> None:
        body = {"email": self.email, "password": PASSWORD}
        response = await self.call("sign-in", 200, "POST", "/api/auth/sign-in/email", json=body)
        self.token = response.json()["token"] if response is not None else self.token

    async def step(self) -> None:
        if self.token is None:
            await self.sign_up()
            if self.token is None:  # counted as an error already; do not spin
                await asyncio.sleep(0.1)
            return
        op = self.rng.choices(self.operations, weights=self.weights)[0]
        gateway = {"x-gateway-auth": GATEWAY_SECRET}
        if op == "get-session":
            response = await self.call(
                op, 200, "GET", "/api/auth/get-session", headers=self.bearer()
            )
            if response is not None and response.json() is None:
                self.tally.check(op, RuntimeError("live session answered null"), 200)
        elif op == "validate-session":
            response = await self.call(
                op,
                200,
                "POST",
                "/api/internal/validate",
                json={"token": self.token},
                headers=gateway,
            )
            if response is not None and response.json().get("valid") is not True:
                self.tally.check(op, RuntimeError(f"not valid: {response.text}"), 200)
        elif op in ("token", "validate-jwt"):
            response = await self.call(
                "token", 200, "GET", "/api/auth/token", headers=self.bearer()
            )
            if response is not None and op == "validate-jwt":
                jwt = response.json()["token"]
                checked = await self.call(
                    op, 200, "POST", "/api/internal/validate", json={"jwt": jwt}, headers=gateway
                )
                if checked is not None and checked.json().get("valid") is not True:
                    self.tally.check(op, RuntimeError(f"not valid: {checked.text}"), 200)
        elif op == "sign-in":
            await self.sign_in()
        elif op == "sign-out":
            await self.call(op, 200, "POST", "/api/auth/sign-out", headers=self.bearer())
            await self.sign_in()
        else:
            await self.sign_up()


async def traffic(
    url: str, duration: float, concurrency: int, tally: Tally, mix: dict[str, int]
) -> None:
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, timeout=30, limits=limits, cookies=NoCookieJar()
    ) as http:

        async def run(index: int) -> None:
            rng = random.Random(index)  # noqa: S311 - a traffic mix, not a secret
            worker = Worker(http, tally, rng, mix)
            while time.monotonic() < deadline:
                await worker.step()

        await asyncio.gather(*(run(index) for index in range(concurrency)))


@dataclass
class Summary:
    duration_s: float
    concurrency: int
    requests: int
    requests_by_operation: dict[str, int]
    errors: int
    errors_by_operation: dict[str, int]
    error_examples: list[str]
    rss_start_mib: float
    rss_after_warmup_mib: float
    rss_end_mib: float
    rss_max_mib: float
    growth_slope_mib_per_min: float
    tail_slope_mib_per_min: float
    growth_mib: float
    max_growth_mib: float
    passed: bool
    samples: list[tuple[float, float]] = field(repr=False)


def parse_mix(text: str) -> dict[str, int]:
    mix: dict[str, int] = {}
    for part in text.split(","):
        op, _, weight = part.partition("=")
        if op.strip() not in MIX or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected <operation>=<weight>, {list(MIX)}"
            )
        mix[op.strip()] = int(weight)
    return mix


def least_squares_slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs)
    if denominator == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / denominator


def summarise(
    tally: Tally, samples: list[tuple[float, float]], args: argparse.Namespace
) -> Summary:
    warm = [s for s in samples if s[0] >= args.duration / 4] or samples
    tenth = max(1, len(warm) // 10)
    growth = statistics.fmean(s[1] for s in warm[-tenth:]) - statistics.fmean(
        s[1] for s in warm[:tenth]
    )
    slope = least_squares_slope(warm) * 60
    tail = warm[-max(2, len(warm) // 3) :]
    errors = sum(tally.errors.values())
    return Summary(
        duration_s=args.duration,
        concurrency=args.concurrency,
        requests=sum(tally.requests.values()),
        requests_by_operation=dict(tally.requests),
        errors=errors,
        errors_by_operation=dict(tally.errors),
        error_examples=tally.examples,
        rss_start_mib=round(samples[0][1], 1),
        rss_after_warmup_mib=round(warm[0][1], 1),
        rss_end_mib=round(samples[-1][1], 1),
        rss_max_mib=round(max(s[1] for s in samples), 1),
        growth_slope_mib_per_min=round(slope, 3),
        tail_slope_mib_per_min=round(least_squares_slope(tail) * 60, 3),
        growth_mib=round(growth, 2),
        max_growth_mib=args.max_growth_mib,
        passed=errors == 0 and growth <= args.max_growth_mib,
        samples=[(round(t, 1), round(m, 2)) for t, m in samples],
    )


async def soak(url: str, pid: int, args: argparse.Namespace) -> Summary:
    tally = Tally()
    samples: list[tuple[float, float]] = []
    started = time.monotonic()

    async def sample() -> None:
        while True:
            samples.append((time.monotonic() - started, rss_kib(pid) / 1024))
            await asyncio.sleep(args.sample_every)

    sampler = asyncio.create_task(sample())
    await asyncio.sleep(0)
    progress_every = max(args.duration / 10, args.sample_every)

    async def progress() -> None:
        while True:
            await asyncio.sleep(progress_every)
            log(
                f"{time.monotonic() - started:6.0f} s: {sum(tally.requests.values())} requests, "
                f"{sum(tally.errors.values())} errors, RSS {samples[-1][1]:.1f} MiB"
            )

    reporter = asyncio.create_task(progress())
    try:
        await traffic(url, args.duration, args.concurrency, tally, args.mix)
    finally:
        sampler.cancel()
        reporter.cancel()
    samples.append((time.monotonic() - started, rss_kib(pid) / 1024))
    return summarise(tally, samples, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    parser.add_argument("--concurrency", type=int, default=8, help="workers (default 8)")
    parser.add_argument("--sample-every", type=float, default=5, help="RSS sampling period (s)")
    # The JWT plugin keeps two bounded per-process caches (the last token per user row and
    # verified tokens, 10,000 entries each, about 2 KiB an entry): with many distinct users
    # they fill to a ceiling of about 40 MiB, then RSS is flat.
    parser.add_argument(
        "--max-growth-mib",
        type=float,
        default=48,
        help="largest RSS growth allowed after the warm-up (MiB, default 48)",
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=dict(MIX),
        help="operation weights, e.g. validate-jwt=50,token=20,get-session=30 (default: "
        + ",".join(f"{op}={weight}" for op, weight in MIX.items())
        + ")",
    )
    parser.add_argument("--out", type=Path, help="where to write the JSON summary")
    args = parser.parse_args()

    with database() as database_url, server(database_url) as (url, process):
        log(f"server {url} (pid {process.pid}); {args.duration:g} s at {args.concurrency} workers")
        summary = asyncio.run(soak(url, process.pid, args))
        if "Traceback" in (RESULTS / "soak-server.log").read_text(errors="replace"):
            summary.errors += 1
            summary.error_examples.append("a traceback in bench/results/soak-server.log")
            summary.passed = False

    out = args.out or RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asdict(summary), indent=2))
    shown = {k: v for k, v in asdict(summary).items() if k != "samples"}
    print(json.dumps(shown, indent=2))
    log(f"summary written to {out}")
    sys.exit(0 if summary.passed else 1)


if __name__ == "__main__":
    main()
