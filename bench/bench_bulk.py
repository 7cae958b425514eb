"""Bulk import on PostgreSQL: end to end against the machine's own COPY rate.

    .venv/bin/python bench/bench_bulk.py [--rows 100000] [--pg postgresql://root@127.0.0.1:5432]

Makes a throw-away database, writes the same complaint rows to a JSON Lines file twice
(with and without labels), and measures in the same run:

1. raw COPY: the file's columns into a bare table (no indexes): the machine's limit
   for moving these rows into PostgreSQL;
2. ``import`` of the pre-labelled file (parse, check, stage, set-based writes of
   complaints, departments and events, resume marks): target at least 0.5x raw COPY;
3. ``import`` of the unlabelled file (also classifies every row): target 30,000/s;

and prints each rate, its ratio to raw COPY, and the peak memory of the process.
Nothing is timed in the tests; this script is the measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from complaintdesk.classify.generate import iter_generate
from complaintdesk.db.engine import make_engine, make_sessionmaker, unit_of_work
from complaintdesk.db.migrate import upgrade
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import org
from complaintdesk.services.importer import import_file

LABELS = ("nature", "category", "urgency", "department")
TICK = os.sysconf("SC_CLK_TCK")


def pg_cpu(url: str, database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving ``database``
    (this machine's server: read from /proc)."""
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


def _write_files(tmp: Path, rows: int, now: datetime) -> tuple[Path, Path, list[tuple[str, ...]]]:
    rng = random.Random(5)
    labelled, bare = tmp / "labelled.jsonl", tmp / "bare.jsonl"
    raw: list[tuple[str, ...]] = []
    with labelled.open("w", encoding="utf-8") as a, bare.open("w", encoding="utf-8") as b:
        for n, rec in enumerate(iter_generate(rows, seed=3)):
            at = now - timedelta(seconds=rng.uniform(3 * 86400, 3 * 365 * 86400))
            closed = rng.random() < 0.9
            row = {
                "text": f"{rec['text']} #{n}",
                "project": "P1",
                "received_at": at.isoformat(timespec="milliseconds"),
                "status": "closed" if closed else "received",
            }
            if closed:
                row["closed_at"] = (at + timedelta(days=2)).isoformat(timespec="milliseconds")
            b.write(json.dumps(row, ensure_ascii=False) + "\n")
            a.write(json.dumps({**row, **{k: rec[k] for k in LABELS}}, ensure_ascii=False) + "\n")
            raw.append((row["text"], "P1", row["received_at"], *(rec[k] for k in LABELS)))
    return labelled, bare, raw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    name = f"cd_bench_bulk_{os.getpid()}"
    admin = f"{args.pg}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg}/{name}"
    now = datetime.now(UTC)
    try:
        engine = make_engine(url)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        with unit_of_work(factory) as session:
            company = org.create_company(session, code="bench", name="Bench 物业")
            project = org.create_project(session, company, code="P1", name="翠湖花园")
            org.create_staff(
                session, company, username="loader", name="Loader",
                department=StaffDepartment.CUSTOMER_SERVICE, role=Role.AGENT,
                project_ids=[project.id],
            )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            labelled, bare, raw = _write_files(Path(tmp), args.rows, now)
            size = labelled.stat().st_size
            with psycopg.connect(url) as conn:
                conn.execute(
                    "CREATE TABLE raw_copy (text text, project text, received_at timestamptz, "
                    "nature text, category text, urgency text, department text)"
                )
                conn.commit()
                started = time.perf_counter()
                with conn.cursor() as cur, cur.copy("COPY raw_copy FROM STDIN") as copy:
                    for row in raw:
                        copy.write_row(row)
                conn.commit()
                raw_rate = len(raw) / (time.perf_counter() - started)
            del raw
            results = {}
            for label, path in (("pre-labelled", labelled), ("with classification", bare)):
                with engine.connect() as warm:  # the pool's connection, so its CPU is counted
                    warm.exec_driver_sql("SELECT 1")
                    pg_before = pg_cpu(url, name)
                cpu_before = time.process_time()
                report = import_file(
                    factory, path, username="loader", project_code=None, company_code="bench",
                    now=now, batch=args.batch,
                )  # fmt: skip
                assert report.imported == args.rows, report.rejected[:3]
                py_us = (time.process_time() - cpu_before) / args.rows * 1e6
                pg_us = (pg_cpu(url, name) - pg_before) / args.rows * 1e6
                results[label] = (args.rows / report.seconds, py_us, pg_us)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load = os.getloadavg()
        print(f"rows: {args.rows:,} ({size / args.rows:,.0f} bytes each in the file), "
              f"load average {load[0]:.1f} {load[1]:.1f} on {os.cpu_count()} cores")  # fmt: skip
        print(f"raw COPY into a bare table:        {raw_rate:10,.0f} rows/s  (1.00x)")
        for label, (rate, py_us, pg_us) in results.items():
            print(
                f"import {label:<27} {rate:10,.0f} rows/s  ({rate / raw_rate:.2f}x raw COPY); "
                f"CPU per row: Python {py_us:,.0f} us + PostgreSQL {pg_us:,.0f} us "
                f"-> {1e6 / (py_us + pg_us):,.0f} rows per CPU-second"
            )
        print(
            f"targets: pre-labelled >= 0.5x raw COPY; with classification >= 30,000 rows/s; "
            f"peak memory of the process {peak_mb:,.0f} MB for a {size / 1e6:,.0f} MB file"
        )
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
