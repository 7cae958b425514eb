"""history partitioned by month on PostgreSQL (complaints, events, follow-ups and
visits by ranges of their time-ordered ids); CHECK constraints on codes; JSONB for
every JSON column. SQLite: nothing (it stays the embedded, unpartitioned default).

Each table is rebuilt: a partitioned twin with the same columns, its months (those
holding rows, this one and the next ones) and a default partition, the rows copied,
the old table dropped and the twin renamed; then its constraints, indexes (local to
each month) and the foreign keys that pointed at it are made again from what the
catalogue said before (a unique key must include the partition key: none here but
the primary keys, which are the id).

Offline on a large database: the copy rewrites the tables (see docs/capacity.md).

Not in alembic's offline mode (``--sql``): the rebuild reads the live catalogue (the
constraints, indexes and foreign keys each table has, the months that hold rows), so
there is no fixed script to print; it refuses with that reason. No downgrade in
place: going back would copy all history into unpartitioned tables again under the
same locks as the upgrade, with nothing gained over restoring the backup taken before
it (docs/operations.md); it refuses with that reason.

Revision ID: 0008
Revises: 0007
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from complaintdesk.db import partitions
from complaintdesk.db.ids import id_time
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.taxonomy import Category, Channel, Department, Nature, Urgency

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CODES = {
    "status": Status,
    "nature": Nature,
    "category": Category,
    "urgency": Urgency,
    "department": Department,
    "channel": Channel,
}
_LABEL_SOURCES = ("auto", "staff", "rule", "import")
_OUTBOX_STATUS = ("pending", "sending", "sent", "failed")


def _rows(conn: sa.Connection, sql: str, **params: object) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sa.text(sql), params)]


def _columns(definition: str) -> list[str]:
    inside = definition[definition.index("(") + 1 : definition.index(")")]
    return [c.strip().strip('"') for c in inside.split(",")]


def _partition(conn: sa.Connection, table: str, months: list[datetime]) -> None:
    key = partitions.PARTITIONED[table]
    own = _rows(
        conn,
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(:t) AND conparentid = 0 ORDER BY contype = 'f', conname",
        t=table,
    )
    incoming = _rows(
        conn,
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE confrelid = to_regclass(:t) AND conrelid <> confrelid "
        "AND contype = 'f' AND conparentid = 0",
        t=table,
    )
    constraint_names = {name for name, _, _ in own}
    indexes = [
        (name, definition)
        for name, definition in _rows(
            conn,
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = :t",
            t=table,
        )
        if name not in constraint_names
    ]
    options = conn.scalar(
        sa.text("SELECT reloptions FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    )
    twin = f"{table}__partitioned"
    conn.execute(
        sa.text(
            f"CREATE TABLE {twin} (LIKE {table} INCLUDING DEFAULTS INCLUDING STORAGE) "
            f"PARTITION BY RANGE ({key})"
        )
    )
    with_options = f" WITH ({', '.join(options)})" if options else ""
    for month in months:
        low, high = partitions.bounds(month)
        conn.execute(
            sa.text(
                f"CREATE TABLE {partitions.partition_name(table, month)} PARTITION OF {twin} "
                f"FOR VALUES FROM ({low}) TO ({high}){with_options}"
            )
        )
    conn.execute(sa.text(f"CREATE TABLE {table}_default PARTITION OF {twin} DEFAULT"))
    conn.execute(sa.text(f"INSERT INTO {twin} SELECT * FROM {table}"))
    conn.execute(sa.text(f"DROP TABLE {table} CASCADE"))
    conn.execute(sa.text(f"ALTER TABLE {twin} RENAME TO {table}"))

    primary_key: list[str] = []
    for name, kind, definition in own:
        if kind in ("p", "u"):
            columns = _columns(definition)
            if key not in columns:
                columns = [key, *columns]
            if kind == "p":
                primary_key = columns
            word = "PRIMARY KEY" if kind == "p" else "UNIQUE"
            definition = f"{word} ({', '.join(columns)})"
        conn.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for _name, definition in indexes:
        columns = _columns(definition[definition.index(" USING ") :])
        if columns == primary_key and " WHERE " not in definition:
            continue  # the primary key (complaint_id, id) is this index now
        conn.execute(sa.text(re.sub(r" ON (ONLY )?", " ON ", definition, count=1)))
    for source, name, definition in incoming:
        conn.execute(sa.text(f'ALTER TABLE {source} ADD CONSTRAINT "{name}" {definition}'))


def _months(conn: sa.Connection) -> list[datetime]:
    """The months that hold complaints, this month and the next ones."""
    now = partitions.month_start(datetime.now(UTC))
    first = last = now
    low, high = conn.execute(sa.text("SELECT min(id), max(id) FROM complaints")).one()
    if low is not None:
        first = min(first, partitions.month_start(id_time(low)))
        last = max(last, partitions.month_start(id_time(high)))
    last = max(last, partitions.add_months(now, partitions.AHEAD_MONTHS))
    months = [first]
    while months[-1] < last:
        months.append(partitions.add_months(months[-1], 1))
    return months


def _check(table: str, column: str, values: Sequence[str], nullable: bool = False) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    test = f"{column} IN ({listed})"
    if nullable:
        test = f"{column} IS NULL OR {test}"
    return f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{column}_code CHECK ({test})"


def upgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError(
            "0008 rebuilds tables from what the live catalogue holds (constraints, "
            "indexes, months with rows): run it online, not with --sql"
        )
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    months = _months(conn)
    for table in partitions.PARTITIONED:
        _partition(conn, table, months)
    for column, enum in _CODES.items():
        conn.execute(sa.text(_check("complaints", column, [c.value for c in enum])))
    conn.execute(sa.text(_check("complaints", "label_source", _LABEL_SOURCES)))
    conn.execute(sa.text(_check("outbox", "status", _OUTBOX_STATUS)))
    # Every JSON column as JSONB (0003 converted the complaint and event ones).
    for table, column in _rows(
        conn,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type = 'json' AND table_name NOT IN "
        "(SELECT relname FROM pg_class WHERE relispartition)",
    ):
        conn.execute(
            sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # nothing was done on SQLite
    # Going back would copy all history into unpartitioned tables under the same
    # locks as the upgrade; restoring the backup taken before it is the same and safer.
    raise NotImplementedError("0008 is not reversible in place: restore from a backup")
