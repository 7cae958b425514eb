"""Monthly partitions of complaint history (PostgreSQL only).

Complaints, their events, follow-ups and return visits are each partitioned by
ranges of their own time-ordered id, one range per calendar month (UTC), every index
local to its month. A query bounded in time (the list's window, a search window, one
complaint by id) reads only the months it names; the others are pruned. A
complaint's timeline reads from its own month on (its events are never older than
it), so a complaint of this month reads this month's events only.

(Partitioning the child tables by ``complaint_id`` instead would put a complaint's
whole history in one month, but their rows would then be found by id only through
every month: the bulk loaders' id allocation, which asks "the largest id of this
millisecond", would probe every partition for every millisecond.)

The outbox is not partitioned: delivered messages leave it after their retention
period (``services/retention.py``), so it follows the retention window already, and
its global uniqueness of ``dedupe_key`` (a message never queued twice) needs one
index over the whole table.

Each partitioned table also has a DEFAULT partition: a row for a month that has no
partition yet (maintenance lapsed, history older than the partitions) is still
written, never refused. :func:`ensure` creates the months from a start to some
months ahead of now; ``serve`` runs :func:`maintain` at start and every 6 hours, and
``complaintdesk db partitions`` runs it once. A month whose rows already sit in the
default partition gets its partition with those rows moved into it
(:func:`move_from_default`), in the maintenance transaction.

Moving rows between partitions of a table that foreign keys point at: PostgreSQL 15
checks such a key against the very partition that holds the row, so deleting a row
from the default partition fails while an event still points at it, even if the
same row is inserted into its month in the same transaction (deferring the keys
does not help: the deferred check still looks in the old partition). The move
therefore runs with ``session_replication_role = replica`` for its transaction
(foreign-key triggers off), takes the rows out of the default partition, creates the
month and puts the same rows back: every reference holds before and after. Setting
that parameter needs a superuser or ``GRANT SET ON PARAMETER session_replication_role``;
without it the month is reported as waiting, as before, and the warning says what to
grant.

Why the project's own few lines and not pg_partman: the partition key is our own id
layout (milliseconds since 2020 in the high bits), which pg_partman does not know
(it partitions by time columns or by plain integer intervals of a fixed width, and a
month is not a fixed number of ids); this is about forty lines of SQL we test, with
no extension to install and upgrade on every server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from complaintdesk.db import online
from complaintdesk.db.ids import id_floor, id_time

PARTITIONED: dict[str, str] = {
    "complaints": "id",
    "events": "id",
    "follow_ups": "id",
    "visits": "id",
}
"""Partitioned tables and their partition key."""
AHEAD_MONTHS = 3
MAINTENANCE_INTERVAL_SECONDS = 6 * 3600
_LOCK_KEY = 0x0C0D_9A27  # the advisory lock partition makers take turns on (maintenance, loaders)
MAKE_LOCK_TIMEOUT = "2s"
"""How long making a month's partition waits for its locks before leaving it to the
next run (see :func:`_not_queueing`)."""
log = logging.getLogger(__name__)


@dataclass
class Maintenance:
    created: list[str] = field(default_factory=list)
    waiting_in_default: list[str] = field(default_factory=list)
    """Months with no partition whose rows are in the default partition."""
    moved: dict[str, int] = field(default_factory=dict)
    """Partitions made for rows that waited in the default partition: rows moved."""
    busy: list[str] = field(default_factory=list)
    """Months not made this time: their locks were held longer than
    :data:`MAKE_LOCK_TIMEOUT` (a ``db compact`` or a VACUUM of a month, a long
    transaction); the next run makes them, and rows meanwhile go to the default
    partition."""


class _Busy(Exception):
    """Making a partition gave up waiting for its locks."""


@contextmanager
def _not_queueing(connection: Connection) -> Iterator[None]:
    """Run the body (it makes a month's partition) in a savepoint that waits at most
    :data:`MAKE_LOCK_TIMEOUT` for each lock, else rolls back and raises :class:`_Busy`.

    ``CREATE TABLE … PARTITION OF`` takes the partitioned table's ACCESS EXCLUSIVE
    lock, then a lock on every month's partition (for the foreign keys). Waiting for a
    month that a ``REINDEX … CONCURRENTLY`` or a ``VACUUM`` holds (``db compact``:
    minutes for a month at scale), it would hold the table's lock all that time, and
    every read and write of the table would queue behind it."""
    previous = connection.scalar(text("SELECT current_setting('lock_timeout')"))
    try:
        with connection.begin_nested():
            connection.execute(
                text("SELECT set_config('lock_timeout', :t, true)"), {"t": MAKE_LOCK_TIMEOUT}
            )
            yield
            # The caller's transaction goes on with its own timeout (a loader's COPY).
            connection.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": previous})
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise _Busy from exc
        raise


def month_start(moment: datetime) -> datetime:
    """The first instant of ``moment``'s month in UTC, the months the partitions hold
    (their bounds are ids, made from UTC times): a time given with another offset is
    first taken to UTC (``2025-06-01T03:00+08:00`` is in May); a naive one is UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_{month.year:04d}_{month.month:02d}"


def bounds(month: datetime) -> tuple[int, int]:
    """The id range [low, high) of complaints made in ``month``."""
    return id_floor(month), id_floor(add_months(month, 1))


def is_partitioned(connection: Connection, table: str) -> bool:
    kind = connection.scalar(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    )
    return bool(kind == "p")


def _exists(connection: Connection, name: str) -> bool:
    return bool(connection.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}))


def _storage_options(connection: Connection, table: str, month: datetime) -> str:
    """The storage options (fillfactor, …) of the table's newest month partition: a
    new month takes what its predecessor was tuned with; except that a month already
    over when its partition is made (history written by the bulk path, which is not
    updated) is filled whole: a fill factor's room is for the updates of live rows."""
    options = connection.scalar(
        text(
            "SELECT c.reloptions FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t) AND c.relname <> :d "
            "ORDER BY c.relname DESC LIMIT 1"
        ),
        {"t": table, "d": f"{table}_default"},
    )
    if options and add_months(month, 1) <= month_start(datetime.now(UTC)):
        options = [o for o in options if not o.startswith("fillfactor=")]
    return f" WITH ({', '.join(options)})" if options else ""


def create_month(connection: Connection, table: str, month: datetime) -> bool | None:
    """Create ``table``'s partition for ``month``: True if made, False if it was there,
    None if the default partition holds rows of that month (see
    :func:`move_from_default`)."""
    name = partition_name(table, month)
    if _exists(connection, name):
        return False
    # Two writers may reach a missing month at once (generate's processes, a loader beside
    # serve's maintenance): they take turns, and the second finds the first's partition.
    # (pg_class is read, not to_regclass: the name's lookup cache of this transaction
    # would still say "missing" after the other writer's commit.)
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    if connection.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = :n "
            "AND relnamespace = to_regnamespace(current_schema()))"
        ),
        {"n": name},
    ):
        return False
    low, high = bounds(month)
    key = PARTITIONED[table]
    default = f"{table}_default"
    if _exists(connection, default):
        waiting = connection.scalar(
            text(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {key} >= :lo AND {key} < :hi)"),
            {"lo": low, "hi": high},
        )
        if waiting:
            return None
    connection.execute(
        text(
            f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({low}) TO ({high})"
            f"{_storage_options(connection, table, month)}"
        )
    )
    return True


def create_default(connection: Connection, table: str) -> None:
    connection.execute(
        text(f"CREATE TABLE IF NOT EXISTS {table}_default PARTITION OF {table} DEFAULT")
    )


def _months(start: datetime, end: datetime) -> list[datetime]:
    months = []
    month = month_start(start)
    while month <= end:
        months.append(month)
        month = add_months(month, 1)
    return months


def _missing(connection: Connection, months: list[datetime]) -> dict[str, list[datetime]]:
    """The months of each partitioned table that have no partition, in one query (a
    bulk loader asks before every batch, for every month of its history: most exist
    already); a table that is not partitioned has none missing."""
    names = [partition_name(table, m) for table in PARTITIONED for m in months]
    there = set(
        connection.scalars(
            text(
                "SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE to_regclass(n) IS NOT NULL"
            ),
            {"names": names},
        )
    )
    found: dict[str, list[datetime]] = {}
    for table in PARTITIONED:
        absent = [m for m in months if partition_name(table, m) not in there]
        if absent and is_partitioned(connection, table):
            found[table] = absent
    return found


def all_made(connection: Connection, start: datetime, end: datetime) -> bool:
    """Whether every month from ``start``'s to ``end``'s has its partitions already
    (always on SQLite and on an unpartitioned database): then :func:`ensure` would
    make nothing."""
    if connection.dialect.name != "postgresql":
        return True
    return not _missing(connection, _months(start, end))


def ensure(connection: Connection, start: datetime, end: datetime) -> Maintenance:
    """Every month from ``start``'s to ``end``'s, for every partitioned table (a no-op
    on SQLite and on an unpartitioned database)."""
    report = Maintenance()
    if connection.dialect.name != "postgresql":
        return report
    for table, missing in _missing(connection, _months(start, end)).items():
        for month in missing:
            try:
                with _not_queueing(connection):
                    made = create_month(connection, table, month)
            except _Busy:
                report.busy.append(partition_name(table, month))
                continue
            if made:
                report.created.append(partition_name(table, month))
            elif made is None:
                report.waiting_in_default.append(partition_name(table, month))
    return report


def may_move(connection: Connection) -> bool:
    """Whether this session may switch foreign-key triggers off for a move."""
    return bool(
        connection.scalar(text("SELECT has_parameter_privilege('session_replication_role', 'SET')"))
    )


def months_in_default(connection: Connection, table: str) -> list[datetime]:
    """The months whose rows wait in ``table``'s default partition (one index probe a
    month found)."""
    default = f"{table}_default"
    if connection.dialect.name != "postgresql" or not _exists(connection, default):
        return []
    key = PARTITIONED[table]
    months: list[datetime] = []
    after = -1
    while True:
        low = connection.scalar(
            text(f"SELECT min({key}) FROM {default} WHERE {key} > :after"), {"after": after}
        )
        if low is None:
            return months
        month = month_start(id_time(int(low)))
        months.append(month)
        after = bounds(month)[1] - 1


def move_from_default(connection: Connection, table: str, month: datetime) -> int:
    """Create ``table``'s partition for ``month`` and move that month's rows into it
    from the default partition, in the caller's transaction; the rows moved.

    Foreign-key triggers are off for the rest of the transaction while the rows are
    out (see the module's notes); the same rows are put back before it commits."""
    name = partition_name(table, month)
    low, high = bounds(month)
    key = PARTITIONED[table]
    moving = f"{name}__moving"
    connection.execute(text("SET LOCAL session_replication_role = replica"))
    connection.execute(
        text(
            f"CREATE TEMPORARY TABLE {moving} ON COMMIT DROP AS "
            f"WITH gone AS (DELETE FROM {table}_default "
            f"WHERE {key} >= {int(low)} AND {key} < {int(high)} RETURNING *) "
            "SELECT * FROM gone"
        )
    )
    connection.execute(
        text(
            f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({low}) TO ({high})"
            f"{_storage_options(connection, table, month)}"
        )
    )
    moved = connection.execute(text(f"INSERT INTO {name} SELECT * FROM {moving}")).rowcount
    connection.execute(text(f"DROP TABLE {moving}"))
    connection.execute(text("SET LOCAL session_replication_role = origin"))
    return int(moved)


def empty_default(connection: Connection, report: Maintenance | None = None) -> Maintenance:
    """Give every month waiting in a default partition its own partition, its rows
    moved into it, when this session may (:func:`may_move`); otherwise report them."""
    report = report or Maintenance()
    if connection.dialect.name != "postgresql":
        return report
    allowed = may_move(connection)
    for table in PARTITIONED:
        for month in months_in_default(connection, table):
            name = partition_name(table, month)
            if allowed:
                try:
                    with _not_queueing(connection):
                        report.moved[name] = move_from_default(connection, table, month)
                except _Busy:
                    if name in report.waiting_in_default:  # not for want of the grant
                        report.waiting_in_default.remove(name)
                    report.busy.append(name)
                    continue
                if name in report.waiting_in_default:
                    report.waiting_in_default.remove(name)
            elif name not in report.waiting_in_default:
                report.waiting_in_default.append(name)
    return report


def maintain(connection: Connection, now: datetime, ahead: int = AHEAD_MONTHS) -> Maintenance:
    """This month's partitions and the next ``ahead`` months', made before they are
    needed; then months whose rows wait in a default partition get theirs."""
    return empty_default(connection, ensure(connection, now, add_months(month_start(now), ahead)))


def run_maintenance(engine: Engine, now: datetime, ahead: int = AHEAD_MONTHS) -> Maintenance:
    """:func:`maintain` in a transaction of its own, one server at a time (``serve``
    runs it at start and every few hours; ``complaintdesk db partitions`` once)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        report = maintain(connection, now, ahead)
    if report.moved:
        log.info("rows moved out of default partitions into their months: %s", report.moved)
    if report.busy:
        log.warning(
            "partitions not made, their locks held over %s (left to the next run): %s",
            MAKE_LOCK_TIMEOUT,
            ", ".join(report.busy),
        )
    if report.waiting_in_default:
        log.warning(
            "rows wait in default partitions for months without their own: %s (to move "
            "them, maintenance needs: GRANT SET ON PARAMETER session_replication_role TO "
            "<its role>)",
            ", ".join(report.waiting_in_default),
        )
    return report


def ensure_for_ids(connection: Connection, low_id: int, high_id: int) -> Maintenance:
    """Partitions for every month that complaint ids ``low_id`` … ``high_id`` were
    made in (a bulk loader writing history calls this before each batch)."""
    return ensure(connection, id_time(low_id), id_time(high_id))


REWRITE_LOCK_TIMEOUT = "2s"
"""How long ``db compact`` waits for an events partition's lock to rewrite it (a
long transaction reading the month): it then gives the rewrite up rather than
queueing the month's reads behind it, and ``db compact`` names the partition
(``rewrite_busy``) for a run of that month again (``--month``)."""


def rewrite_wanted(connection: Connection, name: str) -> bool:
    """Whether the heap of ``name`` (an events partition) is over one and a half times
    what its live rows take (and 64 KB): the room a fold left, this run's or an earlier
    one's whose rewrite was busy or had to keep the deleted rows (a transaction older
    than the fold still ran). A folded month's is about 1.05 times once rewritten,
    about 2 before (docs/capacity.md, session 13). One read of the partition, small
    once folded."""
    size, rows = connection.execute(
        text(
            f"SELECT pg_relation_size(to_regclass(:n)), "
            f"(SELECT COALESCE(sum(pg_column_size(t.*)), 0) FROM {name} AS t)"
        ),
        {"n": name},
    ).one()
    return int(size) > 1.5 * int(rows) + 65536


def _rewrite(connection: Connection, name: str) -> bool:
    """``VACUUM (FULL)`` of ``name`` if its lock comes in time, then ``ANALYZE``.
    Rows deleted after the oldest transaction still running began (anywhere on the
    server) are kept by the rewrite: :func:`compact_month` then names the partition
    (:attr:`Compaction.again`, :func:`rewrite_wanted` still true) for a run of that
    month again."""
    connection.execute(
        text("SELECT set_config('lock_timeout', :t, false)"), {"t": REWRITE_LOCK_TIMEOUT}
    )
    try:
        connection.execute(text(f"VACUUM (FULL) {name}"))
        connection.execute(text(f"ANALYZE {name}"))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            return False
        raise
    finally:
        connection.execute(text("RESET lock_timeout"))
    return True


SETTLED_MONTHS = 2
"""A month is settled this many months after it ends: its complaints are closed (a
complaint lives days to weeks), so its rows are no longer rewritten."""


@dataclass
class Compaction:
    month: str
    index_bytes_before: int = 0
    index_bytes_after: int = 0
    tables: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Invalid copies an interrupted rebuild had left (see :func:`compact_month`)."""
    folded: int = 0
    """Complaints whose events were folded into one row (``db/folding.py``)."""
    folded_rows: int = 0
    """The event rows those complaints had before."""
    rewritten: list[str] = field(default_factory=list)
    """Partitions rewritten whole (``VACUUM FULL``) to give the folded rows' room back."""
    busy: list[str] = field(default_factory=list)
    """Partitions whose rewrite waited over :data:`REWRITE_LOCK_TIMEOUT` for its lock:
    vacuumed and reindexed instead; a run of the same month again rewrites them (a
    later month's run does not look at them)."""
    again: list[str] = field(default_factory=list)
    """Partitions rewritten that still hold the deleted rows (a transaction older than
    the fold ran somewhere on the server): a run of the same month again rewrites
    them."""


def settled_month(now: datetime, settled: int = SETTLED_MONTHS) -> datetime:
    """The month that became settled most recently at ``now``: the one that ended
    ``settled`` months before this month began (``now`` in January: October)."""
    return add_months(month_start(now), -settled - 1)


def compact_month(engine: Engine, month: datetime, *, fold: bool = False) -> Compaction:
    """Rebuild the indexes of ``month``'s partitions once its rows have settled.

    A complaint made through the services is written about eight times; the updates
    that change an indexed column (dispatch sets the assignee, closing sets
    ``closed_at``, a follow-up date, a reopening's deadline) and those that find no
    room on their page are not HOT, so each adds an entry to every index of the
    month. ``VACUUM`` removes the dead entries but leaves their pages half empty
    (B-tree pages are only reused by keys of their own range, and a month's keys stop
    growing when it ends); the search index's pending list leaves pages likewise. A
    rebuild packs them as the bulk path's indexes are: measured on the live path in
    ``docs/capacity.md`` ("Bytes per complaint"). Events are rewritten once more
    (the outbox purge adds each delivery record 30 days after the month's messages),
    so a month is compacted once it is settled (:data:`SETTLED_MONTHS`).

    ``VACUUM`` then ``REINDEX … CONCURRENTLY`` per partition, outside a transaction:
    reads and writes of the month go on meanwhile (the rebuild takes a lock that only
    other maintenance of the same table waits for; making a new month waits for it too,
    so that is given up after :data:`MAKE_LOCK_TIMEOUT` rather than queueing every
    read of the table behind it: :func:`_not_queueing`). A rebuild that was interrupted
    leaves invalid copies of indexes; the next run drops them first. Heaps are not
    rewritten (that would lock the month against reads: ``VACUUM FULL``); their free
    space stays for late updates.

    With ``fold`` (``db compact --fold``), first the events of the month's closed
    complaints are folded, one row a complaint (``db/folding.py``, both databases):
    that leaves the month's events partition nearly empty (its rows scattered over
    every page, so a plain vacuum gives no page back), and it is rewritten whole,
    ``VACUUM (FULL)``, when its lock comes within :data:`REWRITE_LOCK_TIMEOUT` (else
    vacuumed and reindexed as the others, and named in :attr:`Compaction.busy` for a
    run of the month again; one that had to keep the deleted rows is named in
    :attr:`Compaction.again`). The rewrite
    holds the partition's ACCESS EXCLUSIVE lock while it copies what is left, and
    every timeline read waits for it, of any month: the reads run generic plans,
    which lock every partition before pruning (PostgreSQL 15). Hence not by default:
    run it in a quiet hour (docs/operations.md; the time measured in docs/capacity.md,
    "Bytes per complaint", session 13). The next month's events partition holds some
    of these complaints' later events: they are deleted there, and its own
    compaction rewrites it. Nothing else on SQLite or for a month without
    partitions."""
    from complaintdesk.db import folding

    report = Compaction(month=f"{month.year:04d}-{month.month:02d}")
    if fold:
        folded = folding.fold(engine, *bounds(month))
        report.folded, report.folded_rows = folded.complaints, folded.rows_before
    if engine.dialect.name != "postgresql":
        return report
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in PARTITIONED:
            name = partition_name(table, month)
            if not _exists(connection, name):
                continue
            report.index_bytes_before += int(
                connection.scalar(text("SELECT pg_indexes_size(to_regclass(:n))"), {"n": name}) or 0
            )
            report.dropped += online.drop_unfinished_rebuilds(connection, name)
            if table == "events" and fold and rewrite_wanted(connection, name):
                if _rewrite(connection, name):
                    report.rewritten.append(name)
                    if rewrite_wanted(connection, name):
                        report.again.append(name)
                    report.index_bytes_after += int(
                        connection.scalar(
                            text("SELECT pg_indexes_size(to_regclass(:n))"), {"n": name}
                        )
                        or 0
                    )
                    report.tables.append(name)
                    continue
                report.busy.append(name)
            connection.execute(text(f"VACUUM (ANALYZE) {name}"))
            connection.execute(text(f"REINDEX TABLE CONCURRENTLY {name}"))
            report.index_bytes_after += int(
                connection.scalar(text("SELECT pg_indexes_size(to_regclass(:n))"), {"n": name}) or 0
            )
            report.tables.append(name)
    if report.tables:
        log.info(
            "compacted %s: indexes %d -> %d bytes",
            report.month,
            report.index_bytes_before,
            report.index_bytes_after,
        )
    return report
