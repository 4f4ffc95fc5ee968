"""Side-by-side benchmark: the seed stack (Bun + Hono + Better Auth) and auth-service.

    uv run python bench/run.py            # full run, about 6 minutes
    uv run python bench/run.py --quick    # 3 s per cell, for a smoke check

Both servers run on one PostgreSQL server (the seed's private cluster from
../shared/anchor/pg-up.sh, 127.0.0.1:54329), in separate databases, one after the other,
pinned to CPU 1 while wrk runs on CPU 0. Loopback only; every run is bounded in time.
Results: bench/results/<stamp>/results.json and results.md (the table printed at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LUA = BENCH / "lua"
SHARED_ANCHOR = ROOT.parent / "shared" / "anchor"
ANCHOR = BENCH / ".anchor"  # a writable copy (git-ignored): npm ci writes node_modules there
PG_PORT = 54339
PG_ROOT = "/tmp/auth-bench-pg"
PORT = 3000
BASE = f"http://127.0.0.1:{PORT}"
SERVER_CPU = "1"
WRK_CPU = "0"
SECRET = "bench-secret-not-for-production-0123456789abcdefghijkl"
GATEWAY_SECRET = "bench-gateway-secret-0123456789abcdefghijklmn"
EMAIL = "bench-signin@example.com"
PASSWORD = "bench-password-123"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- processes and /proc -----------------------------------------------------------------------


def tree_pids(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids.extend(tree_pids(int(child)))
    return pids


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def status_kib(pids: list[int], key: str) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def reset_peak_rss(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def http(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


# -- the two servers -------------------------------------------------------------------------


@dataclass
class Server:
    label: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    has_validate: bool = False
    process: subprocess.Popen[bytes] | None = None

    def start(self, *, pinned: bool = True) -> float:
        """Start; return seconds from exec to the first 200 on /health."""
        prefix = ["taskset", "-c", SERVER_CPU] if pinned else []
        env = {**os.environ, **self.env}
        started = time.monotonic()
        self.process = subprocess.Popen(
            prefix + self.command,
            cwd=self.cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(BENCH / "results" / f"{self.label}.log").open("ab"),
            start_new_session=True,
        )
        deadline = started + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited; see bench/results/{self.label}.log")
            try:
                if http("GET", "/health")[0] == 200:
                    return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.003)
        raise RuntimeError(f"{self.label} did not answer /health within 60 s")

    def pids(self) -> list[int]:
        assert self.process is not None
        return tree_pids(self.process.pid)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        list(args),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def compile_bytecode() -> None:
    """Compile the virtualenv and the sources to bytecode first, as the production image does
    (UV_COMPILE_BYTECODE=1): otherwise, where PYTHONDONTWRITEBYTECODE is set, every start
    compiles every imported module again and the cold start measures the compiler."""
    log("compiling bytecode (as the image build does)")
    site_packages = sorted(str(p) for p in (ROOT / ".venv/lib").glob("python3*/site-packages"))
    run(sys.executable, "-m", "compileall", "-q", "-j", "0", str(ROOT / "src"), *site_packages)


def prepare_anchor() -> Path:
    if not (ANCHOR / "package.json").exists():
        log(f"copying the seed stack to {ANCHOR}")
        shutil.copytree(
            SHARED_ANCHOR, ANCHOR, ignore=shutil.ignore_patterns("node_modules", "results")
        )
        for path in [ANCHOR, *ANCHOR.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    if not (ANCHOR / "node_modules").exists():
        log("npm ci in the seed stack (once)")
        run("npm", "ci", "--no-audit", "--no-fund", cwd=ANCHOR)
    for candidate in [
        ANCHOR / "node_modules/.bin/bun",
        *ANCHOR.glob("node_modules/@oven/bun-linux-x64*/bin/bun"),
    ]:
        if (
            candidate.exists()
            and subprocess.run(
                [candidate, "--version"], capture_output=True, check=False
            ).returncode
            == 0
        ):
            return candidate
    raise RuntimeError("the seed stack's bun binary is missing (see ../shared/anchor/README.md)")


def prepare_postgres() -> tuple[str, str]:
    env = {"PGPORT": str(PG_PORT), "PGROOT": PG_ROOT}
    run("bash", str(ANCHOR / "pg-up.sh"), cwd=ANCHOR, env=env)
    admin = f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres"
    exists = run("psql", admin, "-qtAc", "select 1 from pg_database where datname='auth_service'")
    if exists.strip() != "1":
        run("psql", admin, "-qc", "create database auth_service")
    return (
        f"postgres://anchor@127.0.0.1:{PG_PORT}/anchor",
        f"postgresql://postgres@127.0.0.1:{PG_PORT}/auth_service",
    )


def reset(database_url: str) -> None:
    run(
        "psql",
        database_url,
        "-qc",
        'TRUNCATE "user", "session", "account", "verification", "jwks" CASCADE',
    )


# -- measurements ----------------------------------------------------------------------------


@dataclass
class Cell:
    server: str
    scenario: str
    conns: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float
    peak_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)


def wrk(script: str, conns: int, duration: str, env: dict[str, str]) -> dict[str, Any]:
    output = run(
        "taskset",
        "-c",
        WRK_CPU,
        "wrk",
        "-t2",
        f"-c{conns}",
        f"-d{duration}",
        "-T30s",
        "--latency",
        "-s",
        str(LUA / f"{script}.lua"),
        BASE,
        env=env,
    )
    match = re.search(r"WRK_JSON (\{.*\})", output)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    result: dict[str, Any] = json.loads(match.group(1))
    return result


def wait_idle(pids: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_ticks(pids)
        time.sleep(0.3)
        if cpu_ticks(pids) - before <= 3:
            return


def measure(
    server: Server, scenario: str, conns: int, env: dict[str, str], *, warmup: str, duration: str
) -> Cell:
    pids = server.pids()
    wrk(scenario, conns, warmup, {**env, "BENCH_RUN_ID": f"w{time.time_ns()}"})
    wait_idle(pids)
    reset_peak_rss(pids)
    ticks = cpu_ticks(pids)
    started = time.monotonic()
    result = wrk(scenario, conns, duration, {**env, "BENCH_RUN_ID": f"m{time.time_ns()}"})
    elapsed = time.monotonic() - started
    cpu = (cpu_ticks(pids) - ticks) / CLK_TCK / elapsed * 100
    errors = sum(
        result[key] for key in ("err_connect", "err_read", "err_write", "err_timeout", "non2xx")
    )
    return Cell(
        server.label,
        scenario,
        conns,
        result["rps"],
        result["p50_ms"],
        result["p99_ms"],
        errors,
        round(cpu, 1),
        round(status_kib(pids, "VmHWM") / 1024, 1),
    )


def session_material(server: Server) -> dict[str, str]:
    http("POST", "/api/auth/sign-up/email", {"name": "Bench", "email": EMAIL, "password": PASSWORD})
    status, headers, body = http(
        "POST", "/api/auth/sign-in/email", {"email": EMAIL, "password": PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"{server.label}: sign-in failed with {status}: {body[:200]!r}")
    cookie = str(headers.get("set-cookie", "")).split(";", 1)[0]
    token = json.loads(body)["token"]
    status, _, body = http("GET", "/api/auth/token", headers={"cookie": cookie})
    jwt = json.loads(body)["token"] if status == 200 else ""
    return {
        "BENCH_COOKIE": cookie,
        "BENCH_TOKEN": token,
        "BENCH_JWT": jwt,
        "BENCH_EMAIL": EMAIL,
        "BENCH_PASSWORD": PASSWORD,
        "BENCH_GATEWAY_SECRET": GATEWAY_SECRET,
        "BENCH_RUN_ID": str(time.time_ns()),
    }


def cold_start(server: Server, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        times.append(server.start())
        server.stop()
    return times


def bench_server(
    server: Server,
    database_url: str,
    scenarios: list[str],
    conns: list[int],
    args: argparse.Namespace,
) -> tuple[list[Cell], dict[str, Any]]:
    reset(database_url)
    colds = cold_start(server, args.cold_runs)
    server.start()
    cells: list[Cell] = []
    try:
        env = session_material(server)
        idle_rss = status_kib(server.pids(), "VmRSS") / 1024
        for scenario in scenarios:
            for n in conns:
                env["BENCH_RUN_ID"] = str(time.time_ns())
                cell = measure(server, scenario, n, env, warmup=args.warmup, duration=args.duration)
                log(
                    f"{server.label:22} {scenario:16} c{n:<3} {cell.rps:9.1f} req/s "
                    f"p50 {cell.p50_ms:7.2f} p99 {cell.p99_ms:7.2f} err {cell.errors}"
                )
                cells.append(cell)
    finally:
        server.stop()
    return cells, {
        "cold_start_ms": sorted(round(t * 1000, 1) for t in colds),
        "idle_rss_mb": round(idle_rss, 1),
    }


# -- report ----------------------------------------------------------------------------------


def ratio(ours: float, seed: float) -> str:
    return f"{ours / seed:.2f}x" if seed else "-"


def markdown(cells: list[Cell], servers: dict[str, dict[str, Any]], seed_label: str) -> str:
    seed = {(c.scenario, c.conns): c for c in cells if c.server == seed_label}
    lines = [
        "| server | scenario | conns | req/s | p50 ms | p99 ms | errors | server CPU % "
        "| peak RSS MB | req/s vs seed | p99 vs seed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in cells:
        base_key = (cell.scenario, cell.conns)
        if cell.scenario.startswith("validate"):
            base_key = ("session", cell.conns)  # the seed has no validate: compare to get-session
        base = seed.get(base_key)
        versus = ratio(cell.rps, base.rps) if base and cell.server != seed_label else ""
        p99 = ratio(cell.p99_ms, base.p99_ms) if base and cell.server != seed_label else ""
        lines.append(
            f"| {cell.server} | {cell.scenario} | {cell.conns} | {cell.rps:.1f} | "
            f"{cell.p50_ms:.2f} | {cell.p99_ms:.2f} | {cell.errors} | {cell.server_cpu_pct} | "
            f"{cell.peak_rss_mb} | {versus} | {p99} |"
        )
    lines += [
        "",
        "| server | cold start to first 200 (ms, each run) | idle RSS MB |",
        "|---|---|---:|",
    ]
    for label, info in servers.items():
        lines.append(
            f"| {label} | {', '.join(map(str, info['cold_start_ms']))} | {info['idle_rss_mb']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 s cells, 1 s warm-up")
    parser.add_argument("--duration", default="8s")
    parser.add_argument("--warmup", default="2s")
    parser.add_argument("--conns", default="10,50")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--only", choices=["seed", "ours"], help="run one side only")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.cold_runs = "3s", "1s", 2
    for tool in ("wrk", "taskset", "psql", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is needed (apt-get install wrk util-linux postgresql-client;"
                " npm comes with Node.js)"
            )
    conns = [int(n) for n in args.conns.split(",")]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = BENCH / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    compile_bytecode()
    bun = prepare_anchor()
    seed_url, ours_url = prepare_postgres()
    run(
        str(ROOT / ".venv/bin/auth-service"),
        "db",
        "migrate",
        env={"DATABASE_URL": ours_url, "BETTER_AUTH_SECRET": SECRET},
    )
    run(str(bun), "scripts/migrate.ts", cwd=ANCHOR, env={"DATABASE_URL": seed_url})

    common_env = {"PORT": str(PORT), "BETTER_AUTH_URL": BASE, "BETTER_AUTH_SECRET": SECRET}
    seed = Server(
        "seed (bun+better-auth)",
        [str(bun), "src/index.ts"],
        {**common_env, "DATABASE_URL": seed_url, "BETTER_AUTH_TELEMETRY": "0"},
        ANCHOR,
    )
    ours_env = {
        **common_env,
        "DATABASE_URL": ours_url,
        "API_GATEWAY_SECRET": GATEWAY_SECRET,
        "ENVIRONMENT": "development",
    }
    ours_cmd = [
        str(ROOT / ".venv/bin/auth-service"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(PORT),
    ]
    ours = Server("auth-service", ours_cmd, ours_env, ROOT, has_validate=True)
    ours_scrypt = Server(
        "auth-service (scrypt)", ours_cmd, {**ours_env, "PASSWORD_ALGORITHM": "scrypt"}, ROOT
    )
    # The optional session cache (revocation by PostgreSQL notifications, README "Sessions").
    ours_cached = Server(
        "auth-service (session cache)",
        ours_cmd,
        {**ours_env, "SESSION_CACHE_SECONDS": "30"},
        ROOT,
        has_validate=True,
    )

    base_scenarios = ["health", "signup", "signin", "session", "token"]
    cells: list[Cell] = []
    servers: dict[str, dict[str, Any]] = {}
    plan: list[tuple[Server, str, list[str]]] = []
    if args.only != "ours":
        plan.append((seed, seed_url, base_scenarios))
    if args.only != "seed":
        plan.append((ours, ours_url, [*base_scenarios, "validate_session", "validate_jwt"]))
        plan.append((ours_scrypt, ours_url, ["signup", "signin"]))
        plan.append((ours_cached, ours_url, ["session", "validate_session"]))
    for server, url, scenarios in plan:
        log(f"== {server.label}")
        result, info = bench_server(server, url, scenarios, conns, args)
        cells += result
        servers[server.label] = info
    table = markdown(cells, servers, seed.label)
    (out / "results.json").write_text(
        json.dumps(
            {
                "cells": [asdict(c) for c in cells],
                "servers": servers,
                "duration": args.duration,
                "warmup": args.warmup,
                "server_cpu": SERVER_CPU,
                "wrk_cpu": WRK_CPU,
            },
            indent=2,
        )
    )
    (out / "results.md").write_text(table + "\n")
    print(table)
    log(f"results in {out}")


if __name__ == "__main__":
    main()
