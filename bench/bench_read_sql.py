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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a database made by generate")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    setup = bench_read.prepare(args.db)  # the admin, the tokens, the samples
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
