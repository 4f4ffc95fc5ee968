"""A rolling restart under load loses no request.

Three replicas on one database sit behind a tiny round-robin balancer that behaves as a
Kubernetes Service with a readiness probe: it polls every replica's /ready every 100 ms and
sends traffic only to the replicas that answered 200. Client threads run a steady mix of
sign-ups, sign-ins and session reads. In turn, as a rolling update with maxSurge 1 and
maxUnavailable 0, a new replica joins and, once it is ready, an old one gets SIGTERM (with
SHUTDOWN_DRAIN_SECONDS > 0: /ready turns 503 at once, the listener closes later) and exits.

Pass: no connection error, no 5xx, every sign-up the service acknowledged is in the database
afterwards, every replica exited with status 0. "Requests lost on restart" is the count of
transport errors plus 5xx answers, printed at the end; it must be 0.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.conftest import TEST_SECRET
from tests.support.auth_client import (
    API,
    PASSWORD,
    NoCookieJar,
    db_fetch,
    session_cookie,
    unique_email,
)
from tests.support.server import LiveServer, start_server

REPLICAS = 3
CLIENTS = 4
PAUSE = 0.05  # between a client's rounds: steady load, not saturation (2-core CI machines)
DRAIN_SECONDS = "1.5"
PROBE_PERIOD = 0.1
PUBLIC_URL = "http://auth.rolling.test"
ENV = {"SHUTDOWN_DRAIN_SECONDS": DRAIN_SECONDS, "BETTER_AUTH_URL": PUBLIC_URL}


@dataclass
class Balancer:
    """Round robin over the replicas whose last readiness probe answered 200."""

    replicas: list[LiveServer]
    ready: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    turn: itertools.count[int] = field(default_factory=itertools.count)

    def probe_forever(self) -> None:
        with httpx.Client(timeout=1) as probe:
            while not self.stop.is_set():
                with self.lock:
                    current = list(self.replicas)
                for server in current:
                    try:
                        up = probe.get(f"{server.url}/ready").status_code == 200
                    except httpx.TransportError:
                        up = False
                    with self.lock:
                        (self.ready.add if up else self.ready.discard)(server.url)
                time.sleep(PROBE_PERIOD)

    def pick(self) -> str:
        while True:
            with self.lock:
                ready = [s.url for s in self.replicas if s.url in self.ready]
            if ready:
                return ready[next(self.turn) % len(ready)]
            time.sleep(0.01)

    def add(self, server: LiveServer) -> None:
        with self.lock:
            self.replicas.append(server)

    def remove(self, server: LiveServer) -> None:
        with self.lock:
            self.replicas.remove(server)
            self.ready.discard(server.url)

    def wait_ready(self, server: LiveServer, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while server.url not in self.ready:
            assert time.monotonic() < deadline, f"{server.url} never became ready"
            time.sleep(0.02)


@dataclass
class Load:
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    signed_up: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, response: httpx.Response | Exception) -> None:
        with self.lock:
            if isinstance(response, Exception):
                self.outcomes["transport error"] += 1
                self.failures.append(f"{what}: {type(response).__name__}: {response}")
            else:
                self.outcomes[str(response.status_code)] += 1
                if response.status_code != 200:
                    self.failures.append(f"{what}: {response.status_code} {response.text}")


def client_loop(balancer: Balancer, load: Load, stop: threading.Event) -> None:
    # One connection pool per replica URL, kept alive between requests as a proxy would.
    clients: dict[str, httpx.Client] = {}

    def call(what: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        url = balancer.pick()
        client = clients.get(url)
        if client is None:
            client = clients[url] = httpx.Client(base_url=url, timeout=30, cookies=NoCookieJar())
        try:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            load.record(what, exc)
            return None
        load.record(what, response)
        return response

    try:
        while not stop.is_set():
            email = unique_email("rolling")
            body = {"name": "Rolling", "email": email, "password": PASSWORD}
            signed_up = call("sign-up", "POST", f"{API}/sign-up/email", json=body)
            if signed_up is None or signed_up.status_code != 200:
                stop.wait(PAUSE)
                continue
            with load.lock:
                load.signed_up.append(email)
            token = signed_up.json()["token"]
            call(
                "get-session",
                "GET",
                f"{API}/get-session",
                headers={"cookie": session_cookie(token)},
            )
            call(
                "sign-in",
                "POST",
                f"{API}/sign-in/email",
                json={"email": email, "password": PASSWORD},
                headers={"origin": PUBLIC_URL},
            )
            stop.wait(PAUSE)
    finally:
        for client in clients.values():
            client.close()


def start_replicas(database_url: str, count: int, started: list[LiveServer]) -> list[LiveServer]:
    """Start `count` replicas side by side (a generous bound: the machine is busy)."""

    def start(_: int) -> LiveServer:
        server = start_server(database_url, ENV, secret=TEST_SECRET, timeout=120)
        started.append(server)
        return server

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def test_rolling_restart_under_load_loses_nothing(database_url: str) -> None:
    started: list[LiveServer] = []
    try:
        run_rolling_restart(database_url, started)
    finally:
        for server in started:
            server.stop()


def run_rolling_restart(database_url: str, started: list[LiveServer]) -> None:
    # The replacements start with the first generation (to keep the test short) but join the
    # rotation only at their turn: as a rolling update with maxSurge 1, maxUnavailable 0, a new
    # replica is ready before an old one is stopped.
    servers = start_replicas(database_url, 2 * REPLICAS, started)
    replicas, replacements = servers[:REPLICAS], servers[REPLICAS:]
    balancer = Balancer(replicas=list(replicas))
    prober = threading.Thread(target=balancer.probe_forever, daemon=True)
    prober.start()
    for server in replicas:
        balancer.wait_ready(server)

    load = Load()
    stop = threading.Event()
    workers = [
        threading.Thread(target=client_loop, args=(balancer, load, stop), daemon=True)
        for _ in range(CLIENTS)
    ]
    for worker in workers:
        worker.start()
    exit_codes: list[int | None] = []
    began = time.monotonic()
    try:
        time.sleep(1)
        for old, new in zip(replicas, replacements, strict=True):
            requests_before = sum(load.outcomes.values())
            balancer.add(new)
            balancer.wait_ready(new)
            # The balancer drops the old replica when its /ready turns 503, not before.
            old.process.send_signal(signal.SIGTERM)
            exit_codes.append(old.process.wait(timeout=30))
            balancer.remove(old)
            time.sleep(0.3)
            assert sum(load.outcomes.values()) > requests_before, "the load stalled"
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        balancer.stop.set()
        prober.join(timeout=5)

    lost = load.outcomes["transport error"] + sum(
        count for status, count in load.outcomes.items() if status.isdigit() and int(status) >= 500
    )
    total = sum(load.outcomes.values())
    print(
        f"\nrolling restart of {REPLICAS} replicas in {time.monotonic() - began:.1f} s: "
        f"{total} requests, {dict(load.outcomes)}, requests lost on restart: {lost}"
    )
    assert lost == 0, load.failures[:10]
    assert set(load.outcomes) == {"200"}, (load.outcomes, load.failures[:5])
    assert exit_codes == [0] * REPLICAS
    assert len(load.signed_up) > 20
    stored = db_fetch(
        database_url, 'SELECT email FROM "user" WHERE email = ANY($1::text[])', load.signed_up
    )
    assert {row["email"] for row in stored} == set(load.signed_up)
