"""A folded month's events partition rewritten (``db compact --fold``), the way before
session 14 (``VACUUM (FULL)``) against the online rewrite (``partitions._rewrite``):
the rewrite's seconds, and how long a concurrent timeline read waits.

    .venv/bin/python bench/bench_rewrite.py --database DB --month 2026-10 --fold-only
    .venv/bin/python bench/bench_rewrite.py --database DB --month 2026-10 --how online

On PostgreSQL, in a throw-away database (``complaintdesk generate``). ``--fold-only``
folds the month's closed complaints and stops (outside any timing: copy the database
then, ``CREATE DATABASE … TEMPLATE``, to rewrite the same rows both ways). Otherwise a
reader thread reads timelines through the service (``queries.timeline``: generic
plans, which lock every month's partition, as the console's) of complaints of the
newest month, one after another, for ``--before`` seconds, during the rewrite and a
second after; then one JSON line: the rewrite's seconds, the partition's bytes before
and after, and the reads' latencies (count, median, p99, max) before and during (a
read that overlapped the rewrite counts as during).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import sessionmaker

from complaintdesk.db import folding, partitions
from complaintdesk.db.engine import make_engine
from complaintdesk.db.ids import id_time
from complaintdesk.db.models import Complaint
from complaintdesk.services import queries


def _vacuum_full(connection: Connection, name: str) -> bool:
    """The rewrite as ``db compact --fold`` made it until session 14 (its lock timeout
    left out: nothing here holds the month)."""
    connection.execute(text(f"VACUUM (FULL) {name}"))
    connection.execute(text(f"ANALYZE {name}"))
    return True


def _figures(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"n": 0}
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "median_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument("--month", required=True, help="YYYY-MM")
    parser.add_argument("--how", choices=("online", "vacuum-full"), default="online")
    parser.add_argument("--fold-only", action="store_true")
    parser.add_argument("--before", type=float, default=3.0)
    args = parser.parse_args()
    engine = make_engine(f"{args.pg}/{args.database}")
    month = datetime.strptime(args.month, "%Y-%m").replace(tzinfo=UTC)
    name = partitions.partition_name("events", month)
    if args.fold_only:
        started = time.perf_counter()
        report = folding.fold(engine, *partitions.bounds(month))
        seconds = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "folded": report.complaints,
                    "rows_before": report.rows_before,
                    "seconds": round(seconds, 2),
                    "per_second": round(report.complaints / seconds, 1),
                }
            )
        )
        return
    factory = sessionmaker(engine)
    with factory() as session:
        newest = session.scalar(select(func.max(Complaint.id)))
        assert newest is not None
        low = partitions.bounds(partitions.month_start(id_time(newest)))[0]
        ids = list(session.scalars(select(Complaint.id).where(Complaint.id >= low).limit(500)))
    reads: list[tuple[float, float]] = []
    stop = threading.Event()

    def read() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            with factory() as session:
                started = time.perf_counter()
                queries.timeline(session, session.get_one(Complaint, rng.choice(ids)))
                reads.append((started, time.perf_counter()))

    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        size = "SELECT pg_relation_size(to_regclass(:n)), pg_indexes_size(to_regclass(:n))"
        heap_before, indexes_before = connection.execute(text(size), {"n": name}).one()
        rows = connection.scalar(text(f"SELECT count(*) FROM {name}"))
        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(args.before)
        load = os.getloadavg()[0]
        rewrite = partitions._rewrite if args.how == "online" else _vacuum_full
        began = time.perf_counter()
        done = rewrite(connection, name)
        ended = time.perf_counter()
        time.sleep(1.0)
        stop.set()
        reader.join()
        heap_after, indexes_after = connection.execute(text(size), {"n": name}).one()
    before = [e - s for s, e in reads if e < began]
    during = [e - s for s, e in reads if s <= ended and e >= began]
    print(
        json.dumps(
            {
                "how": args.how,
                "partition": name,
                "rows": rows,
                "rewritten": done,
                "seconds": round(ended - began, 3),
                "heap_bytes": [heap_before, heap_after],
                "index_bytes": [indexes_before, indexes_after],
                "reads_before": _figures(before[5:]),  # the first five plan afresh
                "reads_during": _figures(during),
                "load_average": round(load, 2),
                "at": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
            }
        )
    )
    engine.dispose()


if __name__ == "__main__":
    main()
