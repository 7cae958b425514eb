"""Bulk import and generate on PostgreSQL, end to end against the machine's own COPY rate.

    .venv/bin/python bench/bench_bulk.py [--rows 100000] [--pg postgresql://root@127.0.0.1:5432]
                                         [--indexes keep|auto] [--processes N]
    .venv/bin/python bench/bench_bulk.py --generate 1000000 [--keep-indexes]

Makes a throw-away database, writes the same complaint rows to a JSON Lines file twice
(with and without labels), and measures in the same run:

1. raw COPY: the file's columns into a bare table (no indexes): the machine's limit
   for moving these rows into PostgreSQL;
2. ``import`` of the pre-labelled file (parse, check, stage, set-based writes of
   complaints, departments and events, resume marks): target at least 0.5x raw COPY;
3. raw COPY of the complaint rows the pre-labelled import made (every column, as
   stored) back into the real, emptied ``complaints`` table with its indexes: the
   machine's limit for this schema;
4. ``import`` of the unlabelled file (also classifies every row): target 30,000/s;

and prints each rate, its ratio to both raw COPY rates, CPU per row and the peak
memory of the process.

``--indexes keep`` (the default) imports with the indexes kept up to date row by row,
the path into a database that has history. ``--indexes auto`` is a go-live: each
import runs into history tables that are empty (the first into the new database, the
second after the first's rows are truncated), so it makes the secondary indexes after
the load; its rate counts making them and ANALYZE. ``--processes N``: ``import
--processes N`` (its processes' CPU is counted once they have ended). PostgreSQL's
CPU is that of every backend of the database, read from /proc every 0.1 s while an
import runs (the index builds' connections and parallel workers come and go).

``--generate N`` instead runs ``generate --rows N`` (one process, so that CPU per
complaint is measured: this process plus its PostgreSQL backends) into an empty
database, then raw COPY of the complaint rows it made into a bare table and into a
table like ``complaints`` with all its indexes; it extrapolates 30 million from the
CPU per complaint on 1 and 2 cores. ``--keep-indexes`` keeps the indexes during the
load (the path into a database that already has complaints).

Nothing is timed in the tests; this script is the measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from complaintdesk.classify.generate import iter_generate
from complaintdesk.db.engine import make_engine, make_sessionmaker, unit_of_work
from complaintdesk.db.migrate import upgrade
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import org
from complaintdesk.services.importer import Indexes, import_file

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


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


class PgCpuSampler:
    """CPU seconds of the PostgreSQL backends serving ``database`` (parallel workers and
    connections opened meanwhile too; not autovacuum's) from ``start`` to ``stop``: each
    backend's /proc counters read every ``every`` seconds, its last reading kept (a
    backend that ends loses at most its last ``every`` seconds)."""

    def __init__(self, url: str, database: str, every: float = 0.1) -> None:
        self.url, self.database, self.every = url, database, every
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._done = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, conn: psycopg.Connection[Any], initial: bool = False) -> None:
        for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND backend_type IN ('client backend', 'parallel worker')",  # not autovacuum's
            (self.database,),
        ).fetchall():
            cpu = _proc_cpu(pid)
            if cpu is None:
                continue
            self.first.setdefault(pid, cpu if initial else 0.0)
            self.last[pid] = cpu

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            self._sample(conn, initial=True)
            self._ready.set()
            while not self._done.wait(self.every):
                self._sample(conn)
            self._sample(conn)

    def start(self) -> PgCpuSampler:
        self._thread.start()
        self._ready.wait()
        return self

    def so_far(self) -> float:
        """The CPU seconds read so far (at most ``every`` seconds old)."""
        last = dict(self.last)
        return sum(last[pid] - self.first.get(pid, 0.0) for pid in last)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.so_far()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


SETTINGS = (
    "shared_buffers",
    "maintenance_work_mem",
    "max_wal_size",
    "synchronous_commit",
    "wal_compression",
)


def settings(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return ", ".join(
            f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}"  # type: ignore[index]
            for name in SETTINGS
        )


def copy_rate(url: str, query: str, into: str, rows: int) -> float:
    """Rows/s of COPY of ``query``'s rows (read first into a temporary file) into
    table ``into``, in one transaction, without the per-row foreign-key triggers (as
    the bulk path writes)."""
    with tempfile.TemporaryFile() as spool, psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT") as out:
            for chunk in out:
                spool.write(chunk)
        spool.seek(0)
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY {into} FROM STDIN") as sink:
            while block := spool.read(1 << 20):
                sink.write(block)
        conn.commit()
        return rows / (time.perf_counter() - started)


def _header(rows: int, extra: str, url: str) -> None:
    load = os.getloadavg()
    print(f"rows: {rows:,}{extra}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print(f"server: {settings(url)}")


def bench_generate(url: str, name: str, rows: int, keep_indexes: bool) -> None:
    from complaintdesk.services.generate import generate

    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        with engine.connect() as warm:
            warm.exec_driver_sql("SELECT 1")
        loaded: list[float] = []  # CPU (Python, PostgreSQL) when the last batch is in

        def progress(done: int, seconds: float) -> None:
            if done == rows:
                loaded.extend((time.process_time(), pg_cpu(url, name)))

        cpu_before = time.process_time()
        report = generate(
            factory, rows=rows, now=datetime.now(UTC), seed=7, defer_indexes=not keep_indexes,
            progress=progress,
        )  # fmt: skip
        py_us = (time.process_time() - cpu_before) / rows * 1e6
        pg_us = pg_cpu(url, name) / rows * 1e6
        index_us = py_us + pg_us - ((loaded[0] - cpu_before) / rows * 1e6 + loaded[1] / rows * 1e6)
    finally:
        engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_bare (LIKE complaints)")
        conn.execute("CREATE TABLE raw_indexed (LIKE complaints INCLUDING ALL)")
    bare = copy_rate(url, "SELECT * FROM complaints", "raw_bare", rows)
    indexed = copy_rate(url, "SELECT * FROM complaints", "raw_indexed", rows)
    per_cpu_s = 1e6 / (py_us + pg_us)
    _header(rows, f" generated ({report.events / rows:.1f} events a complaint)", url)
    how = (
        "indexes kept during the load"
        if keep_indexes
        else (
            f"{report.deferred_indexes} secondary indexes made after the load "
            f"({report.index_seconds:,.0f} s of the total)"
        )
    )
    print(f"generate, one process, {how}:")
    print(f"  {report.rate:10,.0f} complaints/s ({report.seconds:,.0f} s); "
          f"{report.rate / bare:.2f}x raw COPY of its complaint rows into a bare table "
          f"({bare:,.0f}/s), {report.rate / indexed:.2f}x into a table like complaints with "
          f"all its indexes ({indexed:,.0f}/s)")  # fmt: skip
    print(f"  CPU per complaint: Python {py_us:,.0f} us + PostgreSQL {pg_us:,.0f} us "
          f"-> {per_cpu_s:,.0f} complaints per CPU-second (of which making the indexes and "
          f"ANALYZE after the load: {index_us:,.0f} us)")  # fmt: skip
    for cores in (1, 2):
        hours = 30e6 / (per_cpu_s * cores) / 3600
        print(f"  30 million on {cores} core(s) at that CPU cost: {hours:.2f} h")
    print("target: 30 million complaints with their lifecycles in under an hour")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--generate", type=int, default=0, help="bench generate with N rows")
    parser.add_argument("--keep-indexes", action="store_true")
    parser.add_argument(
        "--indexes", choices=("keep", "auto"), default="keep",
        help="import: keep the indexes up to date (a database with history) or make them "
        "after the load into empty history tables (a go-live)",
    )  # fmt: skip
    parser.add_argument("--processes", type=int, default=1, help="import --processes N")
    args = parser.parse_args()
    name = f"bulk_bench_{os.getpid()}"
    admin = f"{args.pg}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg}/{name}"
    if args.generate:
        try:
            bench_generate(url, name, args.generate, args.keep_indexes)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
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
            deferred: dict[str, tuple[int, float, float, float]] = {}
            schema_rate = 0.0
            for label, path in (("pre-labelled", labelled), ("with classification", bare)):
                with engine.connect() as warm:  # the pool's connection, so its CPU is counted
                    warm.exec_driver_sql("SELECT 1")
                sampler = PgCpuSampler(url, name).start()
                # PostgreSQL's CPU when the last batch had committed (read at most 0.1 s
                # before: the index builds after it start later)
                at_last_batch: list[float] = [0.0]

                def batch_done(
                    _: int, sampler: PgCpuSampler = sampler, at: list[float] = at_last_batch
                ) -> None:
                    at[0] = sampler.so_far()

                cpu_before = time.process_time() + _children_cpu()
                report = import_file(
                    factory, path, username="loader", project_code=None, company_code="bench",
                    now=now, batch=args.batch, indexes=Indexes(args.indexes),
                    processes=args.processes, after_batch=batch_done,
                )  # fmt: skip
                assert report.imported == args.rows, report.rejected[:3]
                py_us = (time.process_time() + _children_cpu() - cpu_before) / args.rows * 1e6
                pg_total = sampler.stop()
                pg_us = pg_total / args.rows * 1e6
                results[label] = (args.rows / report.seconds, py_us, pg_us)
                index_us = (pg_total - at_last_batch[0]) / args.rows * 1e6
                deferred[label] = (report.deferred_indexes, report.index_seconds, report.seconds,
                                   index_us)  # fmt: skip
                if not schema_rate:
                    # The same complaint rows, as stored, COPYed back into the emptied
                    # table with its indexes (its partitions, search index, checks).
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute("CREATE TABLE raw_rows AS SELECT * FROM complaints")
                        conn.execute("TRUNCATE complaints CASCADE")
                    schema_rate = copy_rate(url, "SELECT * FROM raw_rows", "complaints", args.rows)
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute("TRUNCATE complaints CASCADE")
                        conn.execute("DROP TABLE raw_rows")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        how = (
            "indexes kept up to date during the import"
            if args.indexes == "keep"
            else "each import into empty history tables (indexes made after the load)"
        )
        _header(
            args.rows,
            f" ({size / args.rows:,.0f} bytes each in the file); {how}; "
            f"import --processes {args.processes}",
            url,
        )
        print(f"raw COPY into a bare table:                {raw_rate:10,.0f} rows/s  (1.00x)")
        print(f"raw COPY into complaints with its indexes: {schema_rate:10,.0f} rows/s  "
              f"({schema_rate / raw_rate:.2f}x)")  # fmt: skip
        for label, (rate, py_us, pg_us) in results.items():
            print(
                f"import {label:<35} {rate:10,.0f} rows/s  ({rate / raw_rate:.2f}x bare, "
                f"{rate / schema_rate:.2f}x complaints COPY); CPU per row: Python {py_us:,.0f} "
                f"us + PostgreSQL {pg_us:,.0f} us -> {1e6 / (py_us + pg_us):,.0f} rows per "
                "CPU-second"
            )
            made, index_s, total_s, index_us = deferred[label]
            if made:
                print(
                    f"  {made} secondary indexes made after the load, and ANALYZE: "
                    f"{index_s:,.1f} s of its {total_s:,.1f} s (the rows alone "
                    f"{args.rows / max(total_s - index_s, 1e-9):,.0f} rows/s), "
                    f"PostgreSQL {index_us:,.0f} us a row of the CPU above"
                )
        children = f", its import processes {children_mb:,.0f} MB" if args.processes > 1 else ""
        print(
            f"targets: pre-labelled >= 0.5x raw COPY; with classification >= 30,000 rows/s; "
            f"peak memory of the process {peak_mb:,.0f} MB{children} for a "
            f"{size / 1e6:,.0f} MB file"
        )
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
