"""The bulk write path: many complaints with their history in one set-based step.

The per-request path (``intake`` and the other services) makes one complaint at a
time with an ORM object per row. Bulk loaders (``import``, ``generate``) instead hand
a batch of *stage rows* to :func:`write_batch`: one wide row per complaint that also
carries the moments of its lifecycle (dispatched, started, resolved, visited,
closed), a follow-up and a return visit. From the batch one function makes the rows of
every table (:func:`_table_rows`): complaints, the events of their lifecycle,
follow-ups, visits and outbox rows (a complaint's only department is its lead, the
row's own ``department``: no ``complaint_departments`` row). They are written with a
binary ``COPY`` a table on PostgreSQL, an ``executemany`` a table on SQLite.

Ids come from the bulk loaders' node range (:func:`complaintdesk.db.ids.bulk_id`):
for each millisecond of the batch the next free numbers are read from the table
itself, under a lock that one loader holds at a time, so loading the same period
twice, or from two processes, never makes the same id. A run into empty tables holds
its slot for its whole length instead and reads nothing (:func:`own_bulk_slot`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db import partitions
from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.ids import (
    BULK_BIT,
    BULK_SLOT_LIMIT,
    BULK_SLOTS,
    EPOCH_MS,
    LOW_BITS,
    bulk_id,
    ms_of,
)
from complaintdesk.domain import lifecycle
from complaintdesk.domain.search import search_terms

_LOCK_KEY = 0x0C0D_B01C  # pg_advisory_xact_lock key of the bulk loaders
log = logging.getLogger(__name__)

# Columns of a stage row, in order. ``None`` for what a row does not have.
COMPLAINT_COLUMNS = (
    "id",
    "company_id",
    "project_id",
    "unit_id",
    "owner_id",
    "caller_name",
    "caller_phone",
    "channel",
    "text",
    "summary",
    "location",
    "occurred_at",
    "received_at",
    "first_receiver_id",
    "status",
    "nature",
    "category",
    "urgency",
    "department",
    "label_source",
    "confidence_nature",
    "confidence_category",
    "confidence_urgency",
    "confidence_department",
    "model_version",
    "needs_review",
    "upgraded",
    "assignee_id",
    "respond_by",
    "resolve_by",
    "visit_by",
    "clock_started_at",
    "responded_at",
    "resolved_at",
    "visited_at",
    "closed_at",
    "response_level",
    "resolution_level",
    "visit_level",
    "response_breached",
    "resolution_breached",
    "sla_check_at",
    "repeat_of_id",
    "risk_flags",
    "at_risk",
    "reopen_count",
    "resolution_outcome",
    "resolution",
    "effective",
    "satisfaction",
    "summary_cause",
    "corrective_action",
    "preventive_action",
    "version",
    "updated_at",
    "search_terms",
)
LIFECYCLE_COLUMNS = (
    "ev_received",  # event ids; the event happened at the matching moment
    "received_data",
    "ev_dispatched",
    "dispatched_at",
    "ev_started",
    "started_at",
    "ev_resolved",
    "ev_visited",
    "ev_closed",
    "fu_id",
    "fu_at",
    "fu_note",
    "visit_id",
    "visit_comment",
    "msg_kind",  # a message to the owner, sent or still to send (id: the received event's)
    "msg_channel",
    "msg_recipient",
    "msg_language",
    "msg_subject",
    "msg_body",
    "msg_status",
    "msg_sent_at",
    "steps_known",  # true: the events before the closing are every step it went through
)
STAGE_COLUMNS = COMPLAINT_COLUMNS + LIFECYCLE_COLUMNS
_INDEX = {name: i for i, name in enumerate(STAGE_COLUMNS)}


def new_row(**values: Any) -> list[Any]:
    """A stage row with ``values`` set and everything else empty."""
    row: list[Any] = [None] * len(STAGE_COLUMNS)
    for name, value in values.items():
        row[_INDEX[name]] = value
    return row


def col(name: str) -> int:
    """The position of column ``name`` in a stage row."""
    return _INDEX[name]


@dataclass
class BatchWritten:
    complaints: int
    events: int


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


class IdAllocator:
    """Bulk ids for one table: the next free numbers of each millisecond."""

    def __init__(self, session: Session, table: str, slot: int = 0) -> None:
        self.session = session
        self.table = table
        self.slot = slot

    def allocate(self, moments: Sequence[datetime]) -> list[int]:
        """One id per moment, in order; moments may repeat."""
        if not moments:
            return []
        ms_list = _ms_list(list(moments))
        wanted = Counter(ms_list)
        base = self._bases(sorted(wanted))
        for ms, count in wanted.items():
            if base[ms] + count > BULK_SLOT_LIMIT:
                raise ValueError(f"more than {BULK_SLOT_LIMIT} rows in one millisecond")
        low = bulk_id(0, 0, self.slot)  # the slot's bits: bulk_id(ms, seq) is ms << 22 | low | seq
        ids = []
        for ms in ms_list:
            seq = base[ms]
            base[ms] = seq + 1
            ids.append((ms << LOW_BITS) | low | seq)
        return ids

    def _bases(self, ms_sorted: list[int]) -> dict[int, int]:
        """The first free bulk sequence number of each millisecond."""
        lo = ms_sorted[0] << LOW_BITS
        hi = ((ms_sorted[-1] + 1) << LOW_BITS) - 1
        # Loading into a period with nothing in it (the usual case) costs one probe.
        anything = self.session.execute(
            text(f"SELECT id FROM {self.table} WHERE id BETWEEN :lo AND :hi LIMIT 1"),
            {"lo": lo, "hi": hi},
        ).first()
        if anything is None:
            return dict.fromkeys(ms_sorted, 0)
        first = BULK_BIT | (self.slot * BULK_SLOT_LIMIT)  # the slot's low bits
        top = first | (BULK_SLOT_LIMIT - 1)
        bases: dict[int, int] = {}
        if _dialect(self.session) == "postgresql":
            rows = self.session.execute(
                text(
                    f"SELECT m, (SELECT max(id) FROM {self.table} WHERE id "
                    f"BETWEEN (m << {LOW_BITS}) | {first} AND (m << {LOW_BITS}) | {top})"
                    " FROM unnest(CAST(:ms AS bigint[])) AS m"
                ),
                {"ms": ms_sorted},
            )
            found: dict[int, int | None] = {m: top_id for m, top_id in rows}
        else:
            found = {}
            query = text(f"SELECT max(id) FROM {self.table} WHERE id BETWEEN :lo AND :hi")
            for ms in ms_sorted:
                found[ms] = self.session.execute(
                    query, {"lo": (ms << LOW_BITS) | first, "hi": (ms << LOW_BITS) | top}
                ).scalar()
        for ms in ms_sorted:
            last = found.get(ms)
            bases[ms] = 0 if last is None else (last & (BULK_SLOT_LIMIT - 1)) + 1
        return bases


RESERVED_NUMBERS = BULK_SLOTS * BULK_SLOT_LIMIT
"""Bulk ids of one millisecond (slots and sequences as one number): 2,097,152."""


class NumbersUsedUp(ValueError):
    """A run's :class:`Numbers` has none left for a batch."""


class Numbers:
    """The bulk numbers a run over empty tables (:func:`own_bulk_ids`, or one slot:
    :func:`own_bulk_slot`) has handed out: each batch takes the next ``width`` numbers
    of every millisecond, ``width`` being the most rows of one millisecond it has in
    one table. Shared by the run's processes (``counter``: a ``multiprocessing`` Value
    of type ``q``). ``first`` and ``limit``: the run's numbers are ``first`` …
    ``first + limit - 1`` of each millisecond (all of them, or one slot's)."""

    def __init__(self, counter: Any, first: int = 0, limit: int = RESERVED_NUMBERS) -> None:
        self.counter, self.first, self.limit = counter, first, limit

    def take(self, width: int) -> int:
        with self.counter.get_lock():
            used = int(self.counter.value)
            if used + width > self.limit:
                raise NumbersUsedUp("the run has used every bulk id of a millisecond")
            self.counter.value = used + width
        return self.first + used


HISTORY_TABLES = ("complaints", "events", "follow_ups", "visits")
"""The tables whose ids the bulk loaders allocate."""


def _try_slot(holder: Connection, slot: int) -> bool:
    """Take bulk id slot ``slot`` for ``holder``'s session if it is free (no wait)."""
    return bool(
        holder.scalar(
            text("SELECT pg_try_advisory_lock(CAST(:k AS integer), CAST(:s AS integer))"),
            {"k": _LOCK_KEY, "s": slot},
        )
    )


def _history_stored(session: Session) -> bool:
    """Whether any of the tables whose ids loaders allocate has a row."""
    return any(
        session.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {table})")) for table in HISTORY_TABLES
    )


@contextmanager
def _slot_holder(factory: sessionmaker[Session]) -> Iterator[Connection | None]:
    """A connection of the run's own to hold bulk id slots on (session advisory locks,
    all let go at the end), or None on SQLite (its IMMEDIATE transactions serialise
    the loaders' writes: no slots)."""
    with factory() as probe:
        dialect = _dialect(probe)
        engine = probe.get_bind().engine
    if dialect != "postgresql":
        yield None
        return
    with engine.connect() as holder:
        holder = holder.execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield holder
        finally:
            holder.execute(text("SELECT pg_advisory_unlock_all()"))


@contextmanager
def own_bulk_ids(factory: sessionmaker[Session]) -> Iterator[bool]:
    """Hold every slot of the bulk id range for a whole run (PostgreSQL: session
    advisory locks on a connection of the run's own) and say whether the tables whose
    ids loaders allocate are empty. If they are, the run may take ids by batch number
    (:func:`assign_ids` with :class:`Numbers`) without reading the tables: no other bulk
    loader can write while the run holds the slots (their batches wait), and
    serving processes take ids from other node numbers. Yields False (and holds
    nothing) on SQLite, when the tables have rows, or when another loader holds a
    slot (an import holds one for its whole run, :func:`own_bulk_slot`): each slot
    is tried, not waited for. Waiting for them all in turn held the free ones while
    it waited (for hours) for the import's, and an import that then needed a second
    slot waited for this run: neither went on (review, session 13)."""
    with _slot_holder(factory) as holder:
        if holder is None:
            yield False
            return
        if not all(_try_slot(holder, slot) for slot in range(BULK_SLOTS)):
            holder.execute(text("SELECT pg_advisory_unlock_all()"))
            yield False  # another loader is at work: slots batch by batch, as it
            return
        with factory() as session:
            empty = not _history_stored(session)
        if not empty:  # the run's batches take slots one by one, as any loader's
            holder.execute(text("SELECT pg_advisory_unlock_all()"))
        yield empty


@contextmanager
def own_bulk_slot(factory: sessionmaker[Session]) -> Iterator[int | None]:
    """Hold one slot of the bulk id range for a whole run (PostgreSQL: a session
    advisory lock on a connection of the run's own; slots 7 … 1, never 0, which
    :func:`lock` waits for when every slot is busy) and yield it if the tables whose
    ids loaders allocate are empty once it is held. Then nothing is stored in that
    slot and nothing else can write in it until the run ends, so the run may take its
    numbers there by batch (:class:`Numbers` with ``first`` the slot's, ``limit`` a
    slot's) without reading the tables; other loaders' batches take the other slots
    meanwhile, as before. Yields None (and holds nothing) on SQLite, when every slot
    but 0 is busy, or when the tables have rows: then each batch takes a slot and
    reads the next free numbers (:func:`lock`, :class:`IdAllocator`)."""
    with _slot_holder(factory) as holder:
        if holder is None:
            yield None
            return
        free = (c for c in range(BULK_SLOTS - 1, 0, -1) if _try_slot(holder, c))
        slot = next(free, None)
        # Read once the slot is held (a batch that held it before has ended, so its
        # rows, if any, are seen), as the run's batches see the tables.
        if slot is not None:
            with factory() as session:
                if _history_stored(session):
                    holder.execute(text("SELECT pg_advisory_unlock_all()"))
                    slot = None
        yield slot


def prepare_reserved(session: Session) -> None:
    """What :func:`lock` does for a batch of a run that holds :func:`own_bulk_ids`
    (the slots are the run's already)."""
    if _dialect(session) == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))
        trust_references(session)


def lock(session: Session) -> int:
    """Take a slot of the bulk id range for this transaction and return it: batches
    written at the same time hold different slots, so they write side by side
    without taking the same ids (when all eight are busy, wait for slot 0). SQLite's
    IMMEDIATE transactions serialise writers already: slot 0."""
    if _dialect(session) != "postgresql":
        return 0
    slot = 0
    for candidate in range(BULK_SLOTS):
        taken = session.execute(
            text("SELECT pg_try_advisory_xact_lock(CAST(:k AS integer), CAST(:s AS integer))"),
            {"k": _LOCK_KEY, "s": candidate},
        ).scalar()
        if taken:
            slot = candidate
            break
    else:
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:k AS integer), 0)"), {"k": _LOCK_KEY}
        )
    # A batch lost in a crash is lost with its resume mark (same transaction): the
    # next run loads it again, so the commit need not wait for the disk.
    session.execute(text("SET LOCAL synchronous_commit = off"))
    trust_references(session)
    return slot


def trust_references(session: Session) -> None:
    """Skip the per-row foreign-key triggers for this transaction, when the database
    role may (a superuser; otherwise the checks run as usual).

    Every id a bulk stage row refers to was read from the database by the loader
    (company, project, staff, owner) or made in this same transaction (the complaint
    an event, follow-up or visit belongs to), and ComplaintDesk never deletes those
    rows; so the checks could only pass. They are most of the database's work per
    bulk row (about 23 trigger runs per complaint with its lifecycle): skipping them
    halves it (docs/capacity.md).
    """
    if _superuser(session):
        session.execute(text("SET LOCAL session_replication_role = replica"))


def _superuser(session: Session) -> bool:
    return session.execute(text("SHOW is_superuser")).scalar() == "on"


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # The format SQLAlchemy's SQLite DateTime reads back.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return dumps(value)
    return value


def write_batch(session: Session, rows: list[list[Any]], tries: int = 2) -> BatchWritten:
    """Write the stage rows (ids already set) and everything they carry; in the
    caller's transaction, which also holds :func:`lock`. ``tries``: how many times a
    month whose partition is missing and busy is tried (1: the caller has tried once
    already, :func:`make_partitions`)."""
    if not rows:
        return BatchWritten(0, 0)
    made = _table_rows(rows)
    if _dialect(session) == "postgresql":
        # History's months get their partitions first: every month any row of the batch
        # is in, the later steps' too (a complaint's closing can be weeks after it, in a
        # month none of the batch's complaints is in). A row written before its month's
        # partition exists waits in the default partition, and keeps that month from
        # getting one until maintenance moves it.
        ids = {"complaints": [row[_INDEX["id"]] for row in rows]}
        for table in ("events", "follow_ups", "visits"):
            ids[table] = [r[0] for r in made.tables[table]]
        _ensure_partitions(session.connection(), ids, tries)
        _copy_tables(session, made)
        if _superuser(session):
            # The checks are back for whatever else this transaction does.
            session.execute(text("SET LOCAL session_replication_role = DEFAULT"))
    else:
        _insert_tables(session, made)
    return BatchWritten(len(rows), made.events)


def _ensure_partitions(connection: Connection, ids: dict[str, list[int]], tries: int = 2) -> None:
    """The partitions of every month the batch's rows (``ids``, by table) are in. A
    month whose locks are held past :data:`partitions.MAKE_LOCK_TIMEOUT` (a ``db
    compact`` or a VACUUM of a month, a long transaction) is left busy, and tried
    ``tries`` times in all (an import's batch: once, after :func:`make_partitions`
    tried in a transaction of its own); if still busy, its rows go to the default
    partition, and a warning says which month's, and how many (maintenance makes the
    month and moves them in)."""
    everything = [i for found in ids.values() for i in found]
    low, high = min(everything), max(everything)
    report = partitions.ensure_for_ids(connection, low, high)
    for _ in range(tries - 1):
        if not report.busy:
            break
        report = partitions.ensure_for_ids(connection, low, high)
    sent: list[str] = []
    for name in report.busy:
        table, year, month = name.rsplit("_", 2)
        start, end = partitions.bounds(datetime(int(year), int(month), 1, tzinfo=UTC))
        count = sum(1 for i in ids.get(table, ()) if start <= i < end)
        if count:
            sent.append(f"{count} {table} of {year}-{month} ({name})")
    if sent:
        log.warning(
            "bulk batch: a month's partition could not be made (its locks held over %s, "
            "twice), so this batch's rows of that month went to the default partition: "
            "%s. So will that month's rows of the next batches, until partition maintenance "
            "(serve's, or complaintdesk db partitions) makes the month and moves them in",
            partitions.MAKE_LOCK_TIMEOUT,
            "; ".join(sent),
        )


_MOMENTS = tuple(
    _INDEX[c]
    for c in ("received_at", "dispatched_at", "started_at", "resolved_at", "visited_at",
              "closed_at", "fu_at")
)  # fmt: skip
"""The moments a stage row's ids are made from (its complaint's, its steps')."""


def make_partitions(
    factory: sessionmaker[Session], rows: list[list[Any]], before: Callable[[], None]
) -> bool:
    """PostgreSQL: make the partitions of every month the stage rows have a moment in,
    in a transaction of their own, so that the batch's own transaction (whose
    :func:`write_batch` then finds them all) takes no table's ACCESS EXCLUSIVE lock.
    ``before`` is called first when one is missing: making a partition waits for every
    transaction still writing to its table, so a parallel import first waits there
    until its earlier batches have committed (its batches' transactions overlap).
    Returns whether every month has its partition now; False when one was left busy
    (:func:`partitions.ensure`): the batch's :func:`write_batch` tries again, in its
    own transaction, which must then not overlap another (wait for the earlier
    batches' commits first)."""
    moments = [row[i] for row in rows for i in _MOMENTS if row[i] is not None]
    if not moments:
        return True
    first, last = min(moments), max(moments)
    with unit_of_work(factory) as session:
        if partitions.all_made(session.connection(), first, last):
            return True
    before()
    with unit_of_work(factory) as session:
        return not partitions.ensure(session.connection(), first, last).busy


_N_COMPLAINT = len(COMPLAINT_COLUMNS)
_EVENT_STEPS = tuple(
    (_INDEX[ev], _INDEX[at], _INDEX[actor], kind)
    for ev, at, actor, kind in (
        ("ev_received", "received_at", "first_receiver_id", "received"),
        ("ev_dispatched", "dispatched_at", "first_receiver_id", "dispatch"),
        ("ev_started", "started_at", "assignee_id", "start"),
        ("ev_resolved", "resolved_at", "assignee_id", "resolve"),
        ("ev_visited", "visited_at", "first_receiver_id", "visit_satisfied"),
    )
)  # fmt: skip
"""The lifecycle's steps as events, in order: each stores no field, old, new (each
follows the one before: ``lifecycle.status_changes`` works them out)."""


_TABLES: dict[str, tuple[str, ...]] = {
    "complaints": COMPLAINT_COLUMNS,
    "events": ("id", "complaint_id", "at", "actor_id", "kind", "field", "old", "new", "data"),
    "follow_ups": ("id", "complaint_id", "staff_id", "at", "note"),
    "visits": ("id", "complaint_id", "staff_id", "at", "satisfaction", "satisfied", "comment"),
    "outbox": ("id", "company_id", "complaint_id", "owner_id", "kind", "channel", "recipient",
               "language", "subject", "body", "dedupe_key", "status", "attempts", "created_at",
               "next_attempt_at", "sent_at"),
}  # fmt: skip
"""The tables a batch writes, and their columns in the order of :class:`_TableRows`."""


@dataclass
class _TableRows:
    """A batch's rows for each table of :data:`_TABLES`, and the side tables' rows its
    triggers would have made (off in a bulk batch on PostgreSQL). The complaints' rows
    are made as they are written (each gets its search terms then: the batch never
    holds them all)."""

    tables: dict[str, Iterable[Sequence[Any]]]
    checks: list[tuple[int, datetime]]  # sla_checks: open work's next check
    owned: list[tuple[int, int]]  # owner_complaints: (owner, complaint)
    events: int = 0


def _complaints(rows: list[list[Any]]) -> Iterator[Sequence[Any]]:
    terms, text_, summary = _INDEX["search_terms"], _INDEX["text"], _INDEX["summary"]
    for row in rows:
        values = row[:_N_COMPLAINT]
        if values[terms] is None:
            values[terms] = search_terms(row[text_], row[summary])
        yield values


def _table_rows(rows: list[list[Any]]) -> _TableRows:
    """Every table's rows of a batch of stage rows: the one place that says what a
    loaded complaint's history is made of (written by :func:`_copy_tables` on
    PostgreSQL and :func:`_insert_tables` on SQLite)."""
    i = _INDEX
    id_, status = i["id"], i["status"]
    receiver, assignee, company, owner = (
        i["first_receiver_id"], i["assignee_id"], i["company_id"], i["owner_id"]
    )  # fmt: skip
    received_data, ev_received, ev_closed = i["received_data"], i["ev_received"], i["ev_closed"]
    closed_at, visited_at, received_at = i["closed_at"], i["visited_at"], i["received_at"]
    fu_id, fu_at, fu_note = i["fu_id"], i["fu_at"], i["fu_note"]
    visit_id, satisfaction, visit_comment = i["visit_id"], i["satisfaction"], i["visit_comment"]
    msg = [i[c] for c in ("msg_kind", "msg_channel", "msg_recipient", "msg_language",
                          "msg_subject", "msg_body")]  # fmt: skip
    msg_body, msg_status, msg_sent_at = i["msg_body"], i["msg_status"], i["msg_sent_at"]
    sla_check_at, steps_known = i["sla_check_at"], i["steps_known"]
    events: list[Sequence[Any]] = []
    follow_ups: list[Sequence[Any]] = []
    visits: list[Sequence[Any]] = []
    outbox: list[Sequence[Any]] = []
    made = _TableRows(
        {"complaints": _complaints(rows), "events": events, "follow_ups": follow_ups,
         "visits": visits, "outbox": outbox},
        [], [],
    )  # fmt: skip
    for row in rows:
        complaint = row[id_]
        for ev, at, actor, kind in _EVENT_STEPS:
            if row[ev] is not None:
                data = row[received_data] if ev == ev_received else None
                events.append(
                    (row[ev], complaint, row[at], row[actor], kind, None, None, None, data)
                )
        if row[ev_closed] is not None:
            kind, field, new = lifecycle.loaded_ending(
                row[status], row[visited_at] is not None, bool(row[steps_known])
            )
            events.append(
                (row[ev_closed], complaint, row[closed_at], row[receiver], kind, field, None, new,
                 None)
            )  # fmt: skip
        if row[fu_id] is not None:
            staff = row[assignee] if row[assignee] is not None else row[receiver]
            follow_ups.append((row[fu_id], complaint, staff, row[fu_at], row[fu_note]))
        if row[visit_id] is not None:
            score = row[satisfaction]
            visits.append(
                (row[visit_id], complaint, row[receiver], row[visited_at], score,
                 None if score is None else score >= 3, row[visit_comment])
            )  # fmt: skip
        if row[msg_body] is not None:
            sent = row[msg_sent_at]
            outbox.append(
                (row[ev_received], row[company], complaint, row[owner],
                 *(row[m] for m in msg), f"owner:{row[ev_received]}", row[msg_status],
                 0 if sent is None else 1, row[received_at], row[received_at], sent)
            )  # fmt: skip
        if row[sla_check_at] is not None and row[closed_at] is None:
            made.checks.append((complaint, row[sla_check_at]))
        if row[owner] is not None:
            made.owned.append((row[owner], complaint))
    made.events = len(events)
    return made


_JSONB_OID = 3802


class _JsonbAsGiven(Dumper):
    """jsonb in a binary COPY from what a stage row holds: JSON text already made
    (:func:`dumps`), or an object."""

    format = Format.BINARY
    oid = _JSONB_OID

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + (obj if isinstance(obj, str) else dumps(obj)).encode("utf-8")


def _column_types(session: Session) -> dict[str, dict[str, int]]:
    """The type (oid) of every column of the tables a batch COPYs, as the database has
    them: a binary COPY must send each value in its column's own type."""
    found: dict[str, dict[str, int]] = {}
    for table, column, oid in session.execute(
        text(
            "SELECT c.relname, a.attname, CAST(a.atttypid AS bigint) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attrelid = ANY(CAST(:tables AS regclass[])) AND a.attnum > 0 "
            "AND NOT a.attisdropped"
        ),
        {"tables": list(_TABLES)},
    ):
        found.setdefault(table, {})[column] = int(oid)
    return found


def _copy_tables(session: Session, made: _TableRows) -> None:
    """PostgreSQL: a binary COPY straight into each table (PostgreSQL reads each value
    as it is stored instead of parsing text, its timestamps most of all: about a
    quarter of the database's work a row, docs/capacity.md), and the side tables'
    rows, whose triggers are off in a bulk batch (replica role)."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    types = _column_types(session)
    with raw.cursor() as cursor:
        cursor.adapters.register_dumper(None, _JsonbAsGiven)
        for table, columns in _TABLES.items():
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement) as copy:
                copy.set_types([types[table][c] for c in columns])
                for values in made.tables[table]:
                    copy.write_row(values)
    if made.checks and has_table(session, "sla_checks"):  # the sweeper's table (0009)
        # Its triggers on complaints are off in a bulk batch (replica role) but run for
        # a role that may not turn them off: their rows stay.
        session.execute(
            text(
                "INSERT INTO sla_checks (complaint_id, check_at) "
                "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[])) "
                "ON CONFLICT (complaint_id) DO NOTHING"
            ),
            {"ids": [c for c, _ in made.checks], "ats": [a for _, a in made.checks]},
        )
    if made.owned and has_table(session, "owner_complaints"):  # owners' histories (0015)
        # Likewise kept by a trigger on complaints, off here (replica role).
        session.execute(
            text(
                "INSERT INTO owner_complaints (owner_id, complaint_id) "
                "SELECT * FROM unnest(CAST(:owners AS bigint[]), CAST(:ids AS bigint[])) "
                "ON CONFLICT DO NOTHING"
            ),
            {"owners": [o for o, _ in made.owned], "ids": [c for _, c in made.owned]},
        )


def _insert_tables(session: Session, made: _TableRows) -> None:
    """SQLite: an ``executemany`` a table. Its triggers run: the search index, the
    sweeper's next checks and the owners' histories follow the complaints' rows; the
    batch's own next checks are added where a trigger made none."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    for table, columns in _TABLES.items():
        raw.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            ([_sqlite_value(v) for v in values] for values in made.tables[table]),
        )
    if made.checks and has_table(session, "sla_checks"):
        raw.executemany(
            "INSERT INTO sla_checks (complaint_id, check_at) VALUES (?, ?) "
            "ON CONFLICT (complaint_id) DO NOTHING",
            ((c, _sqlite_value(a)) for c, a in made.checks),
        )


def has_table(session: Session, name: str) -> bool:
    """Whether the database has table ``name`` (one not yet at the migration that
    makes it has not)."""
    if _dialect(session) == "sqlite":
        found = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :n"
    else:
        found = "SELECT to_regclass(:n) IS NOT NULL"
    return bool(session.scalar(text(found), {"n": name}))


# --- indexes made after the load (an empty database) ---------------------------------

DEFERRABLE = (
    "complaints",
    "events",
    "follow_ups",
    "visits",
    "outbox",
    "sla_checks",
)
"""The tables a bulk load into an empty database fills: their secondary indexes can
be made after the load instead of row by row during it."""
_DEFERRED = "bulk_deferred_indexes"


def defer_indexes(connection: Connection) -> list[str]:
    """Drop the secondary indexes of the bulk tables (PostgreSQL), noting each one's
    definition in ``bulk_deferred_indexes`` in the same transaction, so that
    :func:`restore_indexes` makes them again after the load, even after a crash (the
    next :func:`restore_indexes` finds them noted). Primary keys and unique indexes
    stay: ids are allocated by probing the primary keys, and uniqueness is checked
    as rows come. Returns the names dropped.

    Only for tables that are empty (the caller checks): building an index once over
    sorted rows costs a fraction of maintaining it row by row, but the indexes are
    missing until the load ends, so queries meanwhile would scan."""
    if connection.dialect.name != "postgresql":
        return []
    connection.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {_DEFERRED} "
            "(name text PRIMARY KEY, tablename text NOT NULL, definition text NOT NULL)"
        )
    )
    found = connection.execute(
        text(
            "SELECT c.relname, t.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname = ANY(:tables) AND t.relnamespace = to_regnamespace(current_schema()) "
            "AND NOT i.indisunique AND NOT i.indisprimary ORDER BY t.relname, c.relname"
        ),
        {"tables": list(DEFERRABLE)},
    ).all()
    for name, table, definition in found:
        made = re.sub(r"^CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", definition)
        made = made.replace(" ON ONLY ", " ON ", 1)
        connection.execute(
            text(f"INSERT INTO {_DEFERRED} (name, tablename, definition) VALUES (:n, :t, :d)"),
            {"n": name, "t": table, "d": made},
        )
        connection.execute(text(f'DROP INDEX "{name}"'))
    return [name for name, _, _ in found]


def defer_if_empty(factory: sessionmaker[Session]) -> list[str] | None:
    """:func:`defer_indexes` if the history tables (:data:`HISTORY_TABLES`, as
    :func:`own_bulk_ids` asks) hold no row: in one transaction, under a lock that two
    loaders starting at once take in turn (the second finds nothing left to drop).
    Returns the names dropped, or None when the tables have rows (then nothing is
    dropped: never under a database that is in use) and on SQLite."""
    with unit_of_work(factory) as session:
        if _dialect(session) != "postgresql":
            return None
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:k AS integer), CAST(:s AS integer))"),
            {"k": _LOCK_KEY, "s": BULK_SLOTS},  # not a slot: the slots are 0 … 7
        )
        if _history_stored(session):
            return None
        return defer_indexes(session.connection())


def deferred_count(session: Session) -> int:
    """How many indexes :func:`defer_indexes` noted that are not made yet (an
    interrupted load's, or a load's under way)."""
    if _dialect(session) != "postgresql" or not session.scalar(
        text(f"SELECT to_regclass('{_DEFERRED}') IS NOT NULL")
    ):
        return 0
    return int(session.scalar(text(f"SELECT count(*) FROM {_DEFERRED}")) or 0)


def deferred_state(session: Session) -> str:
    """What /readyz and ``serve`` say of :func:`deferred_count`: ``ok``, or how many
    indexes wait and what that means."""
    waiting = deferred_count(session)
    if not waiting:
        return "ok"
    return (
        f"deferred: {waiting} secondary indexes of the history tables are not made (a bulk "
        "load into empty tables is under way, or was interrupted: run the same import "
        "again to resume it, and it makes them at its end); meanwhile reads of those "
        "tables scan them (docs/bulk.md)"
    )


def finish_deferred(factory: sessionmaker[Session], workers: int = 2) -> float:
    """After a load that deferred its indexes: make them (:func:`restore_indexes`, up
    to ``workers`` at a time), then ``ANALYZE`` the tables it filled (the planner's
    statistics; after the indexes, whose expressions it reads too), also up to
    ``workers`` tables at a time, the complaints first. Returns the seconds it took."""
    started = time.monotonic()
    restore_indexes(factory, workers=workers)
    with factory() as session:
        tables = [t for t in DEFERRABLE if has_table(session, t)]
        if isinstance(session.get_bind(), Connection):
            workers = 1  # the factory's sessions share one connection

    def analyze(table: str) -> None:
        with unit_of_work(factory) as session:
            session.execute(text(f"ANALYZE {table}"))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(analyze, tables))
    return time.monotonic() - started


_RESTORE_LOCK = 0x0C0D_B1D0
"""The first key of the advisory locks that put the index builds whose partitions'
indexes could take the same names one at a time across the runs restoring them (the
second: the hash of :func:`_clash_key`)."""

_NAME_KEPT = 29
"""Characters of an index's columns part that every name PostgreSQL makes for it on a
partition keeps, when the partition's name has at most as many: ``makeObjectName``
fits ``<partition>_<columns>_idx`` into 63 characters by shortening the longer part
first, so neither falls below (63 - 5) / 2."""


PROBE_LOCK_TIMEOUT = "2s"
"""How long a statement of :func:`restore_indexes`'s planning (the tables' sizes, the
probe of an index's column names) waits for a table's lock before it looks at who
holds it: a writer's batch or an ``ANALYZE`` lets go soon, and it tries again (up to
:data:`PROBE_ATTEMPTS` times); another session's ACCESS EXCLUSIVE or EXCLUSIVE lock (a
``db compact`` rewrite of a month, ``VACUUM FULL``, a migration, ``LOCK TABLE``) may be
held for hours, so after :data:`PROBE_ATTEMPTS_HELD` tries it stops and says so
(:class:`TableBusy`) instead of waiting unseen."""
PROBE_ATTEMPTS = 30
PROBE_ATTEMPTS_HELD = 3
_HELD_MODES = ("AccessExclusiveLock", "ExclusiveLock")


class TableBusy(RuntimeError):
    """:func:`restore_indexes` gave up waiting for a table's lock: the message says
    which table, what holds it and what to do. Nothing is lost: the indexes stay noted
    in ``bulk_deferred_indexes``."""


def _holders(session: Session, tables: Sequence[str]) -> tuple[bool, str, str]:
    """Who holds a lock, other than a plain reader's, on ``tables`` or one of their
    partitions: whether any holds ACCESS EXCLUSIVE or EXCLUSIVE, the tables locked
    (``tables`` when none is by now), and each holder (process, mode, relation, the
    start of its statement; "another session" when none)."""
    # The partitions from pg_inherits: pg_partition_tree would lock each (ACCESS SHARE),
    # and wait behind the very lock it is asked about.
    found = session.execute(
        text(
            "WITH RECURSIVE tree(relid) AS (SELECT CAST(to_regclass(t) AS oid) "
            "FROM unnest(CAST(:t AS text[])) AS t WHERE to_regclass(t) IS NOT NULL "
            "UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid) "
            "SELECT c.relname, l.mode, l.pid, left(coalesce(a.query, ''), 80) FROM pg_locks l "
            "JOIN pg_class c ON c.oid = l.relation "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.granted AND l.pid <> pg_backend_pid() AND l.mode <> 'AccessShareLock' "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.relation IN (SELECT relid FROM tree) "
            "ORDER BY l.mode = ANY(CAST(:held AS text[])) DESC, c.relname LIMIT 3"
        ),
        {"t": list(tables), "held": list(_HELD_MODES)},
    ).all()
    session.rollback()
    if not found:
        return False, ", ".join(tables), "another session"
    held = any(mode in _HELD_MODES for _, mode, _, _ in found)
    locked = ", ".join(dict.fromkeys(relation for relation, _, _, _ in found))
    said = "; ".join(
        f"process {pid} ({mode.removesuffix('Lock')} on {relation}: {query!r})"
        for relation, mode, pid, query in found
    )
    return held, locked, said


def _not_waiting(session: Session, tables: Sequence[str], step: Callable[[], Any]) -> Any:
    """``step()`` (a statement that reads or locks ``tables``) in the session's
    transaction, each lock waited for at most :data:`PROBE_LOCK_TIMEOUT`: when one is
    not had by then, the transaction is rolled back, and ``step`` tried again while
    only writers or readers hold the table (:data:`PROBE_ATTEMPTS`); held ACCESS
    EXCLUSIVE or EXCLUSIVE, :data:`PROBE_ATTEMPTS_HELD` times; then :class:`TableBusy`
    names the table, who holds it, and what to do."""
    for attempt in range(1, PROBE_ATTEMPTS + 1):
        previous = session.scalar(text("SELECT current_setting('lock_timeout')"))
        session.execute(
            text("SELECT set_config('lock_timeout', :t, true)"), {"t": PROBE_LOCK_TIMEOUT}
        )
        try:
            result = step()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            session.rollback()
            held, locked, holders = _holders(session, tables)
            if attempt < (PROBE_ATTEMPTS_HELD if held else PROBE_ATTEMPTS):
                time.sleep(0.5)
                continue
            raise TableBusy(
                f"the deferred indexes were not made: a lock on {locked} was waited for "
                f"{attempt} times {PROBE_LOCK_TIMEOUT}, held by {holders}. Nothing is lost: "
                "they stay noted in bulk_deferred_indexes (reads of those tables scan "
                "meanwhile). Let that session finish (a db compact, a VACUUM FULL, a "
                "migration) or end it, then run the same import again (or any import or "
                "generate): it makes them (docs/bulk.md)"
            ) from exc
        session.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": previous})
        return result
    raise AssertionError("unreachable")


def _column_names(session: Session, noted: list[tuple[str, str, str]]) -> dict[str, str]:
    """For each noted index (name, table, definition) of a partitioned table, the part
    of the names PostgreSQL gives its partitions' indexes after the partition's name:
    the index's own columns' names joined by ``_`` (a column's name, a function's for
    an expression that calls one, ``expr`` for another, a name met before with a
    number: ``ChooseIndexColumnNames``). Read from PostgreSQL itself: each made on its
    parent alone (``ON ONLY``: no partition built, nothing read), its columns read, and
    rolled back (one at a time: no lock on two tables held at once). The parent's lock
    (SHARE) is waited for at most :data:`PROBE_LOCK_TIMEOUT` (:class:`TableBusy`)."""
    names: dict[str, str] = {}
    try:
        for n, (name, table, definition) in enumerate(noted):
            session.rollback()
            probe = f"cd_restore_probe_{n}"
            made, count = re.subn(
                r"^CREATE INDEX IF NOT EXISTS \S+ ON (?:ONLY )?",
                f"CREATE INDEX {probe} ON ONLY ",
                definition,
            )
            if not count:
                continue
            _not_waiting(session, [table], partial(session.execute, text(made)))
            names[name] = "_".join(
                session.scalars(
                    text(
                        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:p) "
                        "ORDER BY attnum"
                    ),
                    {"p": probe},
                )
            )
    finally:
        session.rollback()
    return names


def _clash_key(
    table: str, name: str, partitioned: bool, columns: str | None, longest_partition: int
) -> str:
    """Builds with the same key must not run at once: PostgreSQL names each partition's
    index ``<partition>_<columns>_idx`` (``columns`` from :func:`_column_names`), sees
    only committed names when it checks that a name is free, and two builds at once
    that choose the same name fail (a UniqueViolation on ``pg_class``): two indexes
    over the same columns of one table (``ix_complaints_company`` and
    ``ix_complaints_closed_company``). Builds with different keys never choose the same
    name: their columns parts differ in the first :data:`_NAME_KEPT` characters, which
    every such name keeps while the table's partitions' names are no longer
    (``complaints_2025_05``: 18); a table with longer ones has one key (its builds one
    at a time; so has one whose columns are unknown). An index of a table that is not
    partitioned has its own key (it makes no other index)."""
    if not partitioned:
        return f"{table}.{name}"
    if columns is None or longest_partition > _NAME_KEPT:
        return table
    return f"{table}:{columns[:_NAME_KEPT]}"


def restore_indexes(factory: sessionmaker[Session], workers: int = 1) -> list[str]:
    """Make the indexes :func:`defer_indexes` noted (one transaction each, so an
    interruption keeps those already made), then forget them. Up to ``workers`` at a
    time, each in its own connection (a build uses one core, and PostgreSQL's parallel
    maintenance workers help only the btrees, not the search index, and not at all
    below a partition's ``min_parallel_table_scan_size``): those whose partitions'
    indexes could take the same names (:func:`_clash_key`) one after another, in one
    group, never at once; the groups side by side, the dearest first (the table's
    size, times the group's indexes, times four for one not a B-tree: the search
    index's GIN computes ``to_tsvector`` for each row). Another run restoring at the
    same time (two imports ending together) shares the work: each index is made once,
    by whichever run claims its note, and builds with the same key run one at a time
    across both runs. Does nothing when none are noted (and on SQLite). Returns the
    indexes this run made."""
    with factory() as session:
        if _dialect(session) != "postgresql" or not session.scalar(
            text(f"SELECT to_regclass('{_DEFERRED}') IS NOT NULL")
        ):
            return []
        planned = text(
            "SELECT d.name, d.tablename, d.definition, "
            "(SELECT max(length(c.relname)) FROM pg_inherits i JOIN pg_class c "
            " ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(d.tablename)), "
            "(SELECT coalesce(sum(pg_relation_size(p.relid)), 0) "
            " FROM pg_partition_tree(to_regclass(d.tablename)) p), "
            "(SELECT c.relkind = 'p' FROM pg_class c WHERE c.oid = to_regclass(d.tablename)) "
            f"FROM {_DEFERRED} d ORDER BY d.name"
        )
        # The sizes open each partition (its ACCESS SHARE lock): not waited for unseen.
        pending = _not_waiting(session, DEFERRABLE, lambda: session.execute(planned).all())
        columns = _column_names(session, [(r[0], r[1], r[2]) for r in pending if r[5]])
        groups: dict[str, list[tuple[str, str, str]]] = {}
        cost: Counter[str] = Counter()
        for name, table, definition, longest, size, partitioned in pending:
            key = _clash_key(table, name, bool(partitioned), columns.get(name), longest or 0)
            groups.setdefault(key, []).append((key, name, definition))
            cost[key] += (1 + int(size or 0)) * (1 if " USING btree " in definition else 4)
        if isinstance(session.get_bind(), Connection):
            workers = 1  # the factory's sessions share one connection: one at a time

    def make(indexes: list[tuple[str, str, str]]) -> list[str]:
        made = []
        for key, name, definition in indexes:
            with unit_of_work(factory) as session:
                # Two runs may restore at once (two imports into empty tables each end
                # by restoring): builds with one key one at a time across them (the
                # names of a partitioned index's partitions, above), and each index
                # claimed by the run that removes its note, in the build's transaction;
                # the other finds no note once that commits, and skips it.
                session.execute(
                    text("SELECT pg_advisory_xact_lock(CAST(:k AS integer), hashtext(:t))"),
                    {"k": _RESTORE_LOCK, "t": key},
                )
                claimed = session.scalar(
                    text(f"DELETE FROM {_DEFERRED} WHERE name = :n RETURNING name"), {"n": name}
                )
                if claimed is None:
                    continue
                session.execute(text(definition))
                made.append(name)
        return made

    ordered = [groups[key] for key, _ in cost.most_common()]  # the dearest first
    if workers <= 1:
        return [name for group in ordered for name in make(group)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [name for made in pool.map(make, ordered) for name in made]


def dumps(value: Any) -> str:
    """Compact JSON, as stored."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_EVENT_MOMENTS = [
    ("ev_received", "received_at"),
    ("ev_dispatched", "dispatched_at"),
    ("ev_started", "started_at"),
    ("ev_resolved", "resolved_at"),
    ("ev_visited", "visited_at"),
    ("ev_closed", "closed_at"),
]
_STEP_TABLES = [
    ("events", _EVENT_MOMENTS),
    ("follow_ups", [("fu_id", "fu_at")]),
    ("visits", [("visit_id", "visited_at")]),
]


def _ms_list(moments: list[datetime]) -> list[int]:
    """:func:`ms_of` of each moment (most of a batch's id work: said once, fast, for
    the aware datetimes the loaders make)."""
    epoch = EPOCH_MS
    made = [
        int(m.timestamp() * 1000) - epoch if m.tzinfo is not None else ms_of(m) for m in moments
    ]
    if made and not (min(made) >= 0 and max(made) < 1 << 41):
        raise ValueError("a moment is outside the id range (2020 to 2089)")
    return made


def assign_ids(
    session: Session, rows: list[list[Any]], slot: int = 0, numbers: Numbers | None = None
) -> None:
    """Give every complaint and every lifecycle step of ``rows`` its bulk id (the
    stage rows carry their moments; a step without a moment gets no id; a row asks
    for a step's id by holding ``True`` in its id column). ``numbers``: a run that
    holds :func:`own_bulk_ids` over empty tables takes the next numbers of the run
    (nothing read); otherwise the next free ids of ``slot`` after what is stored."""
    id_ = _INDEX["id"]
    tables: list[tuple[str, list[tuple[list[Any], int]], list[datetime]]] = [
        ("complaints", [(row, id_) for row in rows], [r[_INDEX["received_at"]] for r in rows])
    ]
    for table, steps in _STEP_TABLES:
        wanted: list[tuple[list[Any], int]] = []
        moments: list[datetime] = []
        for id_col, at_col in steps:
            i, at = _INDEX[id_col], _INDEX[at_col]
            chosen = [row for row in rows if row[i] is True]
            wanted += [(row, i) for row in chosen]
            moments += [row[at] for row in chosen]
        tables.append((table, wanted, moments))
    if numbers is None:
        for table, wanted, moments in tables:
            made = IdAllocator(session, table, slot).allocate(moments)
            for (row, i), value in zip(wanted, made, strict=True):
                row[i] = value
        return
    ms_lists = [_ms_list(moments) for _, _, moments in tables]
    width = max((max(Counter(ms).values()) for ms in ms_lists if ms), default=1)
    low = BULK_BIT | numbers.take(width)
    for (_, wanted, _), ms_list in zip(tables, ms_lists, strict=True):
        used: dict[int, int] = {}
        for (row, i), ms in zip(wanted, ms_list, strict=True):
            n = used.get(ms, 0)
            used[ms] = n + 1
            row[i] = (ms << LOW_BITS) | (low + n)
