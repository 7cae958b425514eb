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
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, event, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
import bench_read

from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.models import Complaint, Owner, Staff
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
        if explaining[0] or not statement.lstrip().startswith("SELECT"):
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


# Owner history's statement before migration 0015 (the months' merge) and now (the
# owner's ids from owner_complaints, then the complaints by id), as psql runs them.
OWNER_STATEMENTS = {
    "months' merge (before 0015)": (
        "SELECT * FROM complaints WHERE company_id = $2 AND owner_id = $1 ORDER BY id DESC LIMIT $3"
    ),
    "owner_complaints, then by id": (
        "SELECT newest.id, complaints.* FROM (SELECT complaint_id AS id FROM owner_complaints "
        "WHERE owner_id = $1 ORDER BY complaint_id DESC LIMIT $3) AS newest "
        "LEFT OUTER JOIN complaints ON complaints.id = newest.id "
        "AND complaints.company_id + 0 = $2 "
        "ORDER BY newest.id DESC"
    ),
}


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
        sample = connection.execute(
            text(
                "SELECT owner_id, company_id FROM complaints TABLESAMPLE SYSTEM (0.5) "
                "WHERE owner_id IS NOT NULL LIMIT :n"
            ),
            {"n": count * 20},
        ).all()
        owners = list(dict((int(o), int(c)) for o, c in sample).items())[-count:]
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
    parser.add_argument("--limit", type=int, default=20, help="owner history's page")
    args = parser.parse_args()
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
        if statement.lstrip().startswith("SELECT") and "complaints" in statement:
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
