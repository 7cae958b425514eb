"""Create over HTTP on PostgreSQL, beside a bare one-INSERT FastAPI app, with delivery.

    .venv/bin/python bench/bench_create.py [--workers 2] [--clients 16] [--seconds 20]
        [--pg postgresql://root@127.0.0.1:5432/postgres] [--no-pre-ping] [--rounds 1]

Makes a throw-away database (migrated, one company, 400 owners in 100 units, four
agents with tokens), then serves, in turn and the same way (``--workers`` uvicorn
processes on a free port, access log off):

- the bare app (``bench/bare_app.py``): FastAPI, a pydantic body, one INSERT, commit;
- ``complaintdesk serve --workers N`` with its sweeper and delivery worker on (the
  log channel), creating complaints for random owners in both languages (texts from
  the classifier's generator; owners come back, so repeats and upgrades happen).

Each is driven by ``--clients`` threads, each with one keep-alive connection, for
``--seconds`` after a warm-up; the script prints creates/s, p50/p99 latency, errors
and the ratio to the bare app. For delivery, measured with intake running: the
messages sent per second in the same window and the most ever waiting; then every
message made so far is put back in the outbox at once while intake goes on for half
the time again, and the rate at which the supervisor's delivery worker gets through
them is its capacity, printed against the intake rate. It also prints the CPU a
create costs in this process by step, the CPU per request of each server's
processes (the workers' split by thread: the event loop and the others), of
PostgreSQL's backends and of the load generator during the counted
window (from /proc), and what classification costs per request
(``predict([text])`` on one text) against a batch. Everything runs on this machine,
load generator included: compare ratios, not absolute figures. Results belong in
docs/capacity.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import psycopg
from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import make_engine, make_sessionmaker, unit_of_work
from complaintdesk.db.migrate import upgrade
from complaintdesk.db.models import Outbox
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import accounts, org

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Setup:
    url: str
    project_id: int
    owner_ids: list[int]
    tokens: list[str]
    texts: list[str]


SERVER_SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "max_wal_size",
    "synchronous_commit",
    "wal_compression",
    "max_connections",
    "jit",
)


def server_settings(admin_url: str) -> str:
    """The PostgreSQL settings the run had (the production settings the README gives)."""
    plain = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(plain.render_as_string(hide_password=False)) as c:
        return ", ".join(
            f"{name} {c.execute(f'SHOW {name}').fetchone()[0]}"  # type: ignore[index]
            for name in SERVER_SETTINGS
        )


def make_database(admin_url: str) -> tuple[str, str]:
    name = f"cd_bench_{uuid.uuid4().hex[:10]}"
    plain = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name, plain.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    plain = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(url: str) -> Setup:
    from bare_app import CREATE_TABLE

    from complaintdesk.classify.generate import generate

    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    with unit_of_work(make_sessionmaker(engine)) as session:
        company = org.create_company(session, code="bench", name="Bench 物业")
        project = org.create_project(session, company, code="B1", name="基准花园")
        units = []
        for b in range(10):
            building = org.add_building(session, project, f"{b + 1}号楼")
            units += [org.add_unit(session, building, f"{b + 1}-{u + 1:02d}01") for u in range(10)]
        owners = [
            org.create_owner(
                session,
                company,
                name=f"业主{n}",
                phone=f"139{n:08d}",
                language="zh" if n % 3 else "en",
                unit_ids=[units[n % len(units)].id],
            )
            for n in range(400)
        ]
        tokens = []
        for n in range(4):
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
        session.execute(text(CREATE_TABLE))
        project_id = project.id
        owner_ids = [o.id for o in owners]
    engine.dispose()
    texts = [str(r["text"]) for r in generate(3000, seed=11)]
    return Setup(url, project_id, owner_ids, tokens, texts)


@dataclass
class Result:
    done: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def rate(self, seconds: float) -> float:
        return self.done / seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Window(Protocol):
    """What :func:`drive` reads when the counted window starts and ends."""

    def begin(self) -> None: ...

    def end(self) -> None: ...


def drive(
    port: int,
    clients: int,
    warmup: float,
    seconds: float,
    request: Callable[[random.Random], tuple[str, bytes, dict[str, str]]],
    cpu: Window | None = None,
) -> Result:
    """``clients`` threads, each on one keep-alive connection, post for ``warmup``
    seconds (not counted) then ``seconds``; ``cpu`` is read when the counted window
    starts and when it ends."""
    result = Result()
    lock = threading.Lock()
    start = time.monotonic() + warmup
    stop = start + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        done = errors = 0
        samples: list[str] = []
        while True:
            path, body, headers = request(rng)
            t0 = time.monotonic()
            if t0 >= stop:
                break
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 201
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok, payload = False, repr(exc).encode()
            t1 = time.monotonic()
            if t0 >= start:
                if ok:
                    done += 1
                    mine.append(t1 - t0)
                else:
                    errors += 1
                    if len(samples) < 3:
                        samples.append(payload[:300].decode(errors="replace"))
        conn.close()
        with lock:
            result.done += done
            result.errors += errors
            result.latencies += mine
            result.error_samples += samples

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    if cpu is not None:
        time.sleep(max(0.0, start - time.monotonic()))
        cpu.begin()
    for t in threads:
        t.join()
    if cpu is not None:
        cpu.end()
    return result


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process: its parent, its command name and the CPU seconds it has used
    (user + system, from /proc)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry)] = (
            int(fields[1]),
            name,
            (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS,
        )
    return found


class CpuWatch:
    """The CPU the server's processes (its supervisor and its workers), the
    PostgreSQL backends of the bench's database and this process (the load
    generator) use between :meth:`begin` and :meth:`end`, read from /proc (Linux)."""

    def __init__(self, server: int, database: str) -> None:
        self.server = server
        self.database = database
        self.used: dict[str, float] = {}
        self._start: dict[int, tuple[str, float]] = {}

    def _read(self) -> dict[int, tuple[str, float]]:
        processes = _processes()
        workers = {pid for pid, (parent, _, _) in processes.items() if parent == self.server}
        kinds: dict[int, tuple[str, float]] = {}
        for pid, (_, name, spent) in processes.items():
            if pid == self.server:
                kind = "server's main process"
            elif pid in workers:
                kind = "workers"
            elif pid == os.getpid():
                kind = "load generator"
            elif name == "postgres" and self._ours(pid):
                kind = "PostgreSQL"
            else:
                continue
            kinds[pid] = (kind, spent)
            if kind == "workers":
                # The workers' split by thread (keys: minus the thread's id): the event
                # loop (uvicorn, middleware, FastAPI, the answer) and the rest (the
                # thread pool running the requests' database work).
                for tid, used in _threads(pid).items():
                    loop = _LOOP if tid == pid else _THREADS
                    kinds[-tid] = (loop, used)
        return kinds

    def _ours(self, pid: int) -> bool:
        try:
            return self.database in Path(f"/proc/{pid}/cmdline").read_text()
        except OSError:
            return False

    def begin(self) -> None:
        self._start = self._read()

    def end(self) -> None:
        used: dict[str, float] = {}
        for pid, (kind, spent) in self._read().items():
            # A backend that started in the window counts from zero.
            used[kind] = used.get(kind, 0.0) + spent - self._start.get(pid, (kind, 0.0))[1]
        self.used = used

    def per_request(self, done: int) -> str:
        if not done or not self.used:
            return "n/a"
        order = ("workers", "server's main process", "PostgreSQL", "load generator")
        split = ""
        if _LOOP in self.used:
            split = (
                f" (event loop {self.used[_LOOP] / done * 1000:.2f}, "
                f"other threads {self.used.get(_THREADS, 0.0) / done * 1000:.2f})"
            )
        total = sum(v for k, v in self.used.items() if k in order)
        return (
            ", ".join(
                f"{kind} {self.used[kind] / done * 1000:.2f}" + (split if kind == "workers" else "")
                for kind in order
                if kind in self.used
            )
            + f"; total {total / done * 1000:.2f}"
        )


_LOOP, _THREADS = "workers' event loop", "workers' other threads"


def _threads(pid: int) -> dict[int, float]:
    """A process's threads and the CPU seconds each has used (user + system)."""
    found: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(tid)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return found


@contextmanager
def served(
    command: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not come up")
            time.sleep(0.5)
        time.sleep(3)  # the other workers finish starting
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        if code != 0:
            print(f"  (server exited with {code}; log {log})")


def count(factory: sessionmaker[Session], *where: Any) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Outbox).where(*where)) or 0


@contextmanager
def sampling(factory: sessionmaker[Session]) -> Iterator[list[int]]:
    """The most messages waiting at once, sampled every 0.5 s while the block runs."""
    most = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            most[0] = max(most[0], count(factory, Outbox.status != "sent"))

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield most
    finally:
        stop.set()
        thread.join()


def requeue(factory: sessionmaker[Session]) -> int:
    with unit_of_work(factory) as session:
        result = session.execute(
            update(Outbox).values(
                status="pending", sent_at=None, attempts=0, next_attempt_at=datetime.now(UTC)
            )
        )
        return cast(CursorResult[Any], result).rowcount


def wait_drained(factory: sessionmaker[Session], timeout: float) -> datetime:
    deadline = time.monotonic() + timeout
    while count(factory, Outbox.status != "sent") and time.monotonic() < deadline:
        time.sleep(0.1)
    return datetime.now(UTC)


def cpu_per_create(setup: Setup, n: int = 400) -> dict[str, float]:
    """CPU milliseconds (this process: Python, SQLAlchemy, psycopg; not the server's)
    per create through the service path in one thread, by step."""
    from complaintdesk.classify.base import default_classifier
    from complaintdesk.domain.taxonomy import Channel
    from complaintdesk.services import intake

    engine = make_engine(setup.url)
    factory = make_sessionmaker(engine)
    classifier = default_classifier()
    rng = random.Random(5)
    steps: dict[str, float] = {}

    def one() -> None:
        clock = time.process_time
        t0 = clock()
        with factory() as session:
            staff = accounts.authenticate(session, setup.tokens[0], datetime.now(UTC))
            assert staff is not None
            t1 = clock()
            words = rng.choice(setup.texts)
            prediction = classifier.predict([words])[0]
            t2 = clock()
            new = intake.NewComplaint(
                project_id=setup.project_id,
                owner_id=rng.choice(setup.owner_ids),
                text=words,
                channel=Channel.PHONE,
            )
            intake.register_once(
                session, staff, new, classifier, datetime.now(UTC), prediction=prediction
            )
            t3 = clock()
            session.commit()
        t4 = clock()
        for name, spent in (
            ("token and caller", t1 - t0),
            ("classify one text", t2 - t1),
            ("register (owner, repeat, rules, write)", t3 - t2),
            ("commit", t4 - t3),
            ("total", t4 - t0),
        ):
            steps[name] = steps.get(name, 0.0) + spent

    for _ in range(50):
        one()
    steps.clear()
    for _ in range(n):
        one()
    engine.dispose()
    return {name: spent / n * 1000 for name, spent in steps.items()}


def classification_cost(texts: list[str]) -> tuple[float, float]:
    """Microseconds per request for ``predict([text])``, and per text in one batch."""
    from complaintdesk.classify.base import default_classifier

    classifier = default_classifier()
    classifier.predict(texts[:50])
    sample = texts[:1000]
    t0 = time.perf_counter()
    for t in sample:
        classifier.predict([t])
    one = (time.perf_counter() - t0) / len(sample) * 1e6
    t0 = time.perf_counter()
    classifier.predict(sample)
    batch = (time.perf_counter() - t0) / len(sample) * 1e6
    return one, batch


Request = tuple[str, bytes, dict[str, str]]


def requests(setup: Setup) -> tuple[Callable[[random.Random], Request], ...]:
    """The two request makers a run drives: the bare app's one-INSERT POST and a
    complaint created through the API (random owner, text and token of ``setup``)."""

    def bare_request(rng: random.Random) -> Request:
        body = json.dumps({"text": rng.choice(setup.texts)}, ensure_ascii=False).encode()
        return "/items", body, {"Content-Type": "application/json"}

    def create_request(rng: random.Random) -> Request:
        body = {
            "project_id": str(setup.project_id),
            "owner_id": str(rng.choice(setup.owner_ids)),
            "text": rng.choice(setup.texts),
        }
        return (
            "/api/v1/complaints",
            json.dumps(body, ensure_ascii=False).encode(),
            {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {rng.choice(setup.tokens)}",
            },
        )

    return bare_request, create_request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-pre-ping", action="store_true")
    parser.add_argument("--deliver-interval", type=float, default=0.5)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()} at start")
    name, url = make_database(args.pg)
    tmp = Path(tempfile.mkdtemp(prefix="cd-bench-"))
    try:
        setup = populate(url)
        one, batch = classification_cost(setup.texts)
        print(
            f"classification: {one:.0f} µs per request (predict([text])), "
            f"{batch:.0f} µs per text in a batch of 1000"
        )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "COMPLAINTDESK_NODE_ID": str(random.randrange(100, 400)),
            "COMPLAINTDESK_NODE_LOCK_DIR": str(tmp / "locks"),
            "COMPLAINTDESK_DB_POOL_PRE_PING": "false" if args.no_pre_ping else "true",
            "COMPLAINTDESK_SWEEP_INTERVAL_SECONDS": "60",
            # One load generator on one address stands for many clients: lift the
            # per-address and per-token request limits (services/throttle) for the run.
            "COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE": "10000000",
            "COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE": "10000000",
            "COMPLAINTDESK_DELIVER_INTERVAL_SECONDS": str(args.deliver_interval),
        }
        settings = (
            f"{args.workers} workers, {args.clients} clients, {args.seconds:.0f} s, "
            f"pool {env.get('COMPLAINTDESK_DB_POOL_SIZE', '10')}"
            f"+{env.get('COMPLAINTDESK_DB_MAX_OVERFLOW', '5')}, "
            f"pre-ping {'off' if args.no_pre_ping else 'on'}"
        )
        print(f"settings: {settings}")
        print(f"PostgreSQL: {server_settings(args.pg)}")
        cpu = cpu_per_create(setup)
        print(
            "CPU per create in one thread (ms): "
            + ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items())
        )

        bare_request, create_request = requests(setup)

        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        ratios = []
        for r in range(args.rounds):
            port = free_port()
            bare_cmd = [
                str(BIN / "uvicorn"), "bare_app:bare_app", "--factory", "--app-dir", str(BENCH),
                "--workers", str(args.workers), "--no-access-log", "--log-level", "warning",
                "--timeout-worker-healthcheck", "30",
                "--port", str(port),
            ]  # fmt: skip
            with served(bare_cmd, env, port, tmp / f"bare-{r}.log") as server:
                bare_cpu = CpuWatch(server.pid, name)
                bare = drive(port, args.clients, args.warmup, args.seconds, bare_request, bare_cpu)
            port = free_port()
            serve_cmd = [
                str(BIN / "complaintdesk"), "serve", "--workers", str(args.workers),
                "--port", str(port),
            ]  # fmt: skip
            with served(serve_cmd, env, port, tmp / f"serve-{r}.log") as server:
                # Intake with delivery running beside it: does the backlog stay small?
                cd_cpu = CpuWatch(server.pid, name)
                with sampling(factory) as most_pending:
                    cd = drive(
                        port, args.clients, args.warmup, args.seconds, create_request, cd_cpu
                    )
                window_end = datetime.now(UTC)
                window_start = datetime.fromtimestamp(window_end.timestamp() - args.seconds, UTC)
                sent = count(factory, Outbox.sent_at >= window_start, Outbox.sent_at <= window_end)
                backlog = count(factory, Outbox.status != "sent")
                # Delivery's capacity with intake still running: every message made so
                # far is put back in the outbox at once, and intake goes on; how fast
                # does the worker get through them?
                requeued = requeue(factory)
                t0 = datetime.now(UTC)
                again = drive(port, args.clients, 0, args.seconds / 2, create_request)
                finished = wait_drained(factory, 120)
                capacity = count(factory, Outbox.sent_at >= t0) / (finished - t0).total_seconds()
            bare_rate, cd_rate = bare.rate(args.seconds), cd.rate(args.seconds)
            delivery_rate = (sent or 0) / args.seconds
            ratio = cd_rate / bare_rate if bare_rate else float("nan")
            ratios.append(ratio)
            print(f"round {r + 1}:")
            print(
                f"  bare one-INSERT app : {bare_rate:7.0f} req/s  p50 {bare.pct(0.5):6.1f} ms  "
                f"p99 {bare.pct(0.99):6.1f} ms  errors {bare.errors}"
            )
            print(
                f"  ComplaintDesk create: {cd_rate:7.0f} req/s  p50 {cd.pct(0.5):6.1f} ms  "
                f"p99 {cd.pct(0.99):6.1f} ms  errors {cd.errors}"
            )
            print(f"  CPU per request by process (ms): bare {bare_cpu.per_request(bare.done)}")
            print(
                f"  CPU per create by process (ms): ComplaintDesk {cd_cpu.per_request(cd.done)} "
                "(its main process runs the sweeper and delivery)"
            )
            for sample in cd.error_samples + bare.error_samples:
                print(f"    error: {sample}")
            print(
                f"  ratio to bare: {ratio:.2f} (target >= 0.40); "
                f"target 1,000/s: {cd_rate / 1000:.2f}x; p99 target 25 ms"
            )
            print(
                f"  delivery beside intake: {delivery_rate:.0f} messages/s sent while intake made "
                f"{cd_rate:.0f} creates/s; at most {most_pending[0]} waiting, {backlog} at the end"
            )
            print(
                f"  delivery capacity with intake running ({again.rate(args.seconds / 2):.0f} "
                f"creates/s): {requeued} requeued + new drained at {capacity:.0f} messages/s "
                f"= {capacity / cd_rate if cd_rate else 0:.1f}x the intake rate"
            )
        if args.rounds > 1:
            print(f"median ratio over {args.rounds} rounds: {statistics.median(ratios):.2f}")
        engine.dispose()
    finally:
        drop_database(args.pg, name)
        print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    main()
