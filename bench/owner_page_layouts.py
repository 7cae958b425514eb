"""An owner's history page read cold, from today's layout and from copies of the shown
columns laid out beside the owner: what a schema change would buy, measured before
making it (docs/capacity.md, the read path, session 10).

    .venv/bin/python bench/owner_page_layouts.py --db postgresql://root@127.0.0.1:5432/read_1m \
        [--owners 40] [--limit 20] [--keep]

Copies every complaint's owner, id and shown columns (``models.SHOWN_COLUMNS``, what a
page of owner history answers) from ``--db`` into a scratch database
(``owner_page_layouts``, dropped at the end unless ``--keep``), twice:

- ``by_time``: rows in id order, as a table kept by a trigger at insert would hold
  them (an owner's rows a month apart), primary key ``(owner_id, complaint_id)``;
- ``by_owner``: the same rows written in owner order (as ``CLUSTER`` would leave them:
  an owner's rows side by side on one or two pages).

Then, after ``sync``, every file of the scratch database and of ``--db``'s
complaints (heap and primary keys) is dropped from the kernel's page cache
(``posix_fadvise(DONTNEED)``: nothing is written, PostgreSQL's own shared buffers are
untouched, so a read reports ``read`` only for blocks not in them), and ``--owners``
owners are asked a page of ``--limit`` each way, each owner one way only (different
random owners per way, so that no way warms another's pages), as
``EXPLAIN (ANALYZE, BUFFERS)`` with ``track_io_timing``:

1. today's statement on ``--db``, the service's own (built by ``queries.owner_page``:
   ``owner_complaints``, then the complaints by id with their co-handling codes: a
   nested loop of index scans, one month after another);
2. ``by_time`` by its primary key (an index scan: one heap page after another);
3. ``by_time`` by a bitmap heap scan of the page's ids, ``effective_io_concurrency``
   1 (no prefetch) and 4. 64 (the heap pages asked of the kernel ahead, several at
   once);
5. ``by_owner`` by its primary key.

Printed per way: blocks read (from outside shared buffers), execution ms p50 / p90 /
p99 / max; and each copy's bytes a complaint (heap, primary key). Run in a quiet
window: the figures are the disk's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from complaintdesk.db.models import SHOWN_COLUMNS
from complaintdesk.services import queries

SCRATCH = "owner_page_layouts"
COLUMNS = ", ".join(SHOWN_COLUMNS)
SERVICE = str(
    # Today's statement as the service builds it (``queries.owner_page``: the ids from
    # owner_complaints, then the complaints by id with the shown columns and the
    # co-handling codes), its constants written in, the owner, company and page left
    # as parameters; a paramstyle that does not double ``%``.
    queries.owner_page(*(literal_column(f"%({p})s") for p in ("owner", "company", "n"))).compile(
        dialect=postgresql.psycopg.dialect(paramstyle="qmark"),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
)
BY_KEY = (
    "SELECT {columns} FROM {table} WHERE owner_id = %(owner)s "
    "ORDER BY complaint_id DESC LIMIT %(n)s"
)
BY_BITMAP = (
    "SELECT {columns} FROM {table} WHERE owner_id = %(owner)s AND complaint_id = ANY(ARRAY("
    "SELECT complaint_id FROM {table} WHERE owner_id = %(owner)s "
    "ORDER BY complaint_id DESC LIMIT %(n)s)) ORDER BY complaint_id DESC"
)


def url_of(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(False)


@contextmanager
def connect(url: str, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=autocommit) as connection:
        yield connection


def build(source: str, scratch: str) -> dict[str, float]:
    """The two copies, filled from ``source``; their bytes a complaint."""
    with connect(scratch, autocommit=True) as into, connect(source) as out:
        types = out.execute(
            "SELECT string_agg(quote_ident(attname) || ' ' || "
            "format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute "
            "WHERE attrelid = 'complaints'::regclass AND attname = ANY(%s)",
            (list(SHOWN_COLUMNS),),
        ).fetchone()
        assert types is not None
        for table in ("by_time", "by_owner"):
            into.execute(f"CREATE TABLE {table} ({types[0]})")
        # Both by COPY, whose writes pass through a small ring of shared buffers: the
        # copies are not left in PostgreSQL's memory (an INSERT's would be).
        for table, order in (("by_time", "id"), ("by_owner", "owner_id, id")):
            with (
                out.cursor().copy(
                    f"COPY (SELECT {COLUMNS} FROM complaints WHERE owner_id IS NOT NULL "
                    f"ORDER BY {order}) TO STDOUT (FORMAT BINARY)"
                ) as reading,
                into.cursor().copy(
                    f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
                ) as writing,
            ):
                for chunk in reading:
                    writing.write(chunk)
            into.execute(f"ALTER TABLE {table} RENAME COLUMN id TO complaint_id")
        sizes: dict[str, float] = {}
        for table in ("by_time", "by_owner"):
            into.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (owner_id, complaint_id)")
            into.execute(f"VACUUM ANALYZE {table}")
            rows, heap, key = into.execute(
                f"SELECT count(*), pg_relation_size('{table}'), "
                f"pg_relation_size('{table}_pkey') FROM {table}"
            ).fetchone()  # type: ignore[misc]
            sizes[f"{table} heap bytes a complaint"] = heap / rows
            sizes[f"{table} key bytes a complaint"] = key / rows
            sizes["rows"] = rows
    return sizes


def drop_from_page_cache(url: str, only_complaints: bool) -> int:
    """``sync``, then drop the database's files (or its complaints' heap and primary
    keys) from the kernel's page cache. Returns the files dropped."""
    subprocess.run(["sync"], check=True)
    with connect(url) as connection:
        data = Path(str(connection.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
        where = (
            "(c.relname ~ '^complaints_[0-9_]+(_pkey)?$' OR c.relname LIKE 'owner_complaints%%' "
            "OR c.relname = 'pk_owner_complaints')"
            if only_complaints
            else "true"
        )
        paths = [
            r[0]
            for r in connection.execute(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
                f"WHERE c.relkind IN ('r', 'i') AND {where} "
                "AND pg_relation_filepath(c.oid) IS NOT NULL"
            )
        ]
    dropped = 0
    for relative in paths:
        first = data / relative
        for path in [first, *first.parent.glob(f"{first.name}.*")]:
            if not path.is_file():
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                dropped += 1
            finally:
                os.close(fd)
    return dropped


def explain(connection: psycopg.Connection[Any], statement: str, params: dict[str, Any]) -> Any:
    found = connection.execute(
        sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + sql.SQL(statement),
        params,
    ).fetchone()
    assert found is not None
    top = found[0][0]
    plan = top["Plan"]
    return (
        float(plan.get("Shared Read Blocks", 0)),
        float(plan.get("I/O Read Time", 0.0)),
        float(top["Execution Time"]),
    )


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": statistics.median(ordered), "p90": at(0.9), "p99": at(0.99),
            "max": ordered[-1], "mean": statistics.mean(ordered)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a database made by generate")
    parser.add_argument("--owners", type=int, default=40, help="owners asked each way")
    parser.add_argument("--limit", type=int, default=20, help="a page")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="the scratch database is there")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    admin = url_of(args.db, "postgres")
    scratch = url_of(args.db, SCRATCH)
    started = datetime.now(UTC)
    if not args.reuse:
        with connect(admin, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
            c.execute(f"CREATE DATABASE {SCRATCH}")
        sizes = build(args.db, scratch)
    else:
        sizes = {}
    with connect(args.db) as c:
        sample = c.execute(
            "SELECT DISTINCT owner_id, company_id FROM complaints TABLESAMPLE SYSTEM (1) "
            "WHERE owner_id IS NOT NULL"
        ).fetchall()
    owners = [(int(o), int(co)) for o, co in sample]
    random.Random().shuffle(owners)
    ways = ["today's statement (--db)", "by_time, index scan", "by_time, bitmap, eio 1",
            "by_time, bitmap, eio 64", "by_owner, index scan"]  # fmt: skip
    need = len(ways) * args.owners
    if len(owners) < need:
        raise SystemExit(f"{len(owners)} owners sampled, {need} needed")
    files = drop_from_page_cache(scratch, False) + drop_from_page_cache(args.db, True)
    print(
        f"{args.db.rsplit('/', 1)[-1]}: {sizes.get('rows', 0):,.0f} complaints copied; "
        f"{files} files dropped from the page cache; {datetime.now(UTC):%H:%M:%S} UTC, "
        f"load {os.getloadavg()[0]:.1f}; {args.owners} owners a way, page {args.limit}"
    )
    results: dict[str, dict[str, Any]] = {}
    n = args.limit + 1
    with connect(args.db) as source, connect(scratch) as copy:
        for connection in (source, copy):
            connection.execute("SET track_io_timing = on")
        for i, way in enumerate(ways):
            chosen = owners[i * args.owners : (i + 1) * args.owners]
            runs = []
            for owner, company in chosen:
                params = {"owner": owner, "company": company, "n": n}
                if i == 0:
                    runs.append(explain(source, SERVICE, params))
                    continue
                table = "by_owner" if "by_owner" in way else "by_time"
                columns = COLUMNS.replace("id,", "complaint_id,", 1)
                if "bitmap" in way:
                    copy.execute("SET enable_indexscan = off")
                    copy.execute(f"SET effective_io_concurrency = {way.rsplit(' ', 1)[1]}")
                    statement = BY_BITMAP
                else:
                    copy.execute("RESET enable_indexscan")
                    statement = BY_KEY
                runs.append(explain(copy, statement.format(columns=columns, table=table), params))
            results[way] = {
                "reads": quantiles([r[0] for r in runs]),
                "io_ms": quantiles([r[1] for r in runs]),
                "ms": quantiles([r[2] for r in runs]),
            }
        source.rollback()
        copy.rollback()
    print(f"{'way':28} {'reads p50':>9} {'max':>4} {'I/O ms p50':>10} "
          f"{'ms p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")  # fmt: skip
    for way, r in results.items():
        print(
            f"{way:28} {r['reads']['p50']:9.0f} {r['reads']['max']:4.0f} "
            f"{r['io_ms']['p50']:10.2f} {r['ms']['p50']:7.2f} {r['ms']['p90']:7.2f} "
            f"{r['ms']['p99']:7.2f} {r['ms']['max']:7.2f}"
        )
    for name, value in sizes.items():
        if name != "rows":
            print(f"{name}: {value:.0f}")
    if args.json:
        args.json.write_text(
            json.dumps({"started": started.isoformat(), "sizes": sizes} | results, indent=1)
        )
    if not args.keep:
        with connect(admin, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")


if __name__ == "__main__":
    main()
