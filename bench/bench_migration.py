"""How long an upgrade makes the desk's own writes wait, on a copy of a large database.

    .venv/bin/python bench/bench_migration.py --database-url postgresql://…/copy \\
        --start 0014 [--to head] [--interval 0.05]

On PostgreSQL only, on a database you can throw away (it is downgraded to ``--start``
first, then upgraded to ``--to``). While the upgrade runs, two probes write as the
desk does, each on its own connection, every ``--interval`` seconds: one updates a
complaint, one an event (each in a transaction that is rolled back: nothing changes),
so each takes the lock an intake or a dispatch takes. A migration that holds a table
for its whole build shows as one probe write that waited that long. Printed: the
upgrade's seconds, and per probe the writes, p50 / p99 / longest wait in ms and the
writes that waited over a second; the same probes for three seconds before the upgrade
are the machine's own figure in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from sqlalchemy import Engine, text

from complaintdesk.db.engine import make_engine
from complaintdesk.db.migrate import alembic_config, upgrade

PROBES = {
    "complaint update": "UPDATE complaints SET owner_id = owner_id WHERE id = :id",
    "event update": "UPDATE events SET kind = kind WHERE id = :id",
}


def _probe(
    engine: Engine, sql: str, row_id: int, stop: threading.Event, out: list[float], interval: float
) -> None:
    with engine.connect() as conn:
        while not stop.is_set():
            started = time.perf_counter()
            conn.execute(text(sql), {"id": row_id})
            conn.rollback()
            out.append((time.perf_counter() - started) * 1000)
            time.sleep(interval)


def _run(
    engine: Engine, ids: dict[str, int], seconds: float | None, interval: float
) -> tuple[float, dict[str, list[float]]]:
    stop = threading.Event()
    waits: dict[str, list[float]] = {name: [] for name in PROBES}
    threads = [
        threading.Thread(
            target=_probe, args=(engine, PROBES[name], ids[name], stop, waits[name], interval)
        )
        for name in PROBES
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    try:
        if seconds is None:
            upgrade(engine, ARGS.to)
        else:
            time.sleep(seconds)
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        for thread in threads:
            thread.join()
    return elapsed, waits


def _report(label: str, elapsed: float, waits: dict[str, list[float]]) -> None:
    print(f"{label}: {elapsed:.1f} s")
    for name, values in waits.items():
        values = sorted(values)
        slow = sum(v > 1000 for v in values)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(
            f"  {name:17} {len(values):6} writes  p50 {statistics.median(values):7.1f}  "
            f"p99 {p99:8.1f}  longest {values[-1]:8.1f} ms  over 1 s: {slow}"
        )


def main() -> None:
    engine = make_engine(ARGS.database_url)
    assert engine.dialect.name == "postgresql", "PostgreSQL only"
    from alembic import command

    command.downgrade(alembic_config(engine), ARGS.start)
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        ids = {
            "complaint update": int(conn.scalar(text("SELECT max(id) FROM complaints")) or 0),
            "event update": int(conn.scalar(text("SELECT max(id) FROM events")) or 0),
        }
    _report("before the upgrade (the machine's own figure)", *_run(engine, ids, 3.0, ARGS.interval))
    _report(f"upgrade {ARGS.start} -> {ARGS.to}", *_run(engine, ids, None, ARGS.interval))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--start", default="0014", help="the revision to downgrade to first")
    parser.add_argument("--to", default="head")
    parser.add_argument("--interval", type=float, default=0.05)
    ARGS = parser.parse_args()
    main()
