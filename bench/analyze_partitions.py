"""What the ANALYZE after a go-live load reads: the partitions it touched, and those it
did not (session 14, review item 4).

    .venv/bin/python bench/analyze_partitions.py [--rows 200000] [--years 3] [--repeat 3]

Makes a throw-away database, loads ``--rows`` complaints of ``--years`` of history into
it with ``generate`` (a go-live: empty history tables, indexes made after the load, then
``ANALYZE`` of each filled table, as ``import`` does), then, for each partitioned history
table: how many partitions it has, how many hold rows (the load's months) and how many
are empty (months made ahead by the migrations and maintenance, and the default), and
the time (median of ``--repeat``) of ``ANALYZE`` of the parent (PostgreSQL 15: the
inheritance statistics, then every partition), of each partition with rows one by one,
and of each empty one. Nothing is changed by it but its own database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime

import psycopg

from complaintdesk.db import partitions
from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.migrate import upgrade
from complaintdesk.services.generate import generate


def _timed(conn: psycopg.Connection, statements: list[str], repeat: int) -> float:
    """Median seconds of running ``statements`` one after another, ``repeat`` times."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    args = parser.parse_args()
    name = f"analyze_bench_{os.getpid()}"
    admin = f"{args.pg}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg}/{name}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        report = generate(
            make_sessionmaker(engine), rows=args.rows, now=datetime.now(UTC), years=args.years,
            processes=2,
        )  # fmt: skip
        print(
            f"generate --rows {args.rows:,} --years {args.years}: {report.seconds:,.1f} s, of "
            f"which the {report.deferred_indexes} indexes and ANALYZE "
            f"{report.index_seconds:,.1f} s;"
            f" load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        with psycopg.connect(url, autocommit=True) as conn:
            for table in partitions.PARTITIONED:
                found = conn.execute(
                    "SELECT c.relname, c.relpages FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass "
                    "ORDER BY c.relname",
                    (table,),
                ).fetchall()
                full = [n for n, pages in found if pages > 0]
                empty = [n for n, pages in found if pages == 0]
                whole = _timed(conn, [f"ANALYZE {table}"], args.repeat)
                touched = _timed(conn, [f"ANALYZE {n}" for n in full], args.repeat)
                untouched = _timed(conn, [f"ANALYZE {n}" for n in empty], args.repeat)
                print(
                    f"{table}: {len(found)} partitions, {len(full)} with rows, {len(empty)} "
                    f"empty ({', '.join(empty)}); ANALYZE {table} {whole * 1000:,.0f} ms, "
                    f"the {len(full)} with rows one by one {touched * 1000:,.0f} ms, the "
                    f"{len(empty)} empty {untouched * 1000:,.1f} ms"
                )
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
