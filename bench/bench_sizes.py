"""Bytes on disk a complaint of an existing database, table by table and month by month,
from the catalogue only (no table is read whole: fit for 30 million complaints).

    .venv/bin/python bench/bench_sizes.py --db postgresql://root@127.0.0.1:5432/read_30m \
        [--complaints N] [--json FILE]

Per table (a partitioned one summed over its partitions, the default and the months
made ahead included): heap, TOAST (with its index) and indexes, and rows (the planner's
``reltuples``, as the last ``ANALYZE`` or ``VACUUM`` left it: an estimate), each divided
by the complaints (``count(*)`` of complaints unless ``--complaints`` gives it).
``pg_database_size`` beside them. Then, month by month, the four partitioned
tables' partitions of that month (complaints, events, follow-ups, visits) divided by
the month's complaints (``reltuples`` of its complaints partition), and the events
rows a complaint: what a month costs folded (``db compact --fold``) or not. The
unpartitioned tables that grow with complaints (``owner_complaints``, ``sla_checks``,
``outbox``, ``owner_links``, ``complaint_departments``) are a complaint's share of the
whole, printed once (``per complaint, unpartitioned``).

The history tables are those :data:`bench_bytes.TABLES` counts (the write path's
bytes a complaint); the organisation's tables are printed apart and not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from bench_bytes import ORG, TABLES

PARTITIONED = ("complaints", "events", "follow_ups", "visits")

SIZES = """
SELECT CAST(COALESCE(sum(pg_relation_size(c.oid)), 0) AS bigint),
       CAST(COALESCE(sum(COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0)), 0)
            AS bigint),
       CAST(COALESCE(sum(pg_indexes_size(c.oid)), 0) AS bigint),
       CAST(COALESCE(sum(GREATEST(c.reltuples, 0)), 0) AS bigint)
FROM pg_class c
WHERE c.oid = to_regclass(%(t)s) AND c.relkind = 'r'
   OR c.oid IN (SELECT relid FROM pg_partition_tree(to_regclass(%(t)s)) WHERE isleaf)
"""

MONTHS = """
SELECT substring(c.relname from '_(\\d{4}_\\d{2})$') AS month, p.relname,
       pg_relation_size(c.oid),
       COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0),
       pg_indexes_size(c.oid), GREATEST(c.reltuples, 0)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = ANY(%(tables)s) AND c.relname ~ '_\\d{4}_\\d{2}$'
ORDER BY 1, 2
"""


def _one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row


def measure(url: str, complaints: int | None) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        if complaints is None:
            complaints = int(_one(conn, "SELECT count(*) FROM complaints")[0])
        database = int(_one(conn, "SELECT pg_database_size(current_database())")[0])
        tables: dict[str, dict[str, int]] = {}
        for table in (*TABLES, *ORG):
            if _one(conn, "SELECT to_regclass(%s)", (table,))[0] is None:
                continue
            heap, toast, idx, rows = _one(conn, SIZES, {"t": table})
            tables[table] = {"heap": heap, "toast": toast, "indexes": idx, "rows": rows}
        months: dict[str, dict[str, dict[str, int]]] = {}
        for month, table, heap, toast, idx, rows in conn.execute(
            MONTHS, {"tables": list(PARTITIONED)}
        ):
            months.setdefault(month, {})[table] = {
                "heap": heap,
                "toast": toast,
                "indexes": idx,
                "rows": int(rows),
            }
    return {
        "url": url,
        "complaints": complaints,
        "database_bytes": database,
        "tables": tables,
        "months": months,
    }


def report(m: dict[str, Any]) -> None:
    n = m["complaints"]
    print(
        f"{m['url']}: {n:,} complaints, pg_database_size {m['database_bytes']:,} bytes, "
        f"{m['database_bytes'] / n:,.0f} a complaint"
    )
    print(f"  {'table':<24}{'rows/c':>8}{'heap':>8}{'toast':>8}{'indexes':>9}{'total':>9}")
    total = 0.0
    for table, s in m["tables"].items():
        per = (s["heap"] + s["toast"] + s["indexes"]) / n
        if table in TABLES:
            total += per
        print(
            f"  {table:<24}{s['rows'] / n:8.2f}{s['heap'] / n:8.0f}{s['toast'] / n:8.0f}"
            f"{s['indexes'] / n:9.0f}{per:9.0f}"
            + ("" if table in TABLES else "  (organisation, not counted)")
        )
    print(f"  {'complaint with its lifecycle':<49}{total:9.0f}  (target <= 2,560)")
    shared = sum(
        s["heap"] + s["toast"] + s["indexes"]
        for t, s in m["tables"].items()
        if t in TABLES and t not in PARTITIONED
    )
    print(f"  per complaint, unpartitioned (counted in each month below): {shared / n:,.0f}")
    print(
        f"  {'month':<9}{'complaints':>11}{'events/c':>9}"
        + "".join(f"{t:>12}" for t in PARTITIONED)
        + f"{'with shared':>12}"
    )
    for month, parts in m["months"].items():
        c = parts.get("complaints", {}).get("rows", 0)
        if c < 1000:
            continue  # months made ahead, nearly empty
        per = {
            t: (parts[t]["heap"] + parts[t]["toast"] + parts[t]["indexes"]) / c
            for t in PARTITIONED
            if t in parts
        }
        events = parts.get("events", {}).get("rows", 0) / c
        print(
            f"  {month:<9}{c:11,}{events:9.2f}"
            + "".join(f"{per.get(t, 0):12.0f}" for t in PARTITIONED)
            + f"{sum(per.values()) + shared / n:12.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--complaints", type=int, help="skip the count(*)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    m = measure(args.db, args.complaints)
    report(m)
    if args.json:
        args.json.write_text(json.dumps(m, indent=1))


if __name__ == "__main__":
    main()
