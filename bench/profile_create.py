"""Where a create's CPU goes, step by step, in process: the client's (this thread's)
and the PostgreSQL backend's serving it.

    .venv/bin/python bench/profile_create.py [--creates 1000]

Made for docs/capacity.md's table "Where a create's CPU goes now" (session 8), whose
scripts were not kept. On a throw-away database set up as ``bench_create.py`` sets
it up (one company, 400 owners, four agents' tokens, texts in both languages from the
classifier's generator), it calls the create route's own ``_create`` (the caller's
token, ``register_once``, the answer, the commit; no HTTP, no event loop) in one
thread, on one pooled connection, and wraps each step's function: around each, this
thread's CPU (``time.thread_time_ns``) and the backend's (``/proc/<pid>/schedstat``,
its first field, nanoseconds on a CPU). A step's figure is its own, without the steps
inside it; "the rest of register" is what ``register_once`` spends outside its named
steps (rules, deadlines, events, the complaint object), "the route's rest" what
``_create`` spends outside all of them. The backend's CPU between statements of a
step (a ping, BEGIN) counts in that step. Figures are microseconds a create, after
100 creates of warm-up.

The machine's other work does not enter these figures (CPU time, not wall time), but
a busy machine makes caches colder: say the load with them.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_create import drop_database, make_database, populate
from fastapi.security import HTTPAuthorizationCredentials

from complaintdesk.db.engine import make_engine, make_sessionmaker

STEPS = (
    (
        "caller: token, staff, projects, throttle",
        "complaintdesk.web.api.complaints",
        "authenticate_request",
    ),
    ("classify one text", None, None),  # the classifier object's predict, wrapped below
    ("owner and the turn", "complaintdesk.services.intake", "get_owner"),
    ("repeat lookup and find_repeat", "complaintdesk.services.intake", "_repeat_of"),
    ("the write (rows, one statement)", "complaintdesk.services.intake", "_write"),
    ("owner's message and link", "complaintdesk.services.intake", "tell_owner"),
    ("answer: present", "complaintdesk.web.api.complaints", "present"),
    ("answer: wire form", "complaintdesk.web.api.complaints", "complaint_wire"),
    ("answer: JSON", "complaintdesk.web.api.complaints", "to_json"),
    ("the rest of register", "complaintdesk.services.intake", "register_once"),
)


class Meter:
    """Nested timers: each step's own client and backend nanoseconds."""

    def __init__(self, backend_pid: int) -> None:
        self.stat = Path(f"/proc/{backend_pid}/schedstat")
        self.client: dict[str, int] = defaultdict(int)
        self.backend: dict[str, int] = defaultdict(int)
        self.stack: list[str] = []
        self.last = self._now()
        self.on = False

    def _now(self) -> tuple[int, int]:
        return time.thread_time_ns(), int(self.stat.read_text().split()[0])

    def _charge(self) -> None:
        now = self._now()
        if self.on and self.stack:
            self.client[self.stack[-1]] += now[0] - self.last[0]
            self.backend[self.stack[-1]] += now[1] - self.last[1]
        self.last = now

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._charge()
        self.stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self.stack.pop()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return fn(*args, **kwargs)

        return timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--creates", type=int, default=1000)
    args = parser.parse_args()
    # One thread posting as fast as it can: the per-token and per-address limits off,
    # as bench_create sets them for its server.
    os.environ["COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE"] = "10000000"
    os.environ["COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE"] = "10000000"

    import importlib

    from complaintdesk.classify.base import default_classifier
    from complaintdesk.domain.taxonomy import Channel
    from complaintdesk.services.throttle import Throttle
    from complaintdesk.web.api import complaints
    from complaintdesk.web.api.schemas import ComplaintCreate

    load = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    name, url = make_database(args.pg)
    try:
        setup = populate(url)
        engine = make_engine(url, pool_size=1, max_overflow=0)
        factory = make_sessionmaker(engine)
        with engine.connect() as connection:
            pid = int(connection.connection.dbapi_connection.info.backend_pid)  # type: ignore[union-attr]
        meter = Meter(pid)
        for label, module, attr in STEPS:
            if module is None or attr is None:
                continue
            target = importlib.import_module(module)
            setattr(target, attr, meter.wrap(label, getattr(target, attr)))
        session_class = factory.class_
        session_class.commit = meter.wrap("commit", session_class.commit)  # type: ignore[method-assign]
        classifier = default_classifier()
        classifier.predict = meter.wrap("classify one text", classifier.predict)  # type: ignore[method-assign]
        throttle = Throttle()
        rng = random.Random(5)

        def one() -> None:
            body = ComplaintCreate(
                project_id=setup.project_id,
                owner_id=rng.choice(setup.owner_ids),
                text=rng.choice(setup.texts),
                channel=Channel.PHONE,
            )
            credentials = HTTPAuthorizationCredentials(
                scheme="Bearer", credentials=rng.choice(setup.tokens)
            )
            with meter.step("the route's rest (session, response)"), factory() as session:
                response = complaints._create(
                    session, credentials, throttle, datetime.now(UTC), classifier, body, None
                )
            assert response.status_code == 201, response.body

        for _ in range(100):
            one()
        meter.on = True
        started = time.perf_counter()
        for _ in range(args.creates):
            one()
        seconds = time.perf_counter() - started
        meter.on = False
        engine.dispose()
    finally:
        drop_database(args.pg, name)

    n = args.creates
    print(f"{n:,} creates in one thread, {n / seconds:,.0f}/s (wall); microseconds a create:")
    print(f"  {'step':<46}{'client':>8}{'backend':>9}")
    for label in sorted(meter.client, key=lambda k: -(meter.client[k] + meter.backend[k])):
        client, backend = meter.client[label] / n / 1000, meter.backend[label] / n / 1000
        print(f"  {label:<46}{client:8.0f}{backend:9.0f}")
    total_c, total_b = sum(meter.client.values()), sum(meter.backend.values())
    print(f"  {'total':<46}{total_c / n / 1000:8.0f}{total_b / n / 1000:9.0f}")


if __name__ == "__main__":
    main()
