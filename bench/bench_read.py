"""Reads through the HTTP API on PostgreSQL: hot queries, every list filter, search.

    .venv/bin/python bench/bench_read.py [--db postgresql://root@127.0.0.1:5432/read_1m]
        [--rows 20000] [--workers 2] [--requests 200] [--pg postgresql://…/postgres]

Without ``--db`` it makes a throw-away database and fills it with ``--rows``
complaints by ``complaintdesk generate`` (the bulk path); with ``--db`` it reads an
existing one (made by ``generate``; only a bench admin account and three tokens are
added to it). It then serves that database with ``complaintdesk serve --workers N``
(``--background``: with its sweeper and delivery; off by default, since the open
complaints of a generated history that waited have gone overdue and the sweeper's
first passes escalate tens of thousands of them) and asks, one request at a time on
one keep-alive connection, with real tokens of an agent, a supervisor and an
administrator of the company:

- the hot queries: the agent's queue (first page of 20), an owner's history and the
  project's overdue list (their first page of 20, the default, and of 100, the most
  ``limit`` allows; owner history asks other owners for each, so both read cold
  owners), one complaint's timeline, the list's first page and a deep page by cursor
  (70 % of the way back in history); the sweeper's due list is not an
  HTTP route and is timed through its service query (``escalation._claim_due``) in
  this process, set up as serve's supervisor runs it (its pool, a settled heap, one
  committed transaction a claim);
- the list as the administrator across the company with each single filter;
- search within a project, as its supervisor: one and two words in Chinese and in
  English, newest first ("the newest 20 matching a common phrase") and by relevance.

Beside them, in the same run and on the same server: a trivial authenticated GET
(``/api/v1/staff/me``: token, one staff row, JSON), measured before and after the
queries; each figure is printed with its ratio to that baseline, since this machine is
shared and loaded. p50/p95/p99 are over ``--requests`` requests after a warm-up.
Targets (issue 7, at 30M): hot p99 < 20 ms and <= 1.5x the 1M figure; any single
filter p99 < 100 ms; search p95 < 200 ms. ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from complaintdesk import serving
from complaintdesk.db.engine import make_engine, make_sessionmaker, unit_of_work
from complaintdesk.db.migrate import upgrade
from complaintdesk.db.models import ApiToken, Company, Staff
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.runtime import Runtime
from complaintdesk.services import accounts, escalation, org
from complaintdesk.settings import get_settings

BIN = Path(sys.executable).parent
ADMIN_USERNAME = "bench-read-admin"
OPEN = "('received', 'dispatched', 'in_progress', 'resolved', 'visited')"
SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "random_page_cost",
    "jit",
    "max_parallel_workers_per_gather",
)
SEARCHES = [
    # (name, q, words, language)
    ("zh 1 word common: 电梯", "电梯", 1, "zh"),
    ("zh 1 word: 漏水", "漏水", 1, "zh"),
    ("zh 2 words: 漏水 楼上", "漏水 楼上", 2, "zh"),
    ("zh 2 words: 电梯 困人", "电梯 困人", 2, "zh"),
    ("en 1 word common: water", "water", 1, "en"),
    ("en 1 word: noise", "noise", 1, "en"),
    ("en 2 words: water leak", "water leak", 2, "en"),
    ("en 2 words: air conditioning", "air conditioning", 2, "en"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Setup:
    url: str
    complaints: int
    months: int
    size: str
    company_id: int
    project_id: int
    tokens: dict[str, str]
    complaint_ids: list[int]
    owner_ids: list[int]
    deep_cursor: int
    week_two_years_ago: tuple[datetime, datetime]
    agent_id: int
    settings: dict[str, str] = field(default_factory=dict)


def prepare(url: str) -> Setup:
    """Tokens of an agent, a supervisor and an administrator of the company holding
    the newest complaint; samples of complaints and owners; the deep-page cursor."""
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    rng = random.Random(7)
    with unit_of_work(make_sessionmaker(engine)) as session:
        company_id = session.scalar(
            text("SELECT company_id FROM complaints ORDER BY id DESC LIMIT 1")
        )
        if company_id is None:
            raise SystemExit("the database holds no complaints: run complaintdesk generate")
        company = session.get(Company, company_id)
        assert company is not None
        admin = session.scalar(
            select(Staff).where(Staff.company_id == company_id, Staff.username == ADMIN_USERNAME)
        ) or org.create_staff(
            session, company, username=ADMIN_USERNAME, name="Bench admin",
            department=StaffDepartment.MANAGEMENT, role=Role.ADMIN,
        )  # fmt: skip
        agents = session.scalars(
            select(Staff)
            .where(Staff.company_id == company_id, Staff.role == Role.AGENT.value)
            .order_by(Staff.id)
        ).all()
        # The agent with the most open work (the open-work index: small at any size).
        busiest = session.execute(
            text(
                f"SELECT first_receiver_id FROM complaints WHERE status IN {OPEN} "
                "AND company_id = :c AND first_receiver_id = ANY(:ids) "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ),
            {"c": company_id, "ids": [a.id for a in agents]},
        ).scalar()
        agent = next(a for a in agents if a.id == busiest) if busiest else agents[0]
        project_id = session.scalar(
            text("SELECT project_id FROM staff_projects WHERE staff_id = :s LIMIT 1"),
            {"s": agent.id},
        )
        supervisor = session.scalars(
            select(Staff).where(
                Staff.company_id == company_id,
                Staff.role == Role.SUPERVISOR.value,
                Staff.id.in_(
                    text(
                        f"SELECT staff_id FROM staff_projects WHERE project_id = {int(project_id)}"
                    )
                ),
            )
        ).first()
        assert supervisor is not None
        # This bench's tokens of earlier runs are revoked first: a staff member holds
        # at most 20 at a time, and each run issues three.
        for earlier in session.scalars(
            select(ApiToken).where(
                ApiToken.staff_id.in_([agent.id, supervisor.id, admin.id]),
                ApiToken.name == "bench_read",
                ApiToken.revoked_at.is_(None),
            )
        ):
            accounts.revoke_token(session, None, earlier, now)
        tokens = {
            "agent": accounts.issue_token(session, agent, now, name="bench_read"),
            "supervisor": accounts.issue_token(session, supervisor, now, name="bench_read"),
            "admin": accounts.issue_token(session, admin, now, name="bench_read"),
        }
        agent_id = agent.id
    with engine.connect() as c:
        complaints = int(
            c.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'complaints'"))
            or 0
        )
        parts = c.scalar(
            text(
                "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid "
                "WHERE i.inhparent = 'complaints'::regclass AND p.reltuples > 0"
            )
        )
        if complaints <= 0:  # never analysed: count once
            complaints = int(c.scalar(text("SELECT count(*) FROM complaints")) or 0)
        size = str(c.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))")))
        low, high = c.execute(text("SELECT min(id), max(id) FROM complaints")).one()
        sample = list(
            c.execute(
                text(
                    "SELECT id, owner_id FROM complaints TABLESAMPLE SYSTEM (:pct) "
                    "WHERE company_id = :c LIMIT 4000"
                ),
                {"pct": min(100.0, max(0.02, 200_000 / max(complaints, 1))), "c": company_id},
            ).all()
        )
        settings = {s: str(c.scalar(text(f"SHOW {s}"))) for s in SETTINGS}
        newest = c.scalar(text("SELECT received_at FROM complaints ORDER BY id DESC LIMIT 1"))
    engine.dispose()
    rng.shuffle(sample)
    ids = [r[0] for r in sample][:1000]
    owners = list(dict.fromkeys(r[1] for r in sample if r[1] is not None))[:1000]
    two_years = newest - timedelta(days=730)
    return Setup(
        url=url, complaints=complaints, months=int(parts or 0), size=size,
        company_id=company_id, project_id=int(project_id), tokens=tokens,
        complaint_ids=ids, owner_ids=owners, deep_cursor=low + int((high - low) * 0.3),
        week_two_years_ago=(two_years, two_years + timedelta(days=7)),
        agent_id=agent_id, settings=settings,
    )  # fmt: skip


@dataclass
class Figures:
    name: str
    group: str
    latencies: list[float]
    errors: int
    rows: float  # items a page, on average
    note: str = ""

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, token: str) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        try:
            self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = self.conn.getresponse()
            body = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            status, body = 599, repr(exc).encode()
        return status, body, time.perf_counter() - t0


def _items(body: bytes) -> tuple[int, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return 0, ""
    if isinstance(data, list):
        return len(data), ""
    if isinstance(data, dict) and "items" in data:
        return len(data["items"]), str(data.get("searched_from") or "")
    return 1, ""


def measure(
    client: Client,
    name: str,
    group: str,
    paths: Callable[[int], str],
    token: str,
    requests: int,
    warmup: int,
    budget: float = 1e9,
) -> Figures:
    latencies: list[float] = []
    errors = 0
    rows = 0
    samples: list[str] = []
    searched: set[str] = set()
    deadline = time.monotonic() + budget
    for n in range(warmup + requests):
        if n >= warmup and latencies and time.monotonic() > deadline:
            break  # a slow query: fewer requests, said in the output
        status, body, seconds = client.get(paths(n), token)
        if n < warmup:
            deadline = time.monotonic() + budget
            continue
        if status == 200:
            latencies.append(seconds)
            count, since = _items(body)
            rows += count
            if since:
                searched.add(since[:10])
        else:
            errors += 1
            if len(samples) < 2:
                samples.append(f"{status} {body[:200].decode(errors='replace')}")
    note = "; ".join(samples)
    if len(latencies) + errors < requests:
        note = f"{len(latencies) + errors} requests (time budget)" + (f"; {note}" if note else "")
    if searched:
        note = f"looked back to {min(searched)}" + (f"; {note}" if note else "")
    return Figures(name, group, latencies, errors, rows / max(1, len(latencies)), note)


def sweeper_due(url: str, requests: int, warmup: int) -> Figures:
    """The sweeper's due list (up to 200 complaints locked SKIP LOCKED): its service
    query, the way ``serve`` runs it. The sweeper runs in serve's supervisor, whose
    heap is settled after start-up (``serving.start_jobs``), with the supervisor's
    pool, one transaction a claim, committed (as ``sweep`` does: here nothing is
    written but the row locks, and a ROLLBACK would make psycopg forget its prepared
    statements, which the product keeps). Timed in this process after the same
    settling."""
    settings = get_settings().model_copy(update={"database_url": url})
    runtime = Runtime.from_settings(settings, pool_size=serving.background_pool(settings))
    serving.settle_heap()
    latencies: list[float] = []
    rows = 0
    try:
        for n in range(warmup + requests):
            t0 = time.perf_counter()
            with unit_of_work(runtime.factory) as session:
                due = escalation._claim_due(session, datetime.now(UTC), 200)
            seconds = time.perf_counter() - t0
            if n >= warmup:
                latencies.append(seconds)
                rows += len(due)
    finally:
        gc.unfreeze()
        runtime.engine.dispose()
    return Figures(
        "sweeper due list (200, service)", "hot", latencies, 0, rows / max(1, requests),
        "in-process as serve's supervisor runs it, not HTTP",
    )  # fmt: skip


@contextmanager
def served(url: str, workers: int, log: Path, background: bool = False) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "COMPLAINTDESK_NODE_ID": str(random.randrange(300, 490)),
        "COMPLAINTDESK_NODE_LOCK_DIR": str(log.parent / "locks"),
        # One client on one address stands for many: lift the request limits.
        "COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE": "10000000",
        "COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE": "10000000",
        "COMPLAINTDESK_PERSONAL_LOOKUPS_PER_MINUTE": "10000000",
    }
    command = [
        str(BIN / "complaintdesk"), "serve", "--workers", str(workers), "--port", str(port),
        "--no-access-log", *([] if background else ["--no-workers"]),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
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
        time.sleep(3)  # the other worker finishes starting
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        if code != 0:
            print(f"  (server exited with {code}; log {log})")


def plan(setup: Setup) -> list[tuple[str, str, str, Callable[[int], str]]]:
    """(name, group, role, path of request n)."""
    ids, owners = setup.complaint_ids, setup.owner_ids
    p = setup.project_id
    api = "/api/v1"
    frm, to = (quote(t.isoformat()) for t in setup.week_two_years_ago)

    def fixed(path: str) -> Callable[[int], str]:
        return lambda _n: path

    hot: list[tuple[str, str, str, Callable[[int], str]]] = [
        ("agent queue (20)", "hot", "agent", fixed(f"{api}/complaints/queue?limit=20")),
        ("owner history (20)", "hot", "admin",
         lambda n: f"{api}/owners/{owners[n % len(owners)]}/complaints"),
        ("owner history (limit=100)", "hot", "admin",
         lambda n: f"{api}/owners/{owners[(n + 500) % len(owners)]}/complaints?limit=100"),
        ("project overdue list (20)", "hot", "supervisor", fixed(f"{api}/projects/{p}/overdue")),
        ("project overdue list (limit=100)", "hot", "supervisor",
         fixed(f"{api}/projects/{p}/overdue?limit=100")),
        ("timeline", "hot", "admin", lambda n: f"{api}/complaints/{ids[n % len(ids)]}/events"),
        ("list first page (20)", "hot", "admin", fixed(f"{api}/complaints?limit=20")),
        ("list deep page (20, cursor 70% back)", "hot", "admin",
         lambda n: f"{api}/complaints?limit=20&cursor={setup.deep_cursor - n}"),
    ]  # fmt: skip
    filters = [
        f"project_id={p}",
        "status=received",
        "status=in_progress",
        "status=closed",
        "status=withdrawn",
        "nature=consulting",
        "nature=help_seeking",
        "category=emergency",
        "urgency=critical",
        "department=finance",
        f"assignee_id={setup.agent_id}",
        f"first_receiver_id={setup.agent_id}",
        "owner_id={owner}",
        "open=true",
        "open=false",
        "overdue=true",
        "overdue=false",
        "needs_review=true",
        "repeat=true",
        "repeat=false",
        "risk=true",
        "risk=false",
        f"received_from={frm}",
        f"received_to={to}",
        f"received_from={frm}&received_to={to}",
    ]
    listed: list[tuple[str, str, str, Callable[[int], str]]] = []
    for f in filters:
        label = f.split("=")[0] + ("=" + f.split("=")[1] if not f.startswith("rec") else "")
        if f == f"received_from={frm}&received_to={to}":
            label = "one week two years ago"
        elif f.startswith("received_from"):
            label = "received_from (two years ago)"
        elif f.startswith("received_to"):
            label = "received_to (two years ago)"
        if f.startswith("owner_id"):
            listed.append((
                "owner_id", "filter", "admin",
                lambda n: f"{api}/complaints?limit=20&owner_id={owners[n % len(owners)]}",
            ))  # fmt: skip
            continue
        listed.append((label, "filter", "admin", fixed(f"{api}/complaints?limit=20&{f}")))
    searched: list[tuple[str, str, str, Callable[[int], str]]] = []
    for name, q, _words, _lang in SEARCHES:
        for sort in ("newest", "relevance"):
            searched.append((
                f"{name}, {sort}", "search", "supervisor",
                fixed(f"{api}/complaints?q={quote(q)}&project_id={p}&sort={sort}"),
            ))  # fmt: skip
    return hot + listed + searched


def report(rows: list[Figures], base: Figures) -> None:
    b50, b99 = base.pct(0.5), base.pct(0.99)
    print(
        f"{'query':44} {'rows':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'p50/base':>8} "
        f"{'p99/base':>8} {'err':>3}"
    )
    group = ""
    for f in rows:
        if f.group != group:
            group = f.group
            print(f"-- {group}")
        print(
            f"{f.name[:44]:44} {f.rows:5.0f} {f.pct(0.5):7.1f} {f.pct(0.95):7.1f} "
            f"{f.pct(0.99):7.1f} {f.pct(0.5) / b50:8.1f} {f.pct(0.99) / b99:8.1f} "
            f"{f.errors:3d}" + (f"  {f.note}" if f.note else "")
        )


def targets(rows: list[Figures]) -> None:
    print("targets (issue 7, at 30M; here at this database's size):")
    for group, label, q, limit in (
        ("hot", "hot p99 < 20 ms", 0.99, 20),
        ("filter", "single filter p99 < 100 ms", 0.99, 100),
        ("search", "search p95 < 200 ms", 0.95, 200),
    ):
        measured = [f for f in rows if f.group == group]
        if not measured:
            continue  # --only left none of this group
        worst = max(measured, key=lambda f: f.pct(q))
        print(
            f"  {label}: worst {worst.name} {worst.pct(q):.1f} ms "
            f"({'met' if worst.pct(q) < limit else 'NOT met'})"
        )
    print("  hot p99 <= 1.5x the 1M figure: compare the --json files of the 1M and this run")


def compare(rows: list[Figures], earlier: dict[str, object]) -> None:
    """Each query's p99 here against the same query's in an earlier (smaller) run."""
    figures = earlier["figures"]
    assert isinstance(figures, list)
    old = {f["name"]: f for f in figures}
    # Before owner history and the overdue list paged (20 by default), they showed up
    # to 100: the earlier figure compares with this run's limit=100.
    for name in ("owner history", "project overdue list"):
        if name in old:
            old.setdefault(f"{name} (limit=100)", old[name])
    print(
        f"p99 against {earlier['database']} ({earlier['complaints']:,} complaints); "
        "target for hot queries: <= 1.5x"
    )
    for f in rows:
        if f.name in old and old[f.name]["p99"]:
            ratio = f.pct(0.99) / old[f.name]["p99"]
            mark = "" if f.group != "hot" else ("  met" if ratio <= 1.5 else "  NOT met")
            print(
                f"  {f.name[:44]:44} {old[f.name]['p99']:7.1f} -> {f.pct(0.99):7.1f} ms  "
                f"{ratio:4.2f}x{mark}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="an existing database made by generate (not dropped)")
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=20_000, help="without --db: complaints")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="requests a query not counted (fills each "
        "worker's connections and their prepared statements)",
    )
    parser.add_argument("--progress", action="store_true", help="a line as each query ends")
    parser.add_argument(
        "--background",
        action="store_true",
        help="also run serve's sweeper and delivery "
        "(off by default: a generated history that waited has open complaints gone overdue "
        "meanwhile, and the sweeper's first passes escalate tens of thousands of them)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60,
        help="seconds a query may take in all (then fewer requests are counted)",
    )
    parser.add_argument("--only", help="only queries whose name contains this")
    parser.add_argument(
        "--group", choices=("hot", "filter", "search"), help="only the queries of this group"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--compare", type=Path, help="a --json file of a smaller run: print p99 ratios to it"
    )
    args = parser.parse_args()

    started = datetime.now(UTC)
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()} at start, "
        f"{started:%Y-%m-%d %H:%M} UTC"
    )
    throwaway = None
    if args.db:
        url = args.db
    else:
        throwaway = f"cd_bench_read_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(plain(args.pg), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{throwaway}"')
        url = make_url(plain(args.pg)).set(database=throwaway).render_as_string(False)
        t0 = time.monotonic()
        subprocess.run(
            [str(BIN / "complaintdesk"), "generate", "--rows", str(args.rows), "--years", "3"],
            env={**os.environ, "DATABASE_URL": url}, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("VACUUM ANALYZE")
        print(f"generated {args.rows:,} complaints in {time.monotonic() - t0:.0f} s")
    # A stopped run still stops its server and drops its throw-away database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="cd-bench-read-"))
    try:
        setup = prepare(url)
        print(
            f"database: {make_url(url).database}, {setup.complaints:,} complaints, "
            f"{setup.months} monthly partitions with rows, {setup.size}"
        )
        print("postgresql: " + ", ".join(f"{k}={v}" for k, v in setup.settings.items()))
        print(
            f"serve --workers {args.workers}, one client, {args.requests} requests a query "
            f"after {args.warmup} warm-up; times in ms"
        )
        queries = plan(setup)
        if args.only:
            queries = [q for q in queries if args.only in q[0]]
        if args.group:
            queries = [q for q in queries if q[1] == args.group]
        results: list[Figures] = []
        with served(url, args.workers, tmp / "serve.log", args.background) as port:
            client = Client(port)
            me = "/api/v1/staff/me"

            def base(label: str) -> Figures:
                return measure(
                    client, label, "baseline", lambda _n: me, setup.tokens["admin"],
                    args.requests, args.warmup,
                )  # fmt: skip

            before = base("baseline GET /staff/me (before)")
            for name, group, role, path in queries:
                results.append(
                    measure(
                        client, name, group, path, setup.tokens[role], args.requests,
                        args.warmup, args.budget,
                    )
                )  # fmt: skip
                if args.progress:
                    f = results[-1]
                    print(f"  ... {name}: p50 {f.pct(0.5):.1f} p99 {f.pct(0.99):.1f}", flush=True)
            after = base("baseline GET /staff/me (after)")
        if (not args.only or "sweeper" in args.only) and args.group in (None, "hot"):
            results.insert(6, sweeper_due(url, args.requests, args.warmup))
        baseline = Figures(
            "baseline GET /staff/me", "baseline", before.latencies + after.latencies,
            before.errors + after.errors, 1,
        )  # fmt: skip
        report([before, after, *results], baseline)
        targets(results)
        if args.compare:
            compare(results, json.loads(args.compare.read_text()))
        print(f"load average at end {os.getloadavg()}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "database": make_url(url).database,
                        "complaints": setup.complaints,
                        "size": setup.size,
                        "started": started.isoformat(),
                        "load_end": os.getloadavg(),
                        "settings": setup.settings,
                        "figures": [
                            {
                                "name": f.name, "group": f.group, "rows": f.rows,
                                "p50": f.pct(0.5), "p95": f.pct(0.95), "p99": f.pct(0.99),
                                "errors": f.errors, "note": f.note,
                            }
                            for f in [before, after, *results]
                        ],
                    },
                    ensure_ascii=False,
                    indent=1,
                )
            )  # fmt: skip
    finally:
        if throwaway:
            with psycopg.connect(plain(args.pg), autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{throwaway}" WITH (FORCE)')


if __name__ == "__main__":
    main()
