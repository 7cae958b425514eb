"""The hot reads' CPU in process: what a request costs this process, not the wall time.

    .venv/bin/python bench/profile_read.py --db postgresql://root@127.0.0.1:5432/read_1m
        [--requests 300] [--warmup 30] [--only overdue] [--profile 25]
        [--answers answers.json] [--check answers.json]

Serves the database in this process (the app ``serve`` runs, through FastAPI's
TestClient: no socket, no worker processes) and asks the hot reads of
``bench/bench_read.py`` (its ``prepare`` and ``plan``: the same tokens and paths),
one request at a time. For each request it takes the CPU time of this process
(``time.process_time``: the handler's thread, the event loop and the test client
together; PostgreSQL's own CPU is not in it) and the wall time, and counts the
statements sent. CPU time is what a change of the Python path changes, and it hardly
moves when the machine is loaded (other processes take the cores, not this
process's CPU seconds), so it can be compared on a busy machine where a p99 of wall
time cannot; the baseline (``/api/v1/staff/me``) is measured beside them.

``--served``: instead, serves the database with ``complaintdesk serve --workers 1``
(``bench_read.served``) and asks over HTTP as ``bench_read.py`` does; the CPU a
request costs is then the server's (its process and its children, from
``/proc/PID/stat``: uvicorn, FastAPI and the handler, as in production; the client's
not counted), taken over all the requests of a read, so a mean.

``--profile N``: then runs each read again under cProfile and prints its N costliest
functions (cumulative). ``--answers FILE``: writes each read's answer (the JSON of
its first ``--keep`` requests, as digests, with the clock fixed at the run's start,
or at ``--now``, and the complaints and owners asked for); ``--check FILE``: asks
for the same complaints and owners at the same moment as that earlier run did and
compares the answers, failing on a difference: the answers before and after a
change, byte for byte (the same database, nothing written to it in between).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

# Before the app reads its settings: this process asks far more than a person would.
os.environ.setdefault("COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE", "10000000")
os.environ.setdefault("COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE", "10000000")
os.environ.setdefault("COMPLAINTDESK_PERSONAL_LOOKUPS_PER_MINUTE", "10000000")

from fastapi.testclient import TestClient
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))
from bench_read import Client, plan, prepare, served

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.web.app import create_app


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def tree_cpu(root: int) -> float:
    """Seconds of CPU (user and system) of every process below ``root`` (not its own)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = int(fields[11]) + int(fields[12])
    total = 0
    for pid, spent in times.items():
        if pid == root:
            continue
        up = pid
        while up not in (0, 1, root) and up in parents:
            up = parents[up]
        if up == root:
            total += spent
    return total / ticks


def measure_served(args: argparse.Namespace, reads: list[Read], tokens: dict[str, str]) -> None:
    """Each read over HTTP against ``complaintdesk serve --workers 1``: the server's
    CPU a request (a mean over ``--requests``), the client's wall time."""
    with served(args.db, 1, Path("/tmp/profile_read_serve.log")) as port:
        client = Client(port)
        for name, _group, role, path_of in reads:
            for n in range(args.warmup):
                code, _body, _s = client.get(path_of(n), tokens[role])
                assert code == 200, (name, code)
            wall = []
            before = tree_cpu(os.getpid())
            for n in range(args.requests):
                code, _body, seconds = client.get(path_of(n), tokens[role])
                assert code == 200, (name, code)
                wall.append(seconds * 1000)
            cpu = (tree_cpu(os.getpid()) - before) * 1000 / args.requests
            print(
                f"{name:40} {cpu:8.2f} {statistics.median(wall):9.2f} {pct(wall, 0.99):6.2f}",
                flush=True,
            )


Read = tuple[str, str, str, Callable[[int], str]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a database made by generate")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--only", help="only reads whose name contains this")
    parser.add_argument("--profile", type=int, default=0, help="cProfile: top N functions")
    parser.add_argument("--now", help="the app's clock (ISO 8601, UTC); default: now")
    parser.add_argument("--answers", type=Path, help="write the answers' digests here")
    parser.add_argument("--check", type=Path, help="compare the answers with this file")
    parser.add_argument("--keep", type=int, default=20, help="requests a read kept for answers")
    parser.add_argument("--served", action="store_true", help="the server's CPU over HTTP")
    args = parser.parse_args()

    setup = prepare(args.db)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if args.check:  # the same complaints and owners as the earlier run asked for
        earlier_run = json.loads(args.check.read_text())
        now = datetime.fromisoformat(earlier_run["now"])
        setup.complaint_ids = earlier_run["complaint_ids"]
        setup.owner_ids = earlier_run["owner_ids"]
        setup.deep_cursor = earlier_run["deep_cursor"]
    engine = make_engine(args.db)
    app = create_app(make_sessionmaker(engine), classifier=KeywordClassifier(), clock=lambda: now)
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)

    def baseline(_n: int) -> str:
        return "/api/v1/staff/me"

    reads: list[Read] = [("baseline /staff/me", "hot", "admin", baseline)]
    reads += [r for r in plan(setup) if r[1] == "hot"]
    if args.only:
        reads = [r for r in reads if args.only in r[0] or r[0].startswith("baseline")]
    answers: dict[str, list[str]] = {}
    print(
        f"{args.db.rsplit('/', 1)[-1]}: {setup.complaints:,} complaints, now {now.isoformat()}, "
        f"load {os.getloadavg()[0]:.1f}, nice {os.nice(0)}"
    )
    if args.served:
        print(f"{'read (server CPU a request, mean)':40} {'CPU ms':>8} {'wall p50':>9} {'p99':>6}")
        measure_served(args, reads, setup.tokens)
        return
    print(f"{'read':40} {'CPU p50':>8} {'mean':>6} {'p95':>6} {'wall p50':>9} {'p99':>6} stmts")
    gc.collect()
    gc.freeze()  # as serve does after start-up: the heap of imports is not scanned
    with TestClient(app) as client:
        for name, _group, role, path_of in reads:
            headers = {"Authorization": f"Bearer {setup.tokens[role]}"}
            for n in range(args.warmup):
                r = client.get(path_of(n), headers=headers)
                assert r.status_code == 200, (name, r.status_code, r.text[:200])
            cpu, wall, counts = [], [], []
            for n in range(args.requests):
                path = path_of(n)
                s0, c0, w0 = statements[0], time.process_time(), time.perf_counter()
                r = client.get(path, headers=headers)
                wall.append((time.perf_counter() - w0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                counts.append(statements[0] - s0)
                assert r.status_code == 200, (name, r.status_code)
                if n < args.keep:
                    answers.setdefault(name, []).append(
                        path + " " + hashlib.sha256(r.content).hexdigest()
                    )
            print(
                f"{name:40} {statistics.median(cpu):8.2f} {statistics.mean(cpu):6.2f} "
                f"{pct(cpu, 0.95):6.2f} {statistics.median(wall):9.2f} {pct(wall, 0.99):6.2f} "
                f"{statistics.median(counts):5.0f}"
            )
        if args.profile:
            for name, _group, role, path_of in reads:
                headers = {"Authorization": f"Bearer {setup.tokens[role]}"}
                profile = cProfile.Profile()
                profile.enable()
                for n in range(args.requests):
                    client.get(path_of(n), headers=headers)
                profile.disable()
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.profile)
                print(f"--- {name}, {args.requests} requests\n{out.getvalue()}")
    if args.answers:
        kept = {
            "now": now.isoformat(),
            "complaint_ids": setup.complaint_ids,
            "owner_ids": setup.owner_ids,
            "deep_cursor": setup.deep_cursor,
            "answers": answers,
        }
        args.answers.write_text(json.dumps(kept, indent=1))
    if args.check:
        earlier = json.loads(args.check.read_text())["answers"]
        differ = [k for k in answers if k in earlier and earlier[k] != answers[k]]
        same = [k for k in answers if k in earlier and earlier[k] == answers[k]]
        print(f"answers: {len(same)} reads identical, {len(differ)} differ {differ}")
        if differ:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
