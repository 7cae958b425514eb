"""A create's CPU through the whole ASGI app in process, by thread: the event loop
(middleware, FastAPI, the session dependency, the answer) and the thread pool (the
route's ``_create``), against ``_create`` called directly in one thread.

    .venv/bin/python bench/profile_asgi.py [--creates 800] [--concurrency 1,8]
        [--no-access-log] [--rounds 2]

On a throw-away database set up as ``bench_create.py`` sets it up, the app
``serve`` builds (``create_app`` with the coalescing classifier, the JSON access log
on and written to a file, as ``serve``'s is when its output goes to a file) is called
under uvloop with ``POST /api/v1/complaints`` scopes, N requests in flight at once
(no sockets, no HTTP parsing: uvicorn's httptools part is not in these figures). For
each mode, after 100 requests of warm-up: CPU microseconds a create of this process
by thread (the event loop's thread, the pool's threads; user and system time), the
context switches a create, and the PostgreSQL backends' CPU. The modes alternate
(``--rounds``), so that each is measured in the same minutes as the others.

"direct" is ``_create`` in the main thread with no event loop (profile_create.py's
path, without its per-step wrapping): the thread pool's figure in the ASGI modes
minus this is what running in the pool adds; the loop's figure is the edge.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_create import drop_database, make_database, populate, requests  # noqa: E402

_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


_STATS = ("cpu", "sys", "vcs", "ics")


def _thread_stats() -> dict[int, tuple[int, int, int, int]]:
    """This process's threads: CPU (ns, from schedstat: exact), system CPU (ns, from
    stat: in clock ticks), voluntary and involuntary context switches."""
    found: dict[int, tuple[int, int, int, int]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            schedstat = Path(f"/proc/self/task/{tid}/schedstat").read_text()
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
            status = Path(f"/proc/self/task/{tid}/status").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        switches = {
            k: int(v)
            for k, v in (line.split(":\t") for line in status.splitlines() if "ctxt" in line)
        }
        found[int(tid)] = (
            int(schedstat.split()[0]),
            int(fields[12]) * _TICK_NS,
            switches["voluntary_ctxt_switches"],
            switches["nonvoluntary_ctxt_switches"],
        )
    return found


def _backend_ns(database: str) -> int:
    """CPU (ns) used so far by the PostgreSQL backends of ``database``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if database not in Path(f"/proc/{entry}/cmdline").read_text():
                continue
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if "(postgres)" not in stat:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) * _TICK_NS
    return total


class Window:
    """CPU by thread kind between :meth:`begin` and :meth:`end`."""

    def __init__(self, main_tid: int, database: str) -> None:
        self.main_tid = main_tid
        self.database = database

    def begin(self) -> None:
        self._threads = _thread_stats()
        self._backend = _backend_ns(self.database)
        self._wall = time.perf_counter()

    def end(self, n: int) -> dict[str, float]:
        threads = _thread_stats()
        backend = _backend_ns(self.database) - self._backend
        wall = time.perf_counter() - self._wall
        out: dict[str, float] = {}
        for tid, now in threads.items():
            before = self._threads.get(tid, (0, 0, 0, 0))
            kind = "loop" if tid == self.main_tid else "pool"
            for i, name in enumerate(_STATS):
                key = f"{kind} {name}"
                out[key] = out.get(key, 0.0) + now[i] - before[i]
        result = {
            k: (v / n / 1000 if k.endswith(("cpu", "sys")) else v / n) for k, v in out.items()
        }
        result["backend"] = backend / n / 1000
        result["per second"] = n / wall
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--creates", type=int, default=800)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args()
    os.environ["COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE"] = "10000000"
    os.environ["COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE"] = "10000000"
    os.environ["COMPLAINTDESK_ACCESS_LOG"] = "0" if args.no_access_log else "1"

    import uvloop
    from fastapi.security import HTTPAuthorizationCredentials

    from complaintdesk.classify.base import default_classifier
    from complaintdesk.db.engine import make_engine, make_sessionmaker
    from complaintdesk.services.throttle import Throttle
    from complaintdesk.serving import CoalescingClassifier, settle_heap
    from complaintdesk.web.api import complaints
    from complaintdesk.web.api.schemas import ComplaintCreate
    from complaintdesk.web.app import create_app
    from complaintdesk.web.observe import JsonFormatter

    load = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load[0]:.1f} on "
        f"{os.cpu_count()} cores; access log {'off' if args.no_access_log else 'on'}"
    )
    levels = [int(c) for c in args.concurrency.split(",")]
    name, url = make_database(args.pg)
    log_file = Path(tempfile.mkdtemp(prefix="cd-asgi-")) / "serve.log"
    try:
        setup = populate(url)
        # serve's logging (observe.configure_logging), to a file as serve's output is
        handler = logging.StreamHandler(log_file.open("w", encoding="utf-8"))
        handler.setFormatter(JsonFormatter())
        logging.getLogger().handlers[:] = [handler]
        logging.getLogger().setLevel(logging.INFO)
        engine = make_engine(url, pool_size=10, max_overflow=5)
        factory = make_sessionmaker(engine)
        app = create_app(factory, classifier=CoalescingClassifier(default_classifier()))
        settle_heap()
        rng = random.Random(5)

        create_request = requests(setup)[1]

        def body() -> tuple[bytes, str]:
            """bench_create's create request: its body and its caller's token."""
            _, raw, headers = create_request(rng)
            return raw, headers["Authorization"].removeprefix("Bearer ")

        async def one() -> None:
            raw, token = body()
            scope: dict[str, Any] = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/api/v1/complaints",
                "raw_path": b"/api/v1/complaints",
                "query_string": b"",
                "root_path": "",
                "headers": [
                    (b"host", b"127.0.0.1:8000"),
                    (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {token}".encode()),
                    (b"content-length", str(len(raw)).encode()),
                ],
                "client": ("127.0.0.1", 40000),
                "server": ("127.0.0.1", 8000),
                "state": {},
            }
            sent = False
            done = asyncio.Event()
            status = [0]

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": raw, "more_body": False}
                await done.wait()
                return {"type": "http.disconnect"}

            async def send(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]

            await app(scope, receive, send)
            done.set()
            assert status[0] == 201, status[0]

        async def run(n: int, concurrency: int) -> None:
            left = [n]

            async def client() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    await one()

            await asyncio.gather(*(client() for _ in range(concurrency)))

        classifier = default_classifier()
        throttle = Throttle()

        def direct(n: int) -> None:
            for _ in range(n):
                raw, token = body()
                create = ComplaintCreate.model_validate_json(raw)
                credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
                with factory() as session:
                    response = complaints._create(
                        session, credentials, throttle, datetime.now(UTC), classifier, create, None
                    )
                assert response.status_code == 201

        window = Window(threading.get_native_id(), name)

        def measured_direct(n: int) -> dict[str, float]:
            direct(100)  # warm-up
            window.begin()
            direct(n)
            return window.end(n)

        async def measured_asgi(n: int, concurrency: int) -> dict[str, float]:
            # Read inside the loop: anyio's worker threads end with it.
            await run(100, concurrency)  # warm-up
            window.begin()
            await run(n, concurrency)
            return window.end(n)

        modes: list[tuple[str, Callable[[int], dict[str, float]]]] = [("direct", measured_direct)]
        for c in levels:
            modes.append(
                (
                    f"asgi, {c} in flight",
                    lambda n, c=c: uvloop.run(measured_asgi(n, c)),  # type: ignore[misc]
                )
            )
        results: dict[str, list[dict[str, float]]] = {m: [] for m, _ in modes}
        for _ in range(args.rounds):
            for mode, go in modes:
                results[mode].append(go(args.creates))
        engine.dispose()
    finally:
        drop_database(args.pg, name)

    print(f"{args.creates} creates a run, {args.rounds} runs a mode; per create:")
    header = ("loop cpu", "loop sys", "pool cpu", "pool sys", "loop vcs", "pool vcs", "pool ics")
    print(
        f"  {'mode':<20}{'creates/s':>10}"
        + "".join(f"{h:>11}" for h in header)
        + f"{'process µs':>11}{'backend µs':>11}"
    )
    for mode, runs in results.items():
        for r in runs:
            cpu = r.get("loop cpu", 0) + r.get("pool cpu", 0)
            print(
                f"  {mode:<20}{r['per second']:10.0f}"
                + "".join(
                    f"{r.get(h, 0):11.0f}" if "cs" not in h else f"{r.get(h, 0):11.2f}"
                    for h in header
                )
                + f"{cpu:11.0f}{r['backend']:11.0f}"
            )
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
