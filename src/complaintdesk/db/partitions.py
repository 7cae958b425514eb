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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
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


REWRITE_LOCK_TIMEOUT = "500ms"
"""How long each step of an events partition's online rewrite that takes a strong lock
(:func:`_rewrite`: the note-taking trigger, the copy's foreign keys, the swap) waits
for it, all its locks together, before it lets go and tries again: under PostgreSQL's
``deadlock_timeout`` (1 s by default), so that a query that waits for the step while
the step waits for it gives up nothing (the step lets go first, and the query goes on:
the deadlock check runs once, ``deadlock_timeout`` after a wait began)."""
REWRITE_ATTEMPTS = 5
"""How many times such a step is tried, with a pause between (0.5 s, 1 s, …), before
the rewrite is given up, the partition left as it was, and ``db compact`` names it
(``rewrite_busy``) for a run of that month again (``--month``)."""


CATCH_UP_SMALL = 1000
"""Outside any lock, the rows noted during a rewrite are caught up round after round
until a round finds fewer ids than this (at most :data:`CATCH_UP_ROUNDS` rounds), after
the copy and again before each try of the swap, as pg_repack does: what is left for
the swap, under its locks, is what was written in the last round's moment."""
CATCH_UP_ROUNDS = 50
CATCH_UP_BUDGET = 0.3
"""Seconds the catch-up done under the swap's locks may take, its statements together
(``SET LOCAL statement_timeout`` to what is left of it before each): more, and that try
of the swap is busy like one whose locks did not come (let go, caught up again outside
the lock, tried again). Every request that touches events, complaints or staff waits
for the swap's locks: at most :data:`REWRITE_LOCK_TIMEOUT` for them, then this, then
the catalogue work."""


def rewrite_wanted(connection: Connection, name: str) -> bool:
    """Whether the heap of ``name`` (an events partition) is over one and a half times
    what its live rows take (and 64 KB): the room a fold left, this run's or an earlier
    one's whose rewrite was busy. A folded month's is about 1.05 times once rewritten,
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


@dataclass(frozen=True)
class _Beside:
    """What an online rewrite of partition ``name`` makes beside it: the ``copy`` that
    takes its place, the ``log`` of the ids written in it meanwhile and the trigger
    function (``note``) that writes them there."""

    name: str

    @property
    def copy(self) -> str:
        return f"{self.name}__rewrite"

    @property
    def log(self) -> str:
        return f"{self.name}__rewrite_log"

    @property
    def note(self) -> str:
        return f"{self.name}__rewrite_note"

    def building(self, index: str) -> str:
        """The name the copy's index of ``index`` has until the swap."""
        return f"{index[:54]}__rewrite"


class _RewriteBusy(Exception):
    """A step of the rewrite did not get its locks in :data:`REWRITE_ATTEMPTS` tries."""


def _short(connection: Connection, step: str | Callable[[Connection], object]) -> None:
    """``step`` with the rewrite's lock timeout and attempts (``online.with_short_locks``);
    :class:`_RewriteBusy` when the last attempt's locks did not come."""
    try:
        online.with_short_locks(
            connection, step, timeout=REWRITE_LOCK_TIMEOUT, attempts=REWRITE_ATTEMPTS
        )
    except (OperationalError, psycopg.errors.LockNotAvailable) as exc:
        if getattr(getattr(exc, "orig", exc), "sqlstate", None) == "55P03":
            raise _RewriteBusy from exc
        raise


def _in_transaction(connection: Connection, *statements: str) -> Callable[[Connection], None]:
    """A step that runs ``statements`` in one transaction of the connection's driver
    (the compaction's connection autocommits)."""

    def step(conn: Connection) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.transaction():
            for statement in statements:
                raw.execute(statement)

    return step


def _discard(connection: Connection, beside: _Beside) -> list[str]:
    """Drop what a rewrite of the partition made beside it (the trigger with its
    function, the log, the copy): this run's given up, or an interrupted run's. In
    one transaction: never the trigger without its log. The names dropped."""
    there = [n for n in (beside.copy, beside.log) if _exists(connection, n)]
    if connection.scalar(text("SELECT to_regprocedure(:f) IS NOT NULL"), {"f": f"{beside.note}()"}):
        there.append(f"{beside.note}()")
    if not there:
        return []
    _short(
        connection,
        _in_transaction(
            connection,
            f"DROP FUNCTION IF EXISTS {beside.note}() CASCADE",
            f"DROP TABLE IF EXISTS {beside.log}",
            f"DROP TABLE IF EXISTS {beside.copy}",
        ),
    )
    return there


def discard_leftovers(connection: Connection) -> list[str]:
    """Drop what interrupted rewrites left beside any partition (:func:`_discard`),
    whatever its month: a run killed between its trigger and its swap leaves the
    trigger noting every write of that month into a log that grows for ever, and a
    copy of the month. Run at the start of every ``db compact``; a rewrite running
    now (its advisory lock held) is left alone. The names dropped; a partition whose
    leftovers did not get their locks is logged and left for the next run."""
    names = list(
        connection.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent "
                "WHERE p.relname = ANY(:parents) AND pg_table_is_visible(p.oid) "
                "AND c.relname IN ("
                "SELECT regexp_replace(t.relname, '__rewrite(_log)?$', '') FROM pg_class t "
                "WHERE t.relkind = 'r' AND t.relname ~ '__rewrite(_log)?$' "
                "AND pg_table_is_visible(t.oid) "
                "UNION SELECT regexp_replace(f.proname, '__rewrite_note$', '') FROM pg_proc f "
                "WHERE f.proname ~ '__rewrite_note$' AND pg_function_is_visible(f.oid)) "
                "ORDER BY c.relname"
            ),
            {"parents": list(PARTITIONED)},
        )
    )
    dropped: list[str] = []
    for name in names:
        held = {"k": _LOCK_KEY, "n": name}
        if not connection.scalar(text("SELECT pg_try_advisory_lock(:k, hashtext(:n))"), held):
            continue  # being rewritten now
        try:
            dropped += _discard(connection, _Beside(name))
        except _RewriteBusy:
            log.warning("what a rewrite of %s left beside it did not get its locks", name)
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k, hashtext(:n))"), held)
    if dropped:
        log.warning("dropped what interrupted rewrites left: %s", ", ".join(dropped))
    return dropped


def _catch_up(
    raw: psycopg.Connection[Any], beside: _Beside, key: str, budget: float | None = None
) -> int:
    """In the caller's transaction, write into the copy the rows of the partition whose
    ids the trigger noted since the last catch-up (each row as it is now, or none if it
    was deleted); the ids. A row written again meanwhile is noted again, for the next.
    With ``budget`` (seconds), each statement's ``statement_timeout`` is what is left of
    it (``SET LOCAL``): the caller's transaction is cancelled past it."""
    deadline = None if budget is None else time.monotonic() + budget

    def bounded() -> None:
        if deadline is not None:
            left = max(1, int((deadline - time.monotonic()) * 1000))
            raw.execute(f"SET LOCAL statement_timeout = {left}")

    bounded()
    ids = sorted({row[0] for row in raw.execute(f"DELETE FROM {beside.log} RETURNING {key}")})
    if ids:
        bounded()
        raw.execute(f"DELETE FROM {beside.copy} WHERE {key} = ANY(%s)", (ids,))
        bounded()
        raw.execute(
            f"INSERT INTO {beside.copy} SELECT * FROM {beside.name} WHERE {key} = ANY(%s) "
            f"ORDER BY {key}",
            (ids,),
        )
    return len(ids)


def _catch_up_outside(raw: psycopg.Connection[Any], beside: _Beside, key: str) -> list[int]:
    """:func:`_catch_up` in transactions of its own, outside any lock, until a round
    finds fewer than :data:`CATCH_UP_SMALL` ids (or :data:`CATCH_UP_ROUNDS` rounds);
    the ids of each round."""
    rounds: list[int] = []
    while len(rounds) < CATCH_UP_ROUNDS:
        with raw.transaction():
            rounds.append(_catch_up(raw, beside, key))
        if rounds[-1] < CATCH_UP_SMALL:
            break
    return rounds


def _rewrite(
    connection: Connection, name: str, copied: Callable[[str], object] | None = None
) -> bool:
    """Rewrite partition ``name`` of events (its live rows packed into a new table that
    takes its place) while its month is read and written; False, the partition left as
    it was, when a step's locks did not come (:data:`REWRITE_LOCK_TIMEOUT`,
    :data:`REWRITE_ATTEMPTS`). ``copied``, if given, is called with the name once the
    copy is whole, before the swap (tests).

    Beside the partition, the way pg_repack rewrites a table (docs/capacity.md, "Bytes
    per complaint", session 14):

    1. a trigger on the partition notes the id of every row written in it from now on
       (``CREATE TRIGGER``: SHARE ROW EXCLUSIVE, a moment; writers of the month wait for
       it, readers do not); its function runs as its owner (``SECURITY DEFINER``) with
       ``search_path = pg_catalog, <the partition's schema>`` and the log named with
       its schema, as pg_repack's, so a writer without rights on the log, or with
       another search_path, writes the month as before;
    2. a plain table like it (its columns and storage options), with a CHECK
       constraint equal to the partition's bounds (so that ``ATTACH`` does not scan it),
       gets the live rows in id order, then the partition's indexes and constraints
       (built after the rows, packed), its foreign keys (added ``NOT VALID``, a moment's
       SHARE ROW EXCLUSIVE on the referenced tables, then validated without blocking
       anyone, so that ``ATTACH`` finds them valid and does not check them), a
       ``VACUUM (ANALYZE)``, and the rows noted meanwhile (:func:`_catch_up`, round
       after round until a round finds fewer than :data:`CATCH_UP_SMALL`). Reads and
       writes of the month go on all this time: the copy reads the partition under
       ACCESS SHARE;
    3. the swap, one transaction: the partitioned table (``ONLY``) and the tables its
       foreign keys reference (``ATTACH`` drops the copy's own referential triggers
       there, the parent's serving it) in ACCESS EXCLUSIVE mode, all within
       :data:`REWRITE_LOCK_TIMEOUT` (``statement_timeout`` on the ``LOCK``); the rows
       noted since, within :data:`CATCH_UP_BUDGET` (else the try is busy), having been
       caught up outside the lock just before each try; ``DROP`` of the partition
       (a ``DETACH`` first would only give its foreign keys triggers of their own on
       the referenced tables to drop again);
       ``ATTACH`` of the copy with the same bounds; the CHECK dropped; the copy and
       its indexes renamed as the partition's were. Readers and writers of events,
       complaints and staff wait for the swap, not for the copy: its catalogue
       changes and the few rows noted since the last catch-up.

    PostgreSQL 15's locks, as documented: ``DETACH``/``DROP`` of a partition take the
    partitioned table in ACCESS EXCLUSIVE mode (``DETACH … CONCURRENTLY`` is not allowed
    beside a DEFAULT partition, nor in a transaction); ``ATTACH`` takes SHARE UPDATE
    EXCLUSIVE on it and ACCESS EXCLUSIVE on the table attached and on the DEFAULT
    partition (scanned, small; the copy itself is not, for its CHECK). Measured here
    (psql, pg_locks): ``ATTACH`` of a table whose foreign key to complaints is valid
    takes complaints, each of its months and staff in ACCESS EXCLUSIVE mode (it drops
    the table's own action triggers there); without that key, SHARE ROW EXCLUSIVE on
    them and a scan of the whole copy to check it, under the partitioned table's
    ACCESS EXCLUSIVE lock: every read of events would wait for it.

    Not MVCC-safe, as PostgreSQL's own table rewrites (``ALTER TABLE … TYPE``): a
    transaction at REPEATABLE READ whose snapshot was taken before the copy committed,
    and that reads the month only after the swap, finds it empty (the copy's rows are
    newer than its snapshot). The service's reads run at READ COMMITTED; the fold's
    batches are short. The trigger fires always, so writes made with
    ``session_replication_role = replica`` (the bulk path's history, the default
    partition's moves) are noted as well.
    Rows the fold deleted are not copied, whatever transaction still ran: there is no
    ``again`` with this rewrite."""
    beside = _Beside(name)
    # One rewrite of a partition at a time (two runs of a month at once would share
    # the names beside it): the second is busy.
    if not connection.scalar(
        text("SELECT pg_try_advisory_lock(:k, hashtext(:n))"), {"k": _LOCK_KEY, "n": name}
    ):
        return False
    try:
        return _rewrite_beside(connection, beside, copied)
    finally:
        connection.execute(
            text("SELECT pg_advisory_unlock(:k, hashtext(:n))"), {"k": _LOCK_KEY, "n": name}
        )


def _rewrite_beside(
    connection: Connection, beside: _Beside, copied: Callable[[str], object] | None
) -> bool:
    """:func:`_rewrite`'s work, its advisory lock held."""
    name = beside.name
    parent, bound, constraint, options, schema = connection.execute(
        text(
            "SELECT p.relname, pg_get_expr(c.relpartbound, c.oid), "
            "pg_get_partition_constraintdef(c.oid), c.reloptions, "
            "quote_ident(c.relnamespace::regnamespace::text) "
            "FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE c.oid = to_regclass(:n)"
        ),
        {"n": name},
    ).one()
    key = PARTITIONED[parent]
    storage = f" WITH ({', '.join(options)})" if options else ""
    indexes = connection.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(x.indexrelid), pg_get_constraintdef(k.oid) "
            "FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid "
            "WHERE x.indrelid = to_regclass(:n) ORDER BY c.relname"
        ),
        {"n": name},
    ).all()
    foreign_keys = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(:n) AND contype = 'f' ORDER BY conname"
        ),
        {"n": name},
    ).all()
    try:
        _discard(connection, beside)  # an interrupted run's
        _short(
            connection,
            _in_transaction(
                connection,
                f"CREATE TABLE {schema}.{beside.log} ({key} bigint NOT NULL)",
                # As pg_repack's: run with the rights of its owner (the tables' owner)
                # and a search_path of its own, so that a writer without rights on
                # the log, or with another search_path, still writes the month.
                f"CREATE FUNCTION {schema}.{beside.note}() RETURNS trigger "
                f"LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {schema} "
                f"AS $$ BEGIN IF TG_OP <> 'INSERT' THEN INSERT INTO {schema}.{beside.log} "
                f"VALUES (OLD.{key}); END IF; IF TG_OP <> 'DELETE' THEN INSERT INTO "
                f"{schema}.{beside.log} VALUES (NEW.{key}); END IF; RETURN NULL; END $$",
                f"CREATE TRIGGER {beside.note} AFTER INSERT OR UPDATE OR DELETE ON {name} "
                f"FOR EACH ROW EXECUTE FUNCTION {schema}.{beside.note}()",
                # Fired by replica-role writes too: the bulk path (import, generate)
                # writes history into old months with session_replication_role =
                # replica, and its rows must be noted like any other (pg_repack does
                # the same).
                f"ALTER TABLE {name} ENABLE ALWAYS TRIGGER {beside.note}",
            ),
        )
    except _RewriteBusy:
        return False
    try:
        connection.execute(
            text(
                f"CREATE TABLE {beside.copy} (LIKE {name} INCLUDING ALL EXCLUDING INDEXES){storage}"
            )
        )
        connection.execute(
            text(
                f"ALTER TABLE {beside.copy} ADD CONSTRAINT {beside.copy}_bounds CHECK {constraint}"
            )
        )
        connection.execute(text(f"INSERT INTO {beside.copy} SELECT * FROM {name} ORDER BY {key}"))
        for index, definition, constraint_definition in indexes:
            building = beside.building(index)
            if constraint_definition is not None:  # the primary key
                statement = (
                    f"ALTER TABLE {beside.copy} ADD CONSTRAINT {building} {constraint_definition}"
                )
            else:
                head, keys = definition.split(" USING ", 1)
                unique = "UNIQUE " if head.startswith("CREATE UNIQUE") else ""
                statement = f"CREATE {unique}INDEX {building} ON {beside.copy} USING {keys}"
            connection.execute(text(statement))
        for constraint_name, constraint_definition in foreign_keys:
            _short(
                connection,
                f"ALTER TABLE {beside.copy} ADD CONSTRAINT {constraint_name} "
                f"{constraint_definition} NOT VALID",
            )
            connection.execute(
                text(f"ALTER TABLE {beside.copy} VALIDATE CONSTRAINT {constraint_name}")
            )
        connection.execute(text(f"VACUUM (ANALYZE) {beside.copy}"))
        raw = connection.connection.driver_connection
        assert raw is not None
        _catch_up_outside(raw, beside, key)
        if copied is not None:
            copied(name)
        referenced = list(
            connection.scalars(
                text(
                    "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint "
                    "WHERE conrelid = to_regclass(:n) AND contype = 'f' AND conparentid = 0 "
                    "ORDER BY 1"
                ),
                {"n": beside.copy},
            )
        )

        def swap(conn: Connection) -> None:
            raw = conn.connection.driver_connection
            assert raw is not None
            _catch_up_outside(raw, beside, key)  # before each try: little left for the lock
            with raw.transaction():
                raw.execute(f"SET LOCAL statement_timeout = '{REWRITE_LOCK_TIMEOUT}'")
                try:
                    raw.execute(
                        f"LOCK TABLE {', '.join([*referenced, f'ONLY {parent}'])} "
                        "IN ACCESS EXCLUSIVE MODE"
                    )
                except psycopg.errors.QueryCanceled as exc:  # all its locks not in time
                    raise psycopg.errors.LockNotAvailable(str(exc)) from exc
                try:
                    _catch_up(raw, beside, key, CATCH_UP_BUDGET)
                except psycopg.errors.QueryCanceled as exc:  # over its budget: busy
                    raise psycopg.errors.LockNotAvailable(str(exc)) from exc
                raw.execute("SET LOCAL statement_timeout = 0")
                raw.execute(f"DROP TABLE {name}")
                raw.execute(f"ALTER TABLE {parent} ATTACH PARTITION {beside.copy} {bound}")
                raw.execute(f"ALTER TABLE {beside.copy} DROP CONSTRAINT {beside.copy}_bounds")
                raw.execute(f"ALTER TABLE {beside.copy} RENAME TO {name}")
                for index, _, _ in indexes:
                    raw.execute(f"ALTER INDEX {beside.building(index)} RENAME TO {index}")
                raw.execute(f"DROP TABLE {beside.log}")
                raw.execute(f"DROP FUNCTION {beside.note}()")

        _short(connection, swap)
    except BaseException as exc:
        try:
            _discard(connection, beside)
        except _RewriteBusy:  # its trigger still notes into its log: the next run drops them
            log.warning(
                "the rewrite of %s left its copy and trigger: the next db compact drops them",
                name,
            )
        if isinstance(exc, _RewriteBusy):
            return False
        raise
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
    discarded: list[str] = field(default_factory=list)
    """What interrupted rewrites had left beside any month's partition (their copy,
    log and trigger function: :func:`discard_leftovers`), dropped first."""
    folded: int = 0
    """Complaints whose events were folded into one row (``db/folding.py``)."""
    folded_rows: int = 0
    """The event rows those complaints had before."""
    fold_seconds: float = 0.0
    """How long the fold took (its rate: :attr:`fold_rate`)."""
    rewritten: list[str] = field(default_factory=list)
    """Partitions rewritten whole (:func:`_rewrite`) to give the folded rows' room back."""
    rewrite_seconds: float = 0.0
    """How long the rewrites took, the copy and the swap (given up ones too)."""
    busy: list[str] = field(default_factory=list)
    """Partitions whose rewrite did not get its locks (:data:`REWRITE_LOCK_TIMEOUT`,
    :data:`REWRITE_ATTEMPTS`): left as they were, vacuumed and reindexed instead; a run
    of the same month again rewrites them (a later month's run does not look at them)."""
    again: list[str] = field(default_factory=list)
    """Partitions rewritten that are still over :func:`rewrite_wanted`'s measure (the
    rewrite with ``VACUUM FULL`` before session 14 kept the rows a transaction older
    than the fold could still see; the copy does not, so none is expected): a run of
    the same month again rewrites them."""

    @property
    def fold_rate(self) -> float:
        """Complaints folded a second."""
        return self.folded / self.fold_seconds if self.fold_seconds > 0 else 0.0


def settled_month(now: datetime, settled: int = SETTLED_MONTHS) -> datetime:
    """The month that became settled most recently at ``now``: the one that ended
    ``settled`` months before this month began (``now`` in January: October)."""
    return add_months(month_start(now), -settled - 1)


def compact_month(
    engine: Engine,
    month: datetime,
    *,
    fold: bool = False,
    copied: Callable[[str], object] | None = None,
) -> Compaction:
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

    With ``fold`` (``db compact``; ``--no-fold`` leaves it out), first the events of
    the month's closed complaints are folded, one row a complaint (``db/folding.py``,
    both databases):
    that leaves the month's events partition nearly empty (its rows scattered over
    every page, so a plain vacuum gives no page back), and it is rewritten whole
    beside itself and swapped in (:func:`_rewrite`): the month is read and written
    meanwhile, and reads and writes wait only for the swap, a moment's catalogue
    work (until session 13 ``VACUUM (FULL)``, which held every timeline read of any
    month for the whole copy: docs/capacity.md, "Bytes per complaint", sessions 13
    and 14). When the rewrite's locks do not come (:data:`REWRITE_LOCK_TIMEOUT`,
    :data:`REWRITE_ATTEMPTS`) the partition is left as it was, vacuumed and reindexed
    as the others, and named in :attr:`Compaction.busy` for a run of the month again.
    ``copied`` is handed to the rewrite (tests: called between the copy and the swap).
    Before all this, on PostgreSQL, whatever the month and with or without ``fold``,
    what interrupted rewrites left beside any partition is dropped
    (:func:`discard_leftovers`, :attr:`Compaction.discarded`).
    The next month's events partition holds some of these complaints' later events:
    they are deleted there, and its own compaction rewrites it. Nothing else on
    SQLite or for a month without partitions."""
    from complaintdesk.db import folding

    report = Compaction(month=f"{month.year:04d}-{month.month:02d}")
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            report.discarded = discard_leftovers(
                connection.execution_options(isolation_level="AUTOCOMMIT")
            )
    if fold:
        started = time.perf_counter()
        folded = folding.fold(engine, *bounds(month))
        report.fold_seconds = time.perf_counter() - started
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
                started = time.perf_counter()
                done = _rewrite(connection, name, copied)
                report.rewrite_seconds += time.perf_counter() - started
                if done:
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
