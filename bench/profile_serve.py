"""Where the serving processes' CPU goes over HTTP, by thread, at a few levels of
concurrency: what bench_create.py's "workers (event loop / other threads)" are made of.

    .venv/bin/python bench/profile_serve.py [--workers 2] [--clients 1,16] [--seconds 6]
        [--bare] [--perf] [--py-spy PATH]

On a throw-away database set up as ``bench_create.py`` sets it up, ``_create`` is
first called directly in this process's one thread (no HTTP, no event loop: the
figure the served runs are compared with); then ``complaintdesk serve --workers N``
(as bench_create serves it: sweeper and delivery in the supervisor, the JSON access
log on, to a file) is driven by ``--clients`` keep-alive client threads for
``--seconds`` at each level, one level after the other on the same server; with
``--bare``, ``bench/bare_app.py`` the same way. For each run, per create: the
workers' CPU by thread (the event loop's, the pool's; exact, from schedstat), their
system CPU and context switches, the supervisor's, PostgreSQL's backends' and the
load generator's CPU.

``--perf``: the workers are sampled by ``perf record`` (software clock, 499 Hz)
during each run, and the samples are shown by shared object (the interpreter, the
kernel, psycopg's and uvloop's extensions, …) and by the kernel's and libpython's
hottest symbols. ``--py-spy PATH``: ``py-spy record`` of the workers, idle threads
left out, each run's stacks summed by function (own samples) and by the first
ComplaintDesk, SQLAlchemy, psycopg, FastAPI, Starlette, uvicorn or anyio frame.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_create import (  # noqa: E402
    BIN,
    Setup,
    drive,
    drop_database,
    free_port,
    make_database,
    populate,
    requests,
    served,
)

_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
            found.append(int(entry))
    return found


def _task(pid: int, tid: int) -> tuple[int, int, int, int] | None:
    """A thread's CPU (ns, schedstat), system CPU (ns, ticks), voluntary and
    involuntary context switches."""
    base = f"/proc/{pid}/task/{tid}"
    try:
        cpu = int(Path(f"{base}/schedstat").read_text().split()[0])
        stat = Path(f"{base}/stat").read_text()
        status = Path(f"{base}/status").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    switches = dict(line.split(":\t") for line in status.splitlines() if "ctxt" in line)
    return (
        cpu,
        int(fields[12]) * _TICK_NS,
        int(switches["voluntary_ctxt_switches"]),
        int(switches["nonvoluntary_ctxt_switches"]),
    )


def _process_cpu(pid: int) -> int:
    try:
        return sum(int(line.split()[0]) for line in _schedstats(pid))
    except OSError:
        return 0


def _schedstats(pid: int) -> list[str]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            out.append(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text())
    return out


def _backends(database: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if database in Path(f"/proc/{entry}/cmdline").read_text():
                found.append(int(entry))
        except OSError:
            continue
    return found


class Split:
    """CPU by kind between :meth:`begin` and :meth:`end`: the server's workers by
    thread (loop, pool), the supervisor, PostgreSQL's backends, this process."""

    def __init__(self, server: int, database: str) -> None:
        self.server = server
        self.database = database

    def _read(self) -> dict[tuple[str, int], tuple[int, int, int, int]]:
        out: dict[tuple[str, int], tuple[int, int, int, int]] = {}
        for worker in _children(self.server):
            for tid in os.listdir(f"/proc/{worker}/task"):
                got = _task(worker, int(tid))
                if got is not None:
                    out[("loop" if int(tid) == worker else "pool", int(tid))] = got
        out[("supervisor", self.server)] = (_process_cpu(self.server), 0, 0, 0)
        for pid in _backends(self.database):
            out[("PostgreSQL", pid)] = (_process_cpu(pid), 0, 0, 0)
        # This process from its own stat (clock ticks): it counts threads that have
        # ended (the clients end before the window's end is read), schedstat does not.
        stat = Path("/proc/self/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        mine = (int(fields[11]) + int(fields[12])) * _TICK_NS
        out[("load generator", os.getpid())] = (mine, 0, 0, 0)
        return out

    def begin(self) -> None:
        self._start = self._read()

    def end(self) -> None:
        self.used: dict[str, list[int]] = {}
        for key, now in self._read().items():
            before = self._start.get(key, (0, 0, 0, 0))
            sums = self.used.setdefault(key[0], [0, 0, 0, 0])
            for i in range(4):
                sums[i] += now[i] - before[i]

    def per_create(self, n: int) -> dict[str, float]:
        u = self.used
        out = {}
        for kind in ("loop", "pool"):
            cpu, sys_, vcs, ics = u.get(kind, [0, 0, 0, 0])
            out[f"{kind} µs"] = cpu / n / 1000
            out[f"{kind} sys µs"] = sys_ / n / 1000
            out[f"{kind} switches"] = (vcs + ics) / n
        for kind in ("supervisor", "PostgreSQL", "load generator"):
            out[f"{kind} µs"] = u.get(kind, [0])[0] / n / 1000
        return out


def direct_create(setup: Setup, n: int) -> float:
    """Client CPU µs a create of ``_create`` called in this thread."""
    from fastapi.security import HTTPAuthorizationCredentials

    from complaintdesk.classify.base import default_classifier
    from complaintdesk.db.engine import make_engine, make_sessionmaker
    from complaintdesk.services.throttle import Throttle
    from complaintdesk.web.api import complaints
    from complaintdesk.web.api.schemas import ComplaintCreate

    engine = make_engine(setup.url, pool_size=1, max_overflow=0)
    factory = make_sessionmaker(engine)
    classifier = default_classifier()
    throttle = Throttle()
    rng = random.Random(7)

    def run(count: int) -> None:
        for _ in range(count):
            body = ComplaintCreate.model_validate(
                {
                    "project_id": str(setup.project_id),
                    "owner_id": str(rng.choice(setup.owner_ids)),
                    "text": rng.choice(setup.texts),
                }
            )
            credentials = HTTPAuthorizationCredentials(
                scheme="Bearer", credentials=rng.choice(setup.tokens)
            )
            with factory() as session:
                response = complaints._create(
                    session, credentials, throttle, datetime.now(UTC), classifier, body, None
                )
            assert response.status_code == 201

    run(100)
    t0 = time.thread_time_ns()
    run(n)
    spent = time.thread_time_ns() - t0
    engine.dispose()
    return spent / n / 1000


class Sampler:
    """perf or py-spy over the workers while a run is counted."""

    def __init__(self, kind: str | None, py_spy: str | None, out: Path) -> None:
        self.kind = kind
        self.py_spy = py_spy
        self.out = out
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[Path] = []

    def begin(self, pids: list[int], name: str, seconds: float) -> None:
        commands = []
        self.files = []
        if self.kind == "perf":
            self.files = [self.out / f"{name}.perf"]
            commands.append(
                ["perf", "record", "-F", "499", "-e", "cpu-clock", "-o", str(self.files[0]),
                 "-p", ",".join(map(str, pids)), "--", "sleep", str(seconds)]
            )  # fmt: skip
        elif self.kind == "py-spy":
            assert self.py_spy is not None
            for pid in pids:
                self.files.append(self.out / f"{name}-{pid}.spy")
                commands.append(
                    [self.py_spy, "record", "--nonblocking", "--rate", "200", "--format", "raw",
                     "--duration", str(int(seconds)), "--output", str(self.files[-1]),
                     "--pid", str(pid)]
                )  # fmt: skip
        self.procs = [
            subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for c in commands
        ]

    def end(self) -> list[str]:
        for proc in self.procs:
            proc.wait(timeout=120)
        self.procs = []
        if self.kind == "perf":
            return perf_summary(self.files[0])
        if self.kind == "py-spy":
            return spy_summary(self.files)
        return []


def perf_summary(path: Path) -> list[str]:
    lines = []
    for sort in ("dso", "dso,sym"):
        report = subprocess.run(
            ["perf", "report", "-i", str(path), "--sort", sort, "--stdio",
             "--percent-limit", "1.5"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        lines += [f"    {line}" for line in report.splitlines() if line and line[0] != "#"]
    return lines


_LAYERS = (
    ("complaintdesk/", "ComplaintDesk"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("psycopg/", "psycopg"),
    ("fastapi/", "FastAPI"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn"),
    ("anyio/", "anyio"),
    ("pydantic", "pydantic"),
    ("logging/", "logging"),
    ("prometheus_client/", "prometheus"),
    ("threading.py", "threading"),
    ("asyncio/", "asyncio"),
)


def spy_summary(paths: list[Path]) -> list[str]:
    own: Counter[str] = Counter()
    entry: Counter[str] = Counter()
    total = 0
    lines_in = [line for p in paths if p.exists() for line in p.read_text().splitlines()]
    for line in lines_in:
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        # The innermost library layer the sample is in: who the time is spent for.
        layer = "other"
        for frame in reversed(frames):
            hit = next((name for key, name in _LAYERS if key in frame), None)
            if hit is not None:
                layer = hit
                break
        entry[layer] += n
    if not total:
        return ["    (no samples)"]
    lines = [
        "    by innermost layer: "
        + ", ".join(f"{k} {v / total:.0%}" for k, v in entry.most_common())
    ]
    lines += [f"    {v / total:6.1%}  {k}" for k, v in own.most_common(25)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--direct", type=int, default=400, help="direct creates (0: none)")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--perf", action="store_true")
    parser.add_argument("--py-spy")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args()
    if args.workers < 2:
        parser.error("--workers 2 or more: one serve process also runs the sweeper and delivery")
    levels = [int(c) for c in args.clients.split(",")]
    load = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, load average {load[0]:.1f} on "
        f"{os.cpu_count()} cores; {args.workers} workers, clients {levels}, {args.seconds} s"
    )
    name, url = make_database(args.pg)
    tmp = Path(tempfile.mkdtemp(prefix="cd-profile-serve-"))
    sampler = Sampler("perf" if args.perf else "py-spy" if args.py_spy else None, args.py_spy, tmp)
    os.environ["COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE"] = "10000000"
    os.environ["COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE"] = "10000000"
    try:
        setup = populate(url)
        if args.direct:
            print(
                f"direct _create in one thread: {direct_create(setup, args.direct):.0f} µs a create"
            )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "COMPLAINTDESK_NODE_ID": str(random.randrange(100, 400)),
            "COMPLAINTDESK_NODE_LOCK_DIR": str(tmp / "locks"),
            "COMPLAINTDESK_SWEEP_INTERVAL_SECONDS": "60",
            "COMPLAINTDESK_DELIVER_INTERVAL_SECONDS": "0.5",
        }

        bare_request, create_request = requests(setup)

        servers: list[tuple[str, list[str], Any]] = []
        if args.bare:
            servers.append(
                (
                    "bare",
                    [str(BIN / "uvicorn"), "bare_app:bare_app", "--factory", "--app-dir",
                     str(BENCH), "--workers", str(args.workers), "--no-access-log",
                     "--log-level", "warning", "--timeout-worker-healthcheck", "30"],
                    bare_request,
                )
            )  # fmt: skip
        serve = [str(BIN / "complaintdesk"), "serve", "--workers", str(args.workers)]
        if args.no_access_log:
            serve.append("--no-access-log")
        servers.append(("ComplaintDesk", serve, create_request))
        for label, command, request in servers:
            port = free_port()
            with served([*command, "--port", str(port)], env, port, tmp / f"{label}.log") as proc:
                for clients in levels:
                    split = Split(proc.pid, name)
                    watch = _Watch(split, sampler, f"{label}-{clients}", args.seconds)
                    result = drive(port, clients, 2, args.seconds, request, watch)
                    n = result.done
                    f = split.per_create(n)
                    print(
                        f"{label}, {clients} clients: {n / args.seconds:.0f}/s, "
                        f"p50 {result.pct(0.5):.1f} ms, p99 {result.pct(0.99):.1f} ms, "
                        f"errors {result.errors}; µs a request: workers' loop "
                        f"{f['loop µs']:.0f} (sys {f['loop sys µs']:.0f}, "
                        f"{f['loop switches']:.1f} switches), pool {f['pool µs']:.0f} "
                        f"(sys {f['pool sys µs']:.0f}, {f['pool switches']:.1f} switches), "
                        f"supervisor {f['supervisor µs']:.0f}, PostgreSQL "
                        f"{f['PostgreSQL µs']:.0f}, load generator {f['load generator µs']:.0f}"
                    )
                    for line in watch.summary:
                        print(line)
    finally:
        drop_database(args.pg, name)
        print(f"load average at end {os.getloadavg()[0]:.1f}")


class _Watch:
    """drive()'s ``cpu`` hook: the split and the sampler over the counted window."""

    def __init__(self, split: Split, sampler: Sampler, name: str, seconds: float) -> None:
        self.split = split
        self.sampler = sampler
        self.name = name
        self.seconds = seconds
        self.summary: list[str] = []

    def begin(self) -> None:
        self.split.begin()
        workers = _children(self.split.server)
        self.sampler.begin(workers, self.name, self.seconds)

    def end(self) -> None:
        self.split.end()
        self.summary = self.sampler.end()


if __name__ == "__main__":
    main()
