"""Bytes on disk per complaint with its whole lifecycle, and the generate rate.

    .venv/bin/python bench/bench_bytes.py [--rows 200000] [--services 1000]

On PostgreSQL, in throw-away databases:

1. ``generate --rows N``: its rate (complaints/s, with the time 30 million would take)
   beside raw COPY of the same complaint rows into a bare copy of the table, then
   the bytes each complaint costs: heap, TOAST and indexes of complaints, their
   departments, events, follow-ups, visits and what is left in the outbox;
2. the same through the services (the demo loader: intake, dispatch, follow-up,
   resolve, visit, close, one request at a time), after delivery, the outbox purge
   at its retention and VACUUM.

Target: at most 2.5 KB per complaint with its lifecycle.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text

from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.migrate import upgrade

TICK = os.sysconf("SC_CLK_TCK")


def pg_cpu(url: str, database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving ``database``."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        ]
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


TABLES = ("complaints", "complaint_departments", "events", "follow_ups", "visits", "outbox")
ORG = ("owners", "owner_units", "units", "buildings", "staff", "owner_links")


def _database(pg: str, name: str) -> Engine:
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{pg}/{name}")
    upgrade(engine)
    return engine


def _drop(pg: str, name: str) -> None:
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sizes(engine: Engine, complaints: int, label: str) -> float:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE"))
        total = 0.0
        print(f"\n{label}: bytes per complaint ({complaints:,} complaints)")
        print(f"  {'table':<24}{'rows/c':>8}{'heap':>8}{'toast':>8}{'indexes':>9}{'total':>9}")
        for table in (*TABLES, *ORG):
            exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar()
            if exists is None:
                continue
            # A partitioned table holds nothing itself: sum its partitions.
            heap, toast, idx, rows = conn.execute(
                text(
                    "SELECT CAST(COALESCE(sum(pg_relation_size(c.oid)), 0) AS bigint), "
                    "CAST(COALESCE(sum(COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), "
                    "0)), 0) AS bigint), CAST(COALESCE(sum(pg_indexes_size(c.oid)), 0) AS bigint), "
                    "(SELECT count(*) FROM " + table + ") "
                    "FROM pg_partition_tree(CAST(:t AS regclass)) p "
                    "JOIN pg_class c ON c.oid = p.relid WHERE p.isleaf"
                ),
                {"t": table},
            ).one()
            per = (heap + toast + idx) / complaints
            if table in TABLES:
                total += per
            print(
                f"  {table:<24}{rows / complaints:8.2f}{heap / complaints:8.0f}"
                f"{toast / complaints:8.0f}{idx / complaints:9.0f}{per:9.0f}"
                + ("" if table in TABLES else "  (organisation, not counted)")
            )
        print(f"  {'complaint with its lifecycle':<49}{total:9.0f}  (target <= 2,560)")
        return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    args = parser.parse_args()
    from complaintdesk.services.generate import generate

    if args.rows <= 0:
        raise SystemExit("--rows must be positive")

    now = datetime.now(UTC)
    name = f"cd_bench_gen_{os.getpid()}"
    engine = _database(args.pg, name)
    try:
        factory = make_sessionmaker(engine)
        with engine.connect() as warm:  # the pool's connection, so its CPU is counted
            warm.exec_driver_sql("SELECT 1")
        cpu_before = time.process_time()
        report = generate(factory, rows=args.rows, now=now, seed=7)
        py_us = (time.process_time() - cpu_before) / report.complaints * 1e6
        pg_us = pg_cpu(f"{args.pg}/postgres", name) / report.complaints * 1e6
        # The machine's limit for the same rows: COPY of the complaint rows as they
        # are now into a bare copy of the table (no indexes, no constraints).
        with (
            psycopg.connect(f"{args.pg}/{name}") as reader,
            psycopg.connect(f"{args.pg}/{name}") as conn,
        ):
            conn.execute("CREATE TABLE raw_copy (LIKE complaints)")
            conn.commit()
            started = time.perf_counter()
            with (
                reader.cursor() as out,
                out.copy("COPY (SELECT * FROM complaints) TO STDOUT") as source,
                conn.cursor() as into,
                into.copy("COPY raw_copy FROM STDIN") as sink,
            ):
                for chunk in source:
                    sink.write(chunk)
            conn.commit()
            raw_rate = report.complaints / (time.perf_counter() - started)
            conn.execute("DROP TABLE raw_copy")
            conn.commit()
        load = os.getloadavg()
        print(
            f"generate: {report.complaints:,} complaints, {report.events:,} events in "
            f"{report.seconds:,.1f} s = {report.rate:,.0f} complaints/s "
            f"({report.rate / raw_rate:.2f}x raw COPY of the complaint rows alone, "
            f"{raw_rate:,.0f}/s); load average {load[0]:.1f} on {os.cpu_count()} cores"
        )
        per_cpu_s = 1e6 / (py_us + pg_us)
        cores = os.cpu_count() or 1
        print(
            f"  CPU per complaint: Python {py_us:,.0f} us + PostgreSQL {pg_us:,.0f} us "
            f"= {per_cpu_s:,.0f} complaints per CPU-second"
        )
        print(
            f"  30,000,000 at the measured rate: {30e6 / report.rate / 3600:,.1f} h; "
            f"with all {cores} cores to itself (--processes {cores}): "
            f"{30e6 / (per_cpu_s * cores) / 3600:,.1f} h (target: under 1 h)"
        )
        _sizes(engine, report.complaints, "generated history")
    finally:
        engine.dispose()
        _drop(args.pg, name)
    if args.services <= 0:
        return
    from complaintdesk.demo import load_demo
    from complaintdesk.services.delivery import LogChannel, deliver
    from complaintdesk.services.retention import purge_outbox

    name = f"cd_bench_svc_{os.getpid()}"
    engine = _database(args.pg, name)
    try:
        factory = make_sessionmaker(engine)
        started = time.perf_counter()
        load_demo(factory, complaints=args.services, seed=7, now=now, owners_per_project=200)
        seconds = time.perf_counter() - started
        log = LogChannel()
        channels = {"email": log, "sms": log, "wechat": log, "log": log}
        while deliver(factory, channels, now, batch=500).claimed:
            pass
        purge_outbox(factory, now + timedelta(days=31))
        print(f"\nservices (demo loader): {args.services / seconds:,.0f} complaints/s")
        _sizes(engine, args.services, "through the services, outbox purged after retention")
    finally:
        engine.dispose()
        _drop(args.pg, name)


if __name__ == "__main__":
    main()
