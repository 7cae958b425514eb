"""What each read costs PostgreSQL, independent of the machine's load: the shared
buffers every statement of a read touches, and its execution time.

    .venv/bin/python bench/bench_read_sql.py --db postgresql://root@127.0.0.1:5432/read_1m \
        [--calls 10] [--json FILE]

Calls the read path's service functions (the same ones the API calls, with the same
actors as ``bench_read.py``: it adds the same admin account and tokens) and records
every statement they send on ``complaints``; each is then run again with
``EXPLAIN (ANALYZE, BUFFERS)`` as a prepared statement under the plan kind the
service asks for (generic for lists and queues, custom for search and the sweeper).
Per read, the sum over its statements; the median over ``--calls`` calls (different
owners, complaints and cursors where the read takes one). Buffers touched do not
depend on the load, so a 1M and a 10M run on a shared machine compare; the
milliseconds are printed beside them and do depend on it.

    .venv/bin/python bench/bench_read_sql.py --db …/read_10m --cold-owners 100 [--limit 20]

Instead, owner history for owners not asked before, each statement it sends explained
as it is first sent, on its own connection and transaction: what a request costs
when the owner's pages are not in shared buffers (``read``: from outside them).
``--owner-statements 100`` compares owner history's statement before migration 0015
(the months' merge) with today's, in psql terms, for the same random owners.

    .venv/bin/python bench/bench_read_sql.py --db …/read_30m --cold-split 40

Instead, where a cold owner history's time goes, relation by relation, with
``track_io_timing`` (``cold_split``): the reads and their ms of ``owner_complaints``,
the months' primary keys, their heaps and the co-handling lookup, one-block reads
timed, beside the service's whole statement cold and a page read by parallel workers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, Select, event, literal_column, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
import bench_read

from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.models import SHOWN_COLUMNS, Complaint, Owner, Staff, co_handling_codes
from complaintdesk.services import escalation, queries, search

GENERIC, CUSTOM = "force_generic_plan", "force_custom_plan"
SEARCHES = ["电梯", "漏水", "漏水 楼上", "water", "air conditioning", "water leak"]
FILTERS: list[dict[str, Any]] = [
    {"status": "closed"},
    {"open": False},
    {"status": "received"},
    {"status": "withdrawn"},
    {"category": "emergency"},
    {"repeat": True},
]


def explain(
    connection: Connection, statement: str, params: dict[str, Any], mode: str
) -> dict[str, float]:
    """Execution ms and shared buffers (hit + read) of one statement, prepared."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    body = re.sub(r"%\((\w+)\)s", number, statement).replace("%%", "%")
    name = f"cost_{uuid.uuid4().hex[:10]}"
    raw = connection.connection.driver_connection
    assert raw is not None
    values = ", ".join(sql.Literal(params[n]).as_string(raw) for n in names)
    connection.exec_driver_sql(f"SET plan_cache_mode = {mode}")
    connection.exec_driver_sql(f"PREPARE {name} AS {body}".replace("%", "%%"))
    arguments = f"({values})" if names else ""
    explained = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}{arguments}".replace("%", "%%")
    ).scalar()
    connection.exec_driver_sql(f"DEALLOCATE {name}")
    assert isinstance(explained, list)
    top = explained[0]["Plan"]
    return {
        "ms": float(explained[0]["Execution Time"]),
        "buffers": float(top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)),
        "read": float(top.get("Shared Read Blocks", 0)),
    }


def _label(statement: str) -> str:
    """A statement's name in the cold-owner table: the tables it reads."""
    tables = dict.fromkeys(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", statement))
    return " + ".join(tables) or statement[:40]


def cold_owners(setup: bench_read.Setup, url: str, count: int, limit: int) -> dict[str, Any]:
    """Owner history for ``count`` owners as the API asks it (an administrator, ``limit`` a page):
    every statement the request sends is run first as ``EXPLAIN (ANALYZE, BUFFERS)``
    on the request's own connection, in its transaction, as it is sent (so that run is
    the cold one), then for real. Per statement: shared buffers hit and read (from
    outside shared buffers) and execution ms. The owners are the far end of a fresh
    random sample (``bench_read.prepare``), which ``bench_read`` does not ask, so each
    is most likely one nobody asked since the database was started."""
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    found: dict[str, list[dict[str, float]]] = {}
    explaining = [False]

    @event.listens_for(engine, "before_cursor_execute")
    def first_explain(conn: Connection, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if explaining[0] or not statement.lstrip().startswith(("SELECT", "WITH")):
            return
        explaining[0] = True
        try:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params)
            top = cursor.fetchone()[0][0]
        finally:
            explaining[0] = False
        plan = top["Plan"]
        found.setdefault(_label(statement), []).append({
            "hit": float(plan.get("Shared Hit Blocks", 0)),
            "read": float(plan.get("Shared Read Blocks", 0)),
            "ms": float(top["Execution Time"]),
        })  # fmt: skip

    with factory() as session:
        admin = session.scalars(
            select(Staff).where(
                Staff.company_id == setup.company_id, Staff.username == bench_read.ADMIN_USERNAME
            )
        ).one()
        admin_id = admin.id
    owners = setup.owner_ids[-count:]
    for owner_id in owners:
        with factory() as session:
            actor = session.get_one(Staff, admin_id)
            owner = session.get_one(Owner, owner_id)
            queries.owner_history(session, actor, owner, limit=limit)
            session.commit()
    event.remove(engine, "before_cursor_execute", first_explain)
    engine.dispose()
    rows = {}
    for label, runs in found.items():
        ms = sorted(r["ms"] for r in runs)
        rows[label] = {
            "runs": len(runs),
            "hit_p50": statistics.median(r["hit"] for r in runs),
            "read_p50": statistics.median(r["read"] for r in runs),
            "read_max": max(r["read"] for r in runs),
            "ms_p50": statistics.median(ms),
            "ms_p95": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
            "ms_max": ms[-1],
        }
    return {"owners": len(owners), "limit": limit, "statements": rows}


def compiled(statement: Select[Any]) -> str:
    """``statement`` as PostgreSQL text, its constants written in and the ``$n``
    placeholders it was built with left for ``PREPARE`` (a paramstyle that does not
    double ``%``)."""
    dialect = postgresql.psycopg.dialect(paramstyle="qmark")  # type: ignore[no-untyped-call]
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def service_owner_page() -> str:
    """The statement owner history sends for an administrator (every project), built by
    the service itself (``queries.owner_page``: the owner's newest ids from
    ``owner_complaints``, then their complaints by id with the shown columns and the
    co-handling codes): ``$1`` the owner, ``$2`` the company, ``$3`` the page's ids (their
    complaints read; one id more is counted)."""
    return compiled(
        queries.owner_page(literal_column("$1"), literal_column("$2"), literal_column("$3"))
    )


# Owner history's statement before migration 0015 (the months' merge; no service
# builds it any more) and now (the service's own), as psql runs them.
OWNER_STATEMENTS = {
    "months' merge (before 0015)": (
        "SELECT * FROM complaints WHERE company_id = $2 AND owner_id = $1 ORDER BY id DESC LIMIT $3"
    ),
    "owner_complaints, then by id": service_owner_page(),
}


def _sample_owners(connection: Any, rows: int) -> list[tuple[int, int]]:
    """Distinct (owner, company) pairs from up to ``rows`` sampled complaints
    (``TABLESAMPLE SYSTEM``: a few pages, so owners weighted by their complaints)."""
    sample = connection.execute(
        text(
            "SELECT owner_id, company_id FROM complaints TABLESAMPLE SYSTEM (0.5) "
            "WHERE owner_id IS NOT NULL LIMIT :n"
        ),
        {"n": rows},
    ).all()
    return list(dict((int(o), int(c)) for o, c in sample).items())


def owner_statements(url: str, count: int, limit: int) -> dict[str, dict[str, float]]:
    """Both owner-history statements for ``count`` random owners (a fresh sample), each
    owner asked by one of them (in turn, so each statement asks ``count / 2``),
    prepared with generic plans:
    ``EXPLAIN (ANALYZE, BUFFERS)`` medians of buffers hit and read, execution ms."""
    engine = make_engine(url)
    found: dict[str, list[tuple[float, float, float]]] = {name: [] for name in OWNER_STATEMENTS}
    with engine.connect() as connection:
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        for n, body in enumerate(OWNER_STATEMENTS.values()):
            connection.exec_driver_sql(f"PREPARE owner_{n}(bigint, bigint, int) AS {body}")
        owners = _sample_owners(connection, count * 20)[-count:]
        names = list(OWNER_STATEMENTS)
        for i, (owner, company) in enumerate(owners):
            # Each owner is asked by one statement only, the two in turn: the first to
            # ask would bring the same complaints into memory for the other.
            n, name = i % len(names), names[i % len(names)]
            explained = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                f"EXECUTE owner_{n}({owner}, {company}, {limit + 1})"
            ).scalar()
            assert isinstance(explained, list)
            top = explained[0]
            plan = top["Plan"]
            found[name].append((
                float(plan.get("Shared Hit Blocks", 0)),
                float(plan.get("Shared Read Blocks", 0)),
                float(top["Execution Time"]),
            ))  # fmt: skip
        connection.rollback()
    engine.dispose()
    result = {}
    for name, runs in found.items():
        ms = sorted(r[2] for r in runs)
        result[name] = {
            "owners": len(runs),
            "hit_p50": statistics.median(r[0] for r in runs),
            "read_p50": statistics.median(r[1] for r in runs),
            "read_mean": statistics.mean(r[1] for r in runs),
            "read_max": max(r[1] for r in runs),
            "buffers_p50": statistics.median(r[0] + r[1] for r in runs),
            "ms_p50": statistics.median(ms),
            "ms_p95": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
            "ms_max": ms[-1],
        }
    return result


# Owner history's statement as the service sends it (built by the service, above),
# and its parts one at a time, for ``cold_split``: a complaint's row is the service's
# shown columns and co-handling codes (``models.co_handling_codes``).
_SHOWN = ", ".join(f"c.{name}" for name in SHOWN_COLUMNS)
SPLIT_STATEMENTS = {
    "service": service_owner_page(),
    "ids": (
        "SELECT complaint_id FROM owner_complaints WHERE owner_id = $1 "
        "ORDER BY complaint_id DESC LIMIT $2"
    ),
    "row": compiled(
        select(*(Complaint.__table__.c[name] for name in SHOWN_COLUMNS), co_handling_codes())
        .where(Complaint.id == literal_column("$1"))
        .where(Complaint.company_id + 0 == literal_column("$2"))
    ),
    # Without the codes' subquery: a correlated subplan keeps a plan from parallel
    # workers (the generated databases have no co-handling rows to read).
    "parallel": (
        f"SELECT {_SHOWN} FROM complaints c WHERE c.id = ANY($1) "
        "AND c.company_id + 0 = $2 ORDER BY c.id DESC"
    ),
}
SPLIT_TYPES = {
    "service": "bigint, bigint, int",
    "ids": "bigint, int",
    "row": "bigint, bigint",
    "parallel": "bigint[], bigint",
}
PARALLEL = {
    "plan_cache_mode": "force_custom_plan",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_index_scan_size": "0",
    "min_parallel_table_scan_size": "0",
    "max_parallel_workers_per_gather": "4",
}
SPLIT_PARTS = ("owner_complaints", "primary key", "heap", "co-handling")


def _io(node: dict[str, Any], part: str, into: dict[str, list[float]]) -> None:
    """Shared blocks read (from outside shared buffers) and their I/O ms of ``node``'s
    own work (a node's counts include its children's), added to ``into[part]``: a
    bitmap index scan's to the primary key, a bitmap heap scan's to the heap, a
    subplan's (the co-handling codes) to the co-handling lookup."""
    children = node.get("Plans", [])
    reads = float(node.get("Shared Read Blocks", 0))
    ms = float(node.get("I/O Read Time", 0.0))
    for child in children:
        reads -= float(child.get("Shared Read Blocks", 0))
        ms -= float(child.get("I/O Read Time", 0.0))
    kind = node.get("Node Type")
    if node.get("Parent Relationship") == "SubPlan" or part == "co-handling":
        part = "co-handling"
    elif kind == "Bitmap Index Scan":
        part = "primary key"
    elif kind == "Bitmap Heap Scan":
        part = "heap"
    into.setdefault(part, [0.0, 0.0])
    into[part][0] += reads
    into[part][1] += ms
    for child in children:
        _io(child, part, into)


def _launched(node: dict[str, Any]) -> int:
    """Parallel workers launched anywhere in a plan."""
    return int(node.get("Workers Launched", 0)) + sum(_launched(c) for c in node.get("Plans", []))


def cold_split(url: str, count: int, limit: int) -> dict[str, Any]:
    """Where a cold owner history's time goes, relation by relation. For ``count`` owners
    not asked before (a fresh random sample), on one connection, generic plans: the
    owner's ids (``owner_complaints``, as the service's statement reads them), then each
    complaint alone by id with its co-handling codes, planned as a bitmap scan so that
    the plan counts the primary key's pages (the bitmap index scan) apart from the
    heap's (the bitmap heap scan) and the codes' lookup (its subplan); the service's
    statement reads the same pages by a nested loop of index scans. Each is run as
    ``EXPLAIN (ANALYZE, BUFFERS)`` with ``track_io_timing``: blocks read from outside
    shared buffers and the time spent reading them (from the kernel's page cache, or
    from the disk); a part that reads one block times one read. ``count`` other owners
    are asked first with the service's whole statement, cold, to check that the parts
    add up to it; after the parts, the service's statement again (warm: its own
    execution time without reads). And ``count`` more owners are asked another way,
    to time it against the service's statement: their ids, then their complaints by
    ``id = ANY(ids)`` planned for these ids (the months they are in) with parallel
    workers allowed (``PARALLEL``: up to 4, each reading whole months of the page,
    so that several reads wait at once); planning and execution time of both."""
    engine = make_engine(url)
    parts: list[dict[str, list[float]]] = []
    whole: list[tuple[float, float, float]] = []
    single: dict[str, list[float]] = {"primary key": [], "heap": []}
    executed: list[float] = []
    parallel: list[tuple[float, float, float]] = []

    def explain(connection: Connection, name: str, values: str) -> dict[str, Any]:
        found = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}({values})"
        ).scalar()
        assert isinstance(found, list)
        return dict(found[0])

    with engine.connect() as connection:
        connection.exec_driver_sql("SET track_io_timing = on")
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        for name, body in SPLIT_STATEMENTS.items():
            connection.exec_driver_sql(f"PREPARE split_{name}({SPLIT_TYPES[name]}) AS {body}")
        owners = _sample_owners(connection, count * 40)
        random.Random().shuffle(owners)
        for owner, company in owners[:count]:
            top = explain(connection, "split_service", f"{owner}, {company}, {limit + 1}")
            plan = top["Plan"]
            whole.append((
                float(plan.get("Shared Read Blocks", 0)), float(plan.get("I/O Read Time", 0.0)),
                float(top["Execution Time"]),
            ))  # fmt: skip
        # Other owners: the ids, then their complaints by a custom plan (the months
        # of these ids only) that PostgreSQL may read with parallel workers, each
        # worker a month at a time (Parallel Append): several reads at once.
        for name, value in PARALLEL.items():
            connection.exec_driver_sql(f"SET {name} = {value}")
        for owner, company in owners[2 * count : 3 * count]:
            ids_plan = explain(connection, "split_ids", f"{owner}, {limit + 1}")
            ids = [
                int(r[0])
                for r in connection.exec_driver_sql(f"EXECUTE split_ids({owner}, {limit + 1})")
            ]
            array = "'{" + ",".join(map(str, ids)) + "}'::bigint[]"
            top = explain(connection, "split_parallel", f"{array}, {company}")
            plan = top["Plan"]
            parallel.append((
                float(ids_plan["Plan"].get("Shared Read Blocks", 0))
                + float(plan.get("Shared Read Blocks", 0)),
                float(ids_plan["Execution Time"]) + float(top["Execution Time"])
                + float(top.get("Planning Time", 0.0)),
                float(_launched(plan)),
            ))  # fmt: skip
        for name in PARALLEL:
            connection.exec_driver_sql(f"RESET {name}")
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        # The rows by a bitmap scan, planned at their first EXECUTE (after these SETs);
        # the service's statement's plan was made above and the ids' is made here,
        # before them (an index-only scan, as in the service's statement): both kept.
        connection.exec_driver_sql(f"EXECUTE split_ids(0, {limit + 1})").all()
        connection.exec_driver_sql("SET enable_indexscan = off")
        connection.exec_driver_sql("SET enable_indexonlyscan = off")
        for owner, company in owners[count : 2 * count]:
            into: dict[str, list[float]] = {}
            args = f"{owner}, {limit + 1}"
            _io(explain(connection, "split_ids", args)["Plan"], "owner_complaints", into)
            ids = [int(r[0]) for r in connection.exec_driver_sql(f"EXECUTE split_ids({args})")]
            for complaint_id in ids:
                one: dict[str, list[float]] = {}
                _io(explain(connection, "split_row", f"{complaint_id}, {company}")["Plan"], "", one)
                for part, (reads, ms) in one.items():
                    if reads == 1 and part in single:
                        single[part].append(ms)
                    into.setdefault(part, [0.0, 0.0])
                    into[part][0] += reads
                    into[part][1] += ms
            parts.append(into)
            top = explain(connection, "split_service", f"{owner}, {company}, {limit + 1}")
            executed.append(float(top["Execution Time"]))
        connection.rollback()
    engine.dispose()

    def spread(values: list[float]) -> dict[str, float]:
        ordered = sorted(values) or [0.0]
        return {
            "p50": statistics.median(ordered), "mean": statistics.mean(ordered),
            "p90": ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))],
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "max": ordered[-1], "n": float(len(values)),
        }  # fmt: skip

    by_part = {
        part: {
            "reads": spread([p.get(part, [0.0, 0.0])[0] for p in parts]),
            "io_ms": spread([p.get(part, [0.0, 0.0])[1] for p in parts]),
        }
        for part in SPLIT_PARTS
    }
    by_part["all parts"] = {
        "reads": spread([sum(v[0] for v in p.values()) for p in parts]),
        "io_ms": spread([sum(v[1] for v in p.values()) for p in parts]),
    }
    return {
        "owners": count, "limit": limit, "parts": by_part,
        "one_read_ms": {part: spread(values) for part, values in single.items()},
        "whole": {"reads": spread([w[0] for w in whole]), "io_ms": spread([w[1] for w in whole]),
                  "ms": spread([w[2] for w in whole])},
        "warm_ms": spread(executed),
        "parallel": {"reads": spread([r[0] for r in parallel]),
                     "ms": spread([r[1] for r in parallel]),
                     "workers": spread([r[2] for r in parallel])},
    }  # fmt: skip


def print_split(result: dict[str, Any]) -> None:
    print(f"{'part (per owner)':26} {'reads p50':>9} {'mean':>6} {'max':>5} "
          f"{'I/O ms p50':>10} {'p90':>7} {'p99':>7} {'max':>7}")  # fmt: skip
    rows = [*result["parts"].items(), ("service's statement, cold", result["whole"])]
    for name, r in rows:
        reads, ms = r["reads"], r["io_ms"]
        print(
            f"{name:26} {reads['p50']:9.0f} {reads['mean']:6.1f} {reads['max']:5.0f} "
            f"{ms['p50']:10.2f} {ms['p90']:7.2f} {ms['p99']:7.2f} {ms['max']:7.2f}"
        )
    whole = result["whole"]["ms"]
    print(f"service's statement, cold: execution ms p50 {whole['p50']:.2f} p90 {whole['p90']:.2f} "
          f"p99 {whole['p99']:.2f} max {whole['max']:.2f}; warm (after the parts) p50 "
          f"{result['warm_ms']['p50']:.2f}")  # fmt: skip
    par = result["parallel"]
    print(
        f"ids, then a custom plan with parallel workers (other owners, cold): reads p50 "
        f"{par['reads']['p50']:.0f}, ms (planning + execution of both) p50 {par['ms']['p50']:.2f} "
        f"p90 {par['ms']['p90']:.2f} p99 {par['ms']['p99']:.2f} max {par['ms']['max']:.2f}; "
        f"workers launched p50 {par['workers']['p50']:.0f}"
    )
    for part, r in result["one_read_ms"].items():
        print(
            f"one block read ({part}), ms: n {r['n']:.0f}, p50 {r['p50']:.3f}, "
            f"p90 {r['p90']:.3f}, p99 {r['p99']:.3f}, max {r['max']:.3f}, mean {r['mean']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a database made by generate")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--cold-owners",
        type=int,
        metavar="N",
        help="instead: owner history for N owners not asked before, each statement "
        "explained as it is first sent (buffers read from outside shared buffers)",
    )
    parser.add_argument(
        "--owner-statements",
        type=int,
        metavar="N",
        help="instead: owner history's statement before 0015 and now, N random owners "
        "(psql-level, prepared, generic plans)",
    )
    parser.add_argument(
        "--cold-split",
        type=int,
        metavar="N",
        help="instead: owner history for N owners not asked before, its parts one at a "
        "time (owner_complaints, primary key, heap, co-handling): blocks read and I/O ms",
    )
    parser.add_argument("--limit", type=int, default=20, help="owner history's page")
    args = parser.parse_args()
    if args.cold_split:
        now = datetime.now(UTC)
        print(
            f"{args.db.rsplit('/', 1)[-1]}: owner history, {args.cold_split} owners not asked "
            f"before, page {args.limit}; {now:%H:%M:%S} UTC, load {os.getloadavg()[0]:.1f}"
        )
        split = cold_split(args.db, args.cold_split, args.limit)
        print_split(split)
        if args.json:
            args.json.write_text(json.dumps({"started": now.isoformat()} | split, indent=1))
        return
    if args.owner_statements:
        now = datetime.now(UTC)
        compared = owner_statements(args.db, args.owner_statements, args.limit)
        print(f"owner history's statement, page {args.limit}, {now:%H:%M} UTC")
        print(f"{'statement':30} {'owners':>6} {'buffers':>7} {'hit':>6} {'read':>6} "
              f"{'mean':>6} {'max':>5} {'ms p50':>7} {'p95':>7} {'max':>7}")  # fmt: skip
        for name, r in compared.items():
            print(
                f"{name:30} {r['owners']:6.0f} {r['buffers_p50']:7.0f} {r['hit_p50']:6.0f} "
                f"{r['read_p50']:6.0f} {r['read_mean']:6.1f} {r['read_max']:5.0f} "
                f"{r['ms_p50']:7.2f} {r['ms_p95']:7.2f} {r['ms_max']:7.2f}"
            )
        if args.json:
            args.json.write_text(json.dumps({"started": now.isoformat()} | compared, indent=1))
        return
    setup = bench_read.prepare(args.db)  # the admin, the tokens, the samples
    if args.cold_owners:
        now = datetime.now(UTC)
        result = cold_owners(setup, args.db, args.cold_owners, args.limit)
        print(f"database: {setup.complaints:,} complaints, {setup.size}; {now:%H:%M} UTC")
        print(f"owner history, {result['owners']} owners not asked before, page {args.limit}")
        print(f"{'statement':44} {'runs':>4} {'hit':>6} {'read':>6} {'max':>5} "
              f"{'ms p50':>7} {'p95':>7} {'max':>7}")  # fmt: skip
        for label, r in result["statements"].items():
            print(
                f"{label[:44]:44} {r['runs']:4d} {r['hit_p50']:6.0f} {r['read_p50']:6.0f} "
                f"{r['read_max']:5.0f} {r['ms_p50']:7.2f} {r['ms_p95']:7.2f} {r['ms_max']:7.2f}"
            )
        if args.json:
            args.json.write_text(json.dumps({"started": now.isoformat()} | result, indent=1))
        return
    engine = make_engine(args.db)
    factory = make_sessionmaker(engine)
    sent: list[tuple[str, dict[str, Any]]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def keep(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().startswith(("SELECT", "WITH")) and "complaints" in statement:
            sent.append((statement, dict(params or {})))

    now = datetime.now(UTC)
    with factory() as session:
        admin_id = session.scalar(
            select(Staff.id).where(
                Staff.company_id == setup.company_id, Staff.username == bench_read.ADMIN_USERNAME
            )
        )
        supervisor_id = session.scalar(
            text(
                "SELECT s.id FROM staff s JOIN staff_projects p ON p.staff_id = s.id "
                "WHERE p.project_id = :p AND s.role = 'supervisor' ORDER BY s.id LIMIT 1"
            ),
            {"p": setup.project_id},
        )

    def staff(session: Session, staff_id: Any) -> Staff:
        found = session.get(Staff, staff_id)
        assert found is not None
        return found

    flt = queries.ComplaintFilter
    reads: list[tuple[str, str, Callable[[Session, int], object]]] = [
        ("agent queue (20)", GENERIC,
         lambda s, n: queries.queue_page(s, staff(s, setup.agent_id), limit=20)),
        ("owner history", GENERIC,
         lambda s, n: queries.owner_history(
             s, staff(s, admin_id), s.get_one(Owner, setup.owner_ids[n]), limit=100)),
        ("project overdue list", GENERIC,
         lambda s, n: queries.project_overdue(
             s, staff(s, supervisor_id), setup.project_id, now, limit=100)),
        ("timeline", GENERIC,
         lambda s, n: queries.timeline(s, s.get_one(Complaint, setup.complaint_ids[n]))),
        ("sweeper due list (200)", CUSTOM, lambda s, n: escalation._claim_due(s, now, 200)),
        ("list first page (20)", GENERIC,
         lambda s, n: queries.list_complaints(s, staff(s, admin_id), flt(), now, limit=20)),
        ("list deep page (20)", GENERIC,
         lambda s, n: queries.list_complaints(
             s, staff(s, admin_id), flt(), now, limit=20, cursor=setup.deep_cursor - n)),
    ]  # fmt: skip

    def listed(values: dict[str, Any]) -> Callable[[Session, int], object]:
        return lambda s, n: queries.list_complaints(
            s, staff(s, admin_id), flt(**values), now, limit=20
        )

    def searched(q: str, sort: search.SearchSort) -> Callable[[Session, int], object]:
        within = flt(project_id=setup.project_id)
        return lambda s, n: search.search(s, staff(s, supervisor_id), q, within, now, sort=sort)

    for values in FILTERS:
        label = ", ".join(f"{k}={str(v).lower()}" for k, v in values.items())
        reads.append((label, GENERIC, listed(values)))
    frm, to = setup.week_two_years_ago
    reads.append(
        ("one week two years ago", GENERIC, listed({"received_from": frm, "received_to": to}))
    )
    for q in SEARCHES:
        for sort in search.SearchSort:
            reads.append((f"search {q}, {sort.value}", CUSTOM, searched(q, sort)))

    print(f"database: {setup.complaints:,} complaints, {setup.size}; {args.calls} calls a read")
    print(f"{'read':40} {'stmts':>5} {'buffers':>8} {'read':>6} {'exec ms':>8}")
    figures = []
    for name, mode, call in reads:
        totals = []
        for n in range(args.calls):
            sent.clear()
            with factory() as session:
                call(session, n)
                session.rollback()
            with engine.connect() as connection:
                costs = [explain(connection, st, params, mode) for st, params in list(sent)]
                connection.rollback()
            totals.append({k: sum(c[k] for c in costs) for k in ("ms", "buffers", "read")} | {
                "statements": float(len(costs))})  # fmt: skip
        row = {k: statistics.median(t[k] for t in totals) for k in totals[0]}
        figures.append({"name": name} | row)
        print(
            f"{name[:40]:40} {row['statements']:5.0f} {row['buffers']:8.0f} {row['read']:6.0f} "
            f"{row['ms']:8.2f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(
            {"database": setup.complaints, "size": setup.size, "started": now.isoformat(),
             "figures": figures}, ensure_ascii=False, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
