"""Reliability under crashes: concurrent creates while the whole server is SIGKILLed
at random moments (and, once, PostgreSQL itself is restarted); every acknowledged
complaint must be in the database exactly once, and no request made two.

    .venv/bin/python bench/reliability.py                 # 20 rounds of SIGKILL
    .venv/bin/python bench/reliability.py --pg-restart --lock /work/land.lock --rounds 4

What it does:

- makes a throw-away PostgreSQL database (``trust_rel_…``), migrates it and builds a
  company through the services (one project, 100 owners, one agent per client);
- starts ``complaintdesk serve --workers 2`` in its own process group;
- runs ``--clients`` threads (default 8), each creating complaints with an
  ``Idempotency-Key`` of its own; a request that is not acknowledged (no answer, a
  dropped connection, a 5xx) is retried with the same key and body until it is;
- ``--rounds`` times (default 20), at a random moment, SIGKILLs the whole process
  group (supervisor and workers) and starts the server again;
- with ``--pg-restart``, once halfway, restarts PostgreSQL itself (announced in
  /work/notes/machine.log before and after) instead of killing the server;
- at the end, every client resolves its last unacknowledged key, and the database is
  checked: each acknowledged complaint present exactly once with the id the client
  was given, no key (its marker is in the text) made two complaints, and nothing else
  was made.

Not part of the test suite (it takes minutes and restarts processes); ``make
reliability`` runs it. The figures go to docs/operations.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from complaintdesk.db.engine import make_engine, make_sessionmaker, unit_of_work
from complaintdesk.db.migrate import upgrade
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import accounts, org

ROOT = Path(__file__).resolve().parent.parent
MACHINE_LOG = Path("/work/notes/machine.log")
PG_RESTART = "pg_ctlcluster --skip-systemctl-redirect {version} main restart"
MARKER = re.compile(r"\[rel:([0-9a-f]{32})\]")
TEXTS = [
    "电梯坏了,困了人,快来 {m}",
    "楼上漏水到我家天花板 {m}",
    "The corridor light on floor 3 has been out for a week {m}",
    "小区门口垃圾三天没人清理 {m}",
    "Noise from the construction site after 10pm again {m}",
]


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


def announce(message: str) -> None:
    """A line in the machine's shared log (PostgreSQL is shared with other engineers)."""
    line = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} trust: {message}\n"
    log(message)
    if MACHINE_LOG.parent.is_dir():
        with MACHINE_LOG.open("a", encoding="utf-8") as f:
            f.write(line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- The database -----------------------------------------------------------------------


@dataclass
class Setup:
    url: str
    name: str
    project_id: int
    owner_ids: list[int]
    tokens: list[str]


def make_database(admin_url: str, clients: int) -> Setup:
    name = f"trust_rel_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql", database=name)
    rendered = url.render_as_string(hide_password=False)
    engine = make_engine(rendered)
    upgrade(engine)
    now = datetime.now(UTC)
    with unit_of_work(make_sessionmaker(engine)) as session:
        company = org.create_company(session, code="REL", name="Reliability 物业")
        project = org.create_project(session, company, code="R1", name="可靠花园")
        building = org.add_building(session, project, "1号楼")
        units = [org.add_unit(session, building, f"1-{n:03d}") for n in range(20)]
        owners = [
            org.create_owner(
                session,
                company,
                name=f"业主{n}",
                phone=f"1390000{n:04d}",
                unit_ids=[units[n % len(units)].id],
            )
            for n in range(100)
        ]
        tokens = []
        for n in range(clients):
            agent = org.create_staff(
                session,
                company,
                username=f"agent{n}",
                name=f"客服{n}",
                department=StaffDepartment.CUSTOMER_SERVICE,
                role=Role.AGENT,
                project_ids=[project.id],
            )
            tokens.append(accounts.issue_token(session, agent, now))
        setup = Setup(rendered, name, project.id, [o.id for o in owners], tokens)
    engine.dispose()
    return setup


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- The server -------------------------------------------------------------------------


class Server:
    """``complaintdesk serve --workers N`` in its own process group."""

    def __init__(self, setup: Setup, port: int, workers: int, workdir: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workers = workers
        self.workdir = workdir
        self.env = {
            **os.environ,
            "DATABASE_URL": setup.url,
            "COMPLAINTDESK_NODE_ID": "200",
            "COMPLAINTDESK_NODE_LOCK_DIR": str(workdir / "locks"),
            "COMPLAINTDESK_DB_POOL_SIZE": "6",
            "COMPLAINTDESK_DB_MAX_OVERFLOW": "4",
            # One bench stands for many clients: the per-token and per-address limits
            # would refuse it long before the server is loaded.
            "COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE": "1000000",
            "COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE": "1000000",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> float:
        """Start and wait until it answers /readyz; the seconds it took."""
        started = time.monotonic()
        self.starts += 1
        out = (self.workdir / f"serve-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "complaintdesk"),
                "serve",
                "--workers",
                str(self.workers),
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one SIGKILL takes all
        )
        out.close()
        deadline = started + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}, see {out.name}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError("serve did not become ready in 180 s")

    def kill(self) -> None:
        """SIGKILL the whole process group: the supervisor and every worker at once."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        # Workers are reaped by init; wait until none holds the port any more.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


# --- The clients ------------------------------------------------------------------------


@dataclass
class ClientStats:
    sent: int = 0
    created: int = 0  # 201: made by this request
    replayed: int = 0  # 200: an earlier attempt with the same key had made it
    unacknowledged: int = 0  # sent, and then no answer (dropped in flight) or a 5xx: retried
    refused: int = 0  # no connection (the server was down): retried
    other: Counter[int] = field(default_factory=Counter)  # other 4xx (should be none)
    acked: dict[str, int] = field(default_factory=dict)  # key -> complaint id
    keys: list[str] = field(default_factory=list)  # every key sent
    pending: str | None = None


class Client(threading.Thread):
    def __init__(
        self, n: int, server: Server, setup: Setup, stop: threading.Event, seed: int
    ) -> None:
        super().__init__(name=f"client-{n}", daemon=True)
        self.server = server
        self.setup = setup
        self.token = setup.tokens[n]
        self.stop_event = stop
        self.rng = random.Random(seed)
        self.stats = ClientStats()
        self.bodies: dict[str, dict[str, object]] = {}
        self.draining = False

    def body(self, key: str) -> dict[str, object]:
        if key not in self.bodies:
            self.bodies[key] = {
                "project_id": str(self.setup.project_id),
                "owner_id": str(self.rng.choice(self.setup.owner_ids)),
                "channel": "phone",
                "text": self.rng.choice(TEXTS).format(m=f"[rel:{key}]"),
            }
        return self.bodies[key]

    def attempt(self, client: httpx.Client, key: str) -> bool:
        """One request for ``key``; whether it was acknowledged."""
        self.stats.sent += 1
        try:
            r = client.post(
                "/api/v1/complaints",
                json=self.body(key),
                headers={"Idempotency-Key": key, "Authorization": f"Bearer {self.token}"},
            )
        except httpx.ConnectError:
            self.stats.refused += 1
            time.sleep(0.3)
            return False
        except httpx.TransportError:
            self.stats.unacknowledged += 1
            return False
        if r.status_code in (200, 201):
            if r.status_code == 201:
                self.stats.created += 1
            else:
                self.stats.replayed += 1
            self.stats.acked[key] = int(r.json()["id"])
            return True
        if r.status_code >= 500:
            self.stats.unacknowledged += 1
            return False
        self.stats.other[r.status_code] += 1
        if r.status_code == 429:
            time.sleep(float(r.headers.get("Retry-After", "1")))
        return False

    def run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=15) as client:
            while not self.stop_event.is_set() or (self.draining and self.stats.pending):
                if self.stats.pending is None:
                    if self.stop_event.is_set():
                        break
                    self.stats.pending = uuid.uuid4().hex
                    self.stats.keys.append(self.stats.pending)
                if self.attempt(client, self.stats.pending):
                    self.stats.pending = None
                else:
                    time.sleep(0.1 + self.rng.random() * 0.2)

    def drain(self, server: Server, deadline: float) -> None:
        """After the last round: retry the last unacknowledged key until it is."""
        with httpx.Client(base_url=server.url, timeout=15) as client:
            while self.stats.pending is not None and time.monotonic() < deadline:
                if self.attempt(client, self.stats.pending):
                    self.stats.pending = None
                else:
                    time.sleep(0.2)


# --- PostgreSQL restart -------------------------------------------------------------------


def restart_postgresql(admin_url: str, lock: Path | None) -> float:
    """Restart the shared PostgreSQL once; the seconds until it accepts connections.
    With ``lock``, holds that file locked while doing so (on this machine the landing
    lock: no test run uses PostgreSQL meanwhile)."""
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    command = PG_RESTART.format(version=versions[-1])
    with contextlib.ExitStack() as held:
        if lock is not None:
            log(f"waiting for the lock {lock}")
            handle = held.enter_context(lock.open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.callback(fcntl.flock, handle, fcntl.LOCK_UN)
            log(f"holding the lock {lock}")
        return _restart(admin_url, command)


def _restart(admin_url: str, command: str) -> float:
    announce(f"reliability bench: restarting PostgreSQL now ({command}); back in seconds")
    started = time.monotonic()
    subprocess.run(command, shell=True, check=True)
    while True:
        try:
            with psycopg.connect(admin_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            break
        except psycopg.OperationalError:
            if time.monotonic() - started > 120:
                raise
            time.sleep(0.2)
    took = time.monotonic() - started
    announce(f"reliability bench: PostgreSQL restarted and accepting connections ({took:.1f} s)")
    return took


# --- The check ----------------------------------------------------------------------------


@dataclass
class Verdict:
    complaints: int
    acknowledged: int
    missing: list[str]
    wrong_id: list[str]
    duplicates: dict[str, int]
    unexpected: int

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_id or self.duplicates or self.unexpected)


def check(setup: Setup, clients: list[Client]) -> Verdict:
    acked: dict[str, int] = {}
    sent: set[str] = set()
    for c in clients:
        acked.update(c.stats.acked)
        sent.update(c.stats.keys)
    engine = make_engine(setup.url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, text FROM complaints")).all()
    engine.dispose()
    by_key: dict[str, list[int]] = {}
    unexpected = 0
    for complaint_id, body in rows:
        match = MARKER.search(body)
        if match is None or match.group(1) not in sent:
            unexpected += 1
            continue
        by_key.setdefault(match.group(1), []).append(int(complaint_id))
    return Verdict(
        complaints=len(rows),
        acknowledged=len(acked),
        missing=[k for k in acked if k not in by_key],
        wrong_id=[k for k, i in acked.items() if k in by_key and by_key[k] != [i]],
        duplicates={k: len(v) for k, v in by_key.items() if len(v) > 1},
        unexpected=unexpected,
    )


def server_settings(admin_url: str) -> str:
    names = ("shared_buffers", "max_connections", "synchronous_commit", "fsync")
    with psycopg.connect(admin_url) as conn:
        values = [f"{n}={conn.execute(f'SHOW {n}').fetchone()[0]}" for n in names]  # type: ignore[index]
    return ", ".join(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="SIGKILLs of the server")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="serve --workers")
    parser.add_argument(
        "--pg-restart",
        action="store_true",
        help="restart PostgreSQL once, halfway (run under flock /work/land.lock)",
    )
    parser.add_argument(
        "--lock",
        type=Path,
        default=None,
        help="a file to hold locked while PostgreSQL restarts (here /work/land.lock)",
    )
    parser.add_argument("--min-gap", type=float, default=1.0, help="seconds before a kill, min")
    parser.add_argument("--max-gap", type=float, default=6.0, help="seconds before a kill, max")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "COMPLAINTDESK_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    admin_url = make_url(args.pg_url).set(drivername="postgresql").render_as_string(False)
    started = time.monotonic()
    load_before = os.getloadavg()
    log(f"seed {seed}; PostgreSQL: {server_settings(admin_url)}; load {load_before[0]:.2f}")
    setup = make_database(admin_url, args.clients)
    log(f"database {setup.name}: {len(setup.owner_ids)} owners, {args.clients} agents")
    workdir = Path(tempfile.mkdtemp(prefix="trust-rel-"))
    server = Server(setup, free_port(), args.workers, workdir)
    stop = threading.Event()
    clients = [Client(n, server, setup, stop, rng.randrange(1 << 30)) for n in range(args.clients)]
    restarts: list[float] = []
    pg_round = args.rounds // 2 if args.pg_restart else -1
    pg_seconds = None
    try:
        restarts.append(server.start())
        for c in clients:
            c.start()
        for n in range(args.rounds):
            time.sleep(rng.uniform(args.min_gap, args.max_gap))
            if n == pg_round:
                pg_seconds = restart_postgresql(admin_url, args.lock)
                time.sleep(rng.uniform(args.min_gap, args.max_gap))
            acked = sum(len(c.stats.acked) for c in clients)
            server.kill()
            took = server.start()
            restarts.append(took)
            log(
                f"round {n + 1}/{args.rounds}: SIGKILL after {acked} acknowledged; "
                f"ready again in {took:.1f} s"
            )
        time.sleep(args.max_gap)
        stop.set()
        for c in clients:
            c.join(timeout=60)
        deadline = time.monotonic() + 120
        for c in clients:
            c.drain(server, deadline)
    finally:
        stop.set()
        server.stop()
    verdict = check(setup, clients)
    elapsed = time.monotonic() - started
    stats = [c.stats for c in clients]
    other: Counter[int] = Counter()
    for s in stats:
        other.update(s.other)
    pending = sum(1 for s in stats if s.pending is not None)
    load_after = os.getloadavg()
    print()
    print(
        f"rounds: {args.rounds} SIGKILLs of serve --workers {args.workers} (whole process group)"
        + (
            f", PostgreSQL restarted once ({pg_seconds:.1f} s to accept connections)"
            if pg_seconds is not None
            else ""
        )
    )
    print(
        f"clients: {args.clients} threads; requests sent {sum(s.sent for s in stats):,}: "
        f"created (201) {sum(s.created for s in stats):,}; replayed on retry (200) "
        f"{sum(s.replayed for s in stats):,}; lost in flight or 5xx, retried "
        f"{sum(s.unacknowledged for s in stats):,}; no connection (server down), retried "
        f"{sum(s.refused for s in stats):,}; other refusals {dict(other) or 0}"
    )
    print(
        f"keys: {sum(len(s.keys) for s in stats):,} sent, {verdict.acknowledged:,} acknowledged, "
        f"{pending} still unacknowledged at the end"
    )
    print(
        f"database: {verdict.complaints:,} complaints; acknowledged missing "
        f"{len(verdict.missing)}; with another id {len(verdict.wrong_id)}; duplicated keys "
        f"{len(verdict.duplicates)}; complaints from no key {verdict.unexpected}"
    )
    again = restarts[1:]
    print(
        f"server ready again after a SIGKILL: mean {sum(again) / max(1, len(again)):.1f} s, "
        f"max {max(again, default=0):.1f} s"
    )
    print(
        f"time {elapsed:.0f} s; load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f} ({os.cpu_count()} cores); seed {seed}"
    )
    print("RESULT:", "OK" if verdict.ok and not pending else "FAILED")
    if not args.keep:
        drop_database(admin_url, setup.name)
    return 0 if verdict.ok and not pending else 1


if __name__ == "__main__":
    sys.exit(main())
