"""Schema changes that keep a large PostgreSQL database in use while they run.

A migration that builds an index or fills a table in one transaction holds its locks
until it commits: 0016's new index on events stopped every read and write of events
for 30.6 s at ten million complaints, 0015's backfill every write of complaints for
18-23 s (docs/operations.md, "Upgrading a large database"); at 300 million, minutes.
The two steps here take a lock only for a moment each:

- :func:`build_index` makes an index on a partitioned table one partition at a time
  (``CREATE INDEX CONCURRENTLY`` on each month, then ``ATTACH PARTITION`` to an index
  made ``ON ONLY`` the parent), and, when it replaces an index, drops the old one and
  renames the new one in two short statements at the end;
- :func:`fill_by_partition` runs an ``INSERT … SELECT`` once for each partition of the
  table it reads, each its own transaction.

Both must run outside a transaction (a migration's ``op.get_context().autocommit_block()``)
and can be run again after an interruption: a half-built partition's index (left
invalid) is dropped and built again, one already built is kept, rows already copied
are skipped by the caller's ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

LOCK_TIMEOUT = "2s"
"""How long a moment's lock may wait for the queries before it: a statement that waits
for a lock makes every later query of the table wait behind it, so it gives up soon and
tries again (:data:`LOCK_ATTEMPTS` times)."""

LOCK_ATTEMPTS = 30


def partitions(connection: Connection, table: str) -> list[str]:
    """``table``'s partitions, by name (none when it is not partitioned)."""
    return list(
        connection.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(:t) ORDER BY c.relname"
            ),
            {"t": table},
        )
    )


def _index(connection: Connection, name: str) -> tuple[bool, str | None] | None:
    """(valid, the partitioned index it is attached to) of index ``name``, or None."""
    row = connection.execute(
        text(
            "SELECT x.indisvalid, p.relname FROM pg_index x "
            "LEFT JOIN pg_inherits i ON i.inhrelid = x.indexrelid "
            "LEFT JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE x.indexrelid = to_regclass(:n)"
        ),
        {"n": name},
    ).first()
    return None if row is None else (bool(row[0]), row[1])


def _on(connection: Connection, name: str) -> str:
    """The keys of index ``name`` as its definition lists them (``a, b``; expressions
    as PostgreSQL spells them: ``project_id, to_tsvector('simple'::regconfig, t)``)."""
    definition = str(
        connection.scalar(text("SELECT pg_get_indexdef(to_regclass(:n))"), {"n": name})
    )
    keys = definition.split(" USING ", 1)[1]
    return keys[keys.index("(") + 1 : keys.rindex(")")]


def _attached_child(connection: Connection, parent: str, partition: str) -> str | None:
    """The index of ``partition`` already attached to ``parent``, if any (one made by
    PostgreSQL itself when the partition was created after ``parent``)."""
    name = connection.scalar(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE i.inhparent = to_regclass(:p) AND x.indrelid = to_regclass(:t)"
        ),
        {"p": parent, "t": partition},
    )
    return None if name is None else str(name)


def _lock_timeout(error: Exception) -> bool:
    """Whether ``error`` is PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    cause = getattr(error, "orig", error)
    return getattr(cause, "sqlstate", None) == "55P03"


def with_short_locks(
    connection: Connection,
    step: str | Callable[[Connection], object],
    *,
    timeout: str = LOCK_TIMEOUT,
    attempts: int = LOCK_ATTEMPTS,
) -> None:
    """Run ``step`` (a statement, or a function of the connection, that takes a strong
    lock for a moment) with a lock timeout (:data:`LOCK_TIMEOUT`), again after a pause
    while other queries hold the table (:data:`LOCK_ATTEMPTS` times in all); the last
    attempt's lock timeout is raised."""
    connection.execute(text(f"SET lock_timeout = '{timeout}'"))
    try:
        for attempt in range(attempts):
            try:
                if isinstance(step, str):
                    connection.execute(text(step))
                else:
                    step(connection)
                return
            except (OperationalError, psycopg.errors.LockNotAvailable) as error:
                if not _lock_timeout(error) or attempt == attempts - 1:
                    raise
                time.sleep(min(0.5 * (attempt + 1), 5.0))
    finally:
        connection.execute(text("RESET lock_timeout"))


def build_index(
    connection: Connection,
    table: str,
    name: str,
    columns: Sequence[str],
    *,
    replace: bool = False,
    using: str = "btree",
    names: Sequence[str] | None = None,
) -> list[str]:
    """Make index ``name`` on ``columns`` of the partitioned ``table`` without holding
    its writers (or, for the old index's drop, its readers) for more than a moment.
    With ``replace``, an existing index called ``name`` is dropped once the new one is
    whole, and the new one takes its name. ``using``: the access method; ``columns``
    may be expressions, spelt as ``pg_get_indexdef`` spells them, and then ``names``
    gives the words the partitions' index names are made of, as PostgreSQL makes them
    (``project_id``, ``to_tsvector`` for ``project_id, to_tsvector(…)``). Returns the
    partitions' indexes built."""
    cols = ", ".join(columns)
    method = "" if using == "btree" else f" USING {using}"
    building = f"{name}_new"[:63]
    if _index(connection, name) is not None and (not replace or _on(connection, name) == cols):
        return []  # there already (a run before this one got as far as the rename)
    with_short_locks(
        connection, f"CREATE INDEX IF NOT EXISTS {building} ON ONLY {table}{method} ({cols})"
    )
    built = []
    for partition in partitions(connection, table):
        if _attached_child(connection, building, partition) is not None:
            continue
        child = _child_name(connection, partition, names or columns, cols)
        state = _index(connection, child)
        if state is not None and not state[0]:
            connection.execute(text(f"DROP INDEX CONCURRENTLY {child}"))
            state = None
        if state is None:
            connection.execute(
                text(f"CREATE INDEX CONCURRENTLY {child} ON {partition}{method} ({cols})")
            )
            built.append(child)
        with_short_locks(connection, f"ALTER INDEX {building} ATTACH PARTITION {child}")
    state = _index(connection, building)
    if state is None or not state[0]:
        raise RuntimeError(f"{building} is not whole after every partition's index: not swapped")

    def swap(conn: Connection) -> None:
        # The old index goes and the new one takes its name in one transaction: never
        # a moment without either.
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.transaction():
            old = raw.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if old is not None and old[0] is not None:
                raw.execute(f"DROP INDEX {name}")
            raw.execute(f"ALTER INDEX {building} RENAME TO {name}")

    with_short_locks(connection, swap)
    return built


def _child_name(
    connection: Connection, partition: str, columns: Sequence[str], keys: str | None = None
) -> str:
    """The name of ``partition``'s index on ``columns`` (or, for expressions, on
    ``keys`` named by the words ``columns``), as PostgreSQL would name it
    (``…_complaint_id_idx``, then ``…_idx1``, … while a name is taken by another
    index), or the name of one left unattached on the same keys by an interrupted
    run (:func:`build_index` builds it again if it is invalid)."""
    keys = ", ".join(columns) if keys is None else keys
    base = f"{partition}_{'_'.join(columns)}_idx"
    for n in range(100):
        suffix = str(n) if n else ""
        name = base[: 63 - len(suffix)] + suffix
        state = _index(connection, name)
        if state is None:
            return name
        if state[1] is None and _on(connection, name) == keys:
            return name
    raise RuntimeError(f"no free name for an index of {partition} on {columns}")


def fill_by_partition(connection: Connection, source: str, statement: str) -> int:
    """Run ``statement`` (an ``INSERT … SELECT … FROM {source} …``) once for each of
    ``source``'s partitions in turn, ``{source}`` replaced by the partition (by the
    table itself when it has none), each in its own transaction. Returns the rows.

    The partitions are listed again after each pass until one finds none new: a month
    that ``serve``'s maintenance makes meanwhile is filled too. (It may be a month whose
    rows it moved out of the default partition with triggers off: read before the
    move, the default partition still held them; after it, they are in the new month.)"""
    rows = 0
    done: set[str] = set()
    while todo := [p for p in partitions(connection, source) or [source] if p not in done]:
        for part in todo:
            rows += connection.execute(text(statement.format(source=part))).rowcount or 0
            done.add(part)
    return rows


def drop_unfinished_rebuilds(connection: Connection, table: str) -> list[str]:
    """Drop the invalid index copies (``…_ccnew``, ``…_ccold``) that a concurrent
    rebuild of ``table`` left when it was interrupted: a later rebuild skips invalid
    indexes, so they would stay, as large as the indexes they copy, and be maintained
    on every write. Its TOAST table's too (in ``pg_toast``: an invalid TOAST index
    cannot be rebuilt concurrently, only dropped)."""
    rows = connection.execute(
        text(
            "SELECT n.nspname, c.relname FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE x.indrelid IN (SELECT oid FROM pg_class WHERE oid = to_regclass(:t) "
            "UNION ALL SELECT reltoastrelid FROM pg_class WHERE oid = to_regclass(:t)) "
            "AND NOT x.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$'"
        ),
        {"t": table},
    ).all()
    for schema, name in rows:
        connection.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{schema}"."{name}"'))
    return [name for _, name in rows]
