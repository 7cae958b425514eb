"""A settled complaint's events folded into one row (``db compact``).

A complaint's history is about seven event rows (received, dispatch, start, resolve,
the visit, close, an escalation now and then), each about 59 bytes of tuple header,
ids and times, 10 of kind and some 42 of index entries before its own data: about
800 bytes a complaint of fixed costs, for rows that are never changed once the
complaint is closed and its messages are past retention (docs/capacity.md, "Bytes
per complaint"). When its month has settled, :func:`fold` writes such a complaint's
events as one row of ``events``: kind :data:`FOLDED`, the id and time of its first
event, and as its data ``{"packed": "…"}`` (:func:`pack`) the list::

    ["actors;kind,ms,low,offset,actor;...", data, data, ...]

one string of the events' fixed parts (ids and times as differences in base 36,
kinds as letters, actors as places in a list of two or three) and each event's data,
in id order (:func:`encode`); as JSON, deflated with a dictionary of the keys and
labels events hold (:data:`DICTIONARY`), in base 85. Readers see the events as they
were (:func:`unfold`: the same ids, times, actors, kinds and data).

Why so, measured on the bench's complaints (docs/capacity.md, "Bytes per complaint",
session 13): as JSONB, an array an event, the fixed parts cost about 60 bytes an
event (JSONB spends 4 bytes an element and aligns each number to 4; a numeric of a
64-bit id is 12 to 16 bytes), near what a row of its own costs: the events' tuples
went from 1,053 to 808 bytes a complaint only. PostgreSQL compresses no value in a
row under about 2 KB (``toast_tuple_target`` lowers the size it shrinks a row to once
it toasts, not the size at which it starts), so the fold compresses itself: the
list's JSON, 674 bytes a complaint there, deflates to 290 with the dictionary (393
without). Base 85 in the JSON column rather than bytes in a column of their own:
a quarter more, but no migration (every test and tool that runs the code on an older
schema keeps working).

What is not folded, and why:

- a complaint not closed (``closed_at`` unset), or with messages still in the outbox:
  the purge writes each message's delivery record into its event, found by id
  (``services/retention.py``);
- ``withdraw`` events: the withdrawn list finds them through their partial index
  (``ix_events_withdrawn``); 3 % of complaints have one.

An event written after the fold (a closed complaint taken up again) is a row of its
own as any other; the timeline merges it with the folded ones (by id), and the next
fold of its month folds them all again into one row. Folding twice changes nothing.

The fold rests on one invariant: no message in the outbox names a folded event. The
purge finds a message's event by id to write its delivery record there, and would
drop the record of an event that is folded. A complaint with a message waiting is
not folded, the choice and the read of its events are made on one snapshot (a
message committed meanwhile keeps its event a row: :func:`fold`), and a message
made later comes with an event of its own.

The folded events' ids are no longer in ``pk_events``: a bulk loader writing history
into a month already folded (``services/bulk.py``, the largest id of a millisecond)
may give its own events ids that a folded event has (seen in review: two complaints'
events with one id). Nothing looks a folded event up by id (a timeline reads its
own complaint's rows; the purge, by the invariant above), so nothing mixes them up;
event ids are unique only among rows.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.attributes import set_committed_value

from complaintdesk.db.ids import LOW_BITS
from complaintdesk.db.models import Complaint, Event, Outbox

FOLDED = "folded"
"""The kind of a row that holds a complaint's folded events."""
KEPT_KINDS = ("withdraw",)
"""Kinds never folded (the withdrawn list's partial index reads them)."""
_DAY_OF_IDS = 86_400_000 << LOW_BITS
BATCH = 500
"""Complaints folded in one transaction."""


@dataclass
class Folding:
    complaints: int = 0
    """Complaints whose events were (re)folded into one row."""
    rows_before: int = 0
    """Their event rows before (folded rows counted as one)."""


@dataclass(frozen=True)
class Entry:
    """One event as a folded row keeps it."""

    id: int
    at: datetime
    actor_id: int | None
    kind: str
    data: Any
    field: str | None
    old: str | None
    new: str | None


def _microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


KIND_CODES: dict[str, str] = {
    "received": "r",
    "dispatch": "d",
    "start": "s",
    "resolve": "R",
    "visit_satisfied": "V",
    "visit_unsatisfied": "U",
    "close": "c",
    "withdraw": "w",
    "escalated": "e",
    "upgraded": "u",
    "follow_up": "f",
    "follow_up_reminded": "F",
    "risk_flagged": "k",
    "assigned": "a",
    "label_corrected": "l",
    "labels_confirmed": "L",
    "owner_messaged": "o",
    "links_revoked": "x",
    "submitted_by_owner": "b",
    "repeat_flagged": "p",
}
"""One letter for each kind the code writes, in folded rows. Only ever added to
(folded rows are read with it); a kind not here is kept whole (longer than one)."""
_KINDS = {code: kind for kind, code in KIND_CODES.items()}
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    """``n`` in base 36, empty for 0 (the first entry's offsets)."""
    if n == 0:
        return ""
    sign, n = ("-", -n) if n < 0 else ("", n)
    out = []
    while n:
        n, digit = divmod(n, 36)
        out.append(_DIGITS[digit])
    return sign + "".join(reversed(out))


def _int36(s: str) -> int:
    return int(s, 36) if s else 0


def foldable(kind: str) -> bool:
    """Whether a kind can be written in the folded row's list (no separator in it)."""
    return bool(kind) and "," not in kind and ";" not in kind and kind not in KEPT_KINDS


_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)  # ids' (db/ids.py: EPOCH_MS)
_LOW_MASK = (1 << LOW_BITS) - 1


def _offset(event_id: int, at: datetime) -> int:
    """Microseconds from the millisecond an id was made to the event's time: nearly
    nothing for an event made at its own time (serve's), under a millisecond for the
    bulk path's (its ids are made from the times)."""
    return _microseconds(at - (_EPOCH + timedelta(milliseconds=event_id >> LOW_BITS)))


def encode(entries: Sequence[Entry]) -> tuple[int, datetime, list[Any]]:
    """The folded row's id, time and list for ``entries`` (sorted by id here).

    The list: first one string of the entries' fixed parts, then each entry's data
    (null for none; ``[data, field, old, new]`` when the entry has a field, old or
    new, as events written before 7 December 2026 do). The string is
    ``actors;entry;entry…``: the distinct actor ids, comma-separated, then an entry
    as ``kind,ms,low,offset,actor``: its kind's letter (:data:`KIND_CODES`); its id
    as the milliseconds after the entry before it's id (the row's for the first) and
    its low 22 bits (node and sequence); its time as the change, from the entry
    before, of the microseconds between its id's millisecond and its time; and its
    actor's place among the actors (empty for none). Numbers in base 36, 0 empty."""
    ordered = sorted(entries, key=lambda e: e.id)
    first = ordered[0]
    actors: list[int] = []
    where: dict[int, int] = {}
    parts: list[str] = []
    payloads: list[Any] = []
    last_ms, last_offset = first.id >> LOW_BITS, _offset(first.id, first.at)
    for e in ordered:
        actor = ""
        if e.actor_id is not None:
            if e.actor_id not in where:
                where[e.actor_id] = len(actors)
                actors.append(e.actor_id)
            actor = str(where[e.actor_id])
        kind = KIND_CODES.get(e.kind, e.kind)
        ms, offset = e.id >> LOW_BITS, _offset(e.id, e.at)
        parts.append(
            f"{kind},{_b36(ms - last_ms)},{_b36(e.id & _LOW_MASK)},"
            f"{_b36(offset - last_offset)},{actor}"
        )
        last_ms, last_offset = ms, offset
        plain = e.field is None and e.old is None and e.new is None
        plain = plain and (e.data is None or isinstance(e.data, dict))
        payloads.append(e.data if plain else [e.data, e.field, e.old, e.new])
    head = ";".join([",".join(str(a) for a in actors), *parts])
    return first.id, first.at, [head, *payloads]


def decode(row_id: int, at: datetime, folded: Any) -> list[Entry]:
    """The entries of a folded row (its id, time and list)."""
    head, *payloads = folded
    actors_part, *parts = str(head).split(";")
    actors = [int(a) for a in actors_part.split(",")] if actors_part else []
    found = []
    ms, offset = row_id >> LOW_BITS, _offset(row_id, at)
    for part, payload in zip(parts, payloads, strict=True):
        kind, d_ms, low, d_offset, actor = part.split(",")
        ms += _int36(d_ms)
        offset += _int36(d_offset)
        event_id = (ms << LOW_BITS) | _int36(low)
        field = old = new = None
        if isinstance(payload, list):
            payload, field, old, new = payload
        found.append(
            Entry(
                id=event_id,
                at=_EPOCH + timedelta(milliseconds=ms) + timedelta(microseconds=offset),
                actor_id=actors[int(actor)] if actor else None,
                kind=_KINDS.get(kind, kind),
                data=payload,
                field=field,
                old=old,
                new=new,
            )
        )
    return found


DICTIONARY = (
    b'{"summary_cause":"","summary_lesson":"","corrective_action":"","preventive_action":"",'
    b'"reason":"owner came back: 9","note":"","comment":"","owner_explanation":"",'
    b'"clock":"response","clock":"resolution","level":1,"level":2,"repeat_of":"9",'
    b'"follow_up":"9","notified":["9"],"by":"owner","by":"staff","satisfaction":5,'
    b'"outcome":"not_our_responsibility","outcome":"cannot_fix_now","outcome":"answered",'
    b'"outcome":"fixed","resolution":"","next_follow_up_at","T00:00:00.000000+00:00",'
    b"consulting help_seeking dissatisfaction person thing matter equipment "
    b"building_quality service_attitude service_quality management neighborhood emergency "
    b"critical high normal low engineering security cleaning landscaping customer_service "
    b'finance","assignee":"9","department":"engineering",'
    b'"labels":"dissatisfaction equipment normal engineering",'
    b'"sent":["9 email +3600","wechat +60"],"sent":"email +60","sent":"sms +60"},null,'
)
"""Deflate's dictionary for :data:`PACKED_V1`: the keys, labels and record forms that
events' data repeats, the commonest last. Never changed (rows packed with it are read
with it); a new one is a new format byte."""
PACKED_V1 = 1
"""The first byte packed: raw deflate of the JSON with :data:`DICTIONARY`."""


def pack(folded: list[Any]) -> dict[str, str]:
    """A folded row's ``data`` for its list (:func:`encode`): ``{"packed": …}``, the
    list as JSON, deflated with :data:`DICTIONARY` after a format byte, in base 85."""
    text = json.dumps(folded, ensure_ascii=False, separators=(",", ":")).encode()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    raw = bytes([PACKED_V1]) + deflate.compress(text) + deflate.flush()
    return {"packed": base64.b85encode(raw).decode("ascii")}


def unpack(data: Any) -> list[Any]:
    """A folded row's list from its ``data``."""
    raw = base64.b85decode(str((data or {}).get("packed") or ""))
    if not raw or raw[0] != PACKED_V1:
        raise ValueError(f"unknown folded events format: {raw[:1]!r}")
    inflate = zlib.decompressobj(-15, DICTIONARY)
    folded: list[Any] = json.loads(inflate.decompress(raw[1:]) + inflate.flush())
    return folded


def _entries(row_id: int, at: datetime, data: Any) -> list[Entry]:
    return decode(row_id, at, unpack(data))


def unfold(row: Event) -> list[Event]:
    """A folded row's events as the rows they were (transient: never written back)."""
    events = []
    for e in _entries(row.id, row.at, row.data):
        event = Event(
            id=e.id,
            complaint_id=row.complaint_id,
            at=e.at,
            actor_id=e.actor_id,
            kind=e.kind,
            field=e.field,
            old=e.old,
            new=e.new,
        )
        set_committed_value(event, "data", e.data)  # as stored (the validator compacts)
        events.append(event)
    return events


def expand(rows: Iterable[Event]) -> list[Event]:
    """A complaint's event rows with folded ones unfolded, in id order."""
    events: list[Event] = []
    for row in rows:
        events.extend(unfold(row) if row.kind == FOLDED else [row])
    return sorted(events, key=lambda e: e.id)


def fold(bind: Engine | Connection, low: int, high: int, *, batch: int = BATCH) -> Folding:
    """Fold the events of the closed complaints with ids in [``low``, ``high``) (a
    month's) that have no message left in the outbox, ``batch`` complaints a
    transaction (an engine), or in the caller's transaction (a connection);
    complaints already folded (one row, beside any ``withdraw``) are left as they
    are. Both databases.

    The complaints are chosen and their events read on one snapshot: on PostgreSQL
    each transaction runs at REPEATABLE READ (SQLite's are IMMEDIATE: no other
    writer meanwhile). At READ COMMITTED a message to the owner committed between the
    two reads (staff may message the owner of a closed complaint) had its event
    folded while its message waited, and the purge, finding no event by that id,
    then dropped its delivery record. Now such a message is seen with its event
    (the complaint is not folded) or neither is (the event stays a row of its own,
    merged by the timeline and folded next time). A batch whose rows another
    transaction changed meanwhile fails to serialise and is run again
    (:data:`RETRIES`). A caller's connection keeps the caller's isolation."""
    report = Folding()
    after = low - 1
    while True:
        if isinstance(bind, Connection):
            ids = _fold_next(bind, after, high, batch, report)
        else:
            done = Folding()
            ids = _on_one_snapshot(
                bind, partial(_fold_next, after=after, high=high, batch=batch, report=done)
            )
            report.complaints += done.complaints
            report.rows_before += done.rows_before
        if len(ids) < batch:
            return report
        after = ids[-1]


RETRIES = 5
"""How many times a batch is run when it fails to serialise (PostgreSQL)."""


def _on_one_snapshot(engine: Engine, work: Callable[[Connection], list[int]]) -> list[int]:
    for attempt in range(RETRIES):
        try:
            with engine.connect() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    return work(connection)
        except OperationalError as exc:
            serialisation = getattr(exc.orig, "sqlstate", None) == "40001"
            if not serialisation or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _fold_next(
    connection: Connection, after: int, high: int, batch: int, report: Folding
) -> list[int]:
    """Fold the settled ones among the next ``batch`` closed complaints after
    ``after``; those closed complaints' ids (the next batch starts after the last)."""
    closed = _closed(connection, after, high, batch)
    ids = _settled(connection, closed)
    if ids:
        _fold_some(connection, ids, report)
    return closed


def _closed(connection: Connection, after: int, high: int, batch: int) -> list[int]:
    """The next ``batch`` closed complaints after ``after``, by id: one index, read
    from ``after`` on. The messages still waiting are looked up for these alone
    (:func:`_settled`): asked in one statement (``NOT EXISTS`` on the outbox), at 30
    million PostgreSQL planned an anti-join that hashed the whole outbox (836,000
    rows) and read the rest of the month for each batch, expecting every complaint
    to have a message: about 600 complaints folded a second on read_30m, 1,350 with
    the two reads (docs/capacity.md, "Bytes per complaint", session 14)."""
    complaints = Complaint.__table__
    return list(
        connection.scalars(
            select(complaints.c.id)
            .where(
                complaints.c.id > after,
                complaints.c.id < high,
                complaints.c.closed_at.is_not(None),
            )
            .order_by(complaints.c.id)
            .limit(batch)
        )
    )


def _settled(connection: Connection, closed: list[int]) -> list[int]:
    """Those of the ``closed`` complaints with no message left in the outbox."""
    if not closed:
        return []
    outbox = Outbox.__table__
    waiting = set(
        connection.scalars(
            select(outbox.c.complaint_id).where(outbox.c.complaint_id.in_(closed)).distinct()
        )
    )
    return [complaint_id for complaint_id in closed if complaint_id not in waiting]


def _fold_some(connection: Connection, ids: list[int], report: Folding) -> None:
    events = cast(Table, Event.__table__)
    rows = connection.execute(
        select(events)
        .where(
            events.c.complaint_id.in_(ids),
            events.c.id >= max(ids[0] - _DAY_OF_IDS, 0),  # their months on (pruning)
            events.c.kind.not_in(KEPT_KINDS),
        )
        .order_by(events.c.complaint_id, events.c.id)
    )
    by_complaint: dict[int, list[Any]] = {}
    for row in rows:
        by_complaint.setdefault(row.complaint_id, []).append(row)
    made: list[dict[str, Any]] = []
    gone: list[int] = []
    for complaint_id, found in by_complaint.items():
        if len(found) < 2:
            continue  # folded already (or a single event: nothing to gain)
        if not all(row.kind == FOLDED or foldable(row.kind) for row in found):
            continue
        entries: list[Entry] = []
        for row in found:
            if row.kind == FOLDED:
                entries.extend(_entries(row.id, row.at, row.data))
            else:
                entries.append(
                    Entry(
                        row.id,
                        row.at,
                        row.actor_id,
                        row.kind,
                        row.data,
                        row.field,
                        row.old,
                        row.new,
                    )
                )
        row_id, at, data = encode(entries)
        made.append(
            {
                "id": row_id,
                "complaint_id": complaint_id,
                "at": at,
                "actor_id": None,
                "kind": FOLDED,
                "field": None,
                "old": None,
                "new": None,
                "data": pack(data),
            }
        )
        gone.extend(row.id for row in found)
        report.complaints += 1
        report.rows_before += len(found)
    if not made:
        return
    for start in range(0, len(gone), 5000):
        connection.execute(delete(events).where(events.c.id.in_(gone[start : start + 5000])))
    connection.execute(insert(events), made)


def folded_received(rows: Iterable[tuple[int, str, int, datetime, Any]]) -> dict[int, Any]:
    """The ``received`` event's data of each complaint, from rows of ``(complaint_id,
    kind, id, at, data)`` that are received events or folded rows."""
    found: dict[int, Any] = {}
    for complaint_id, kind, row_id, at, data in rows:
        if kind == FOLDED:
            for entry in _entries(row_id, at, data):
                if entry.kind == "received":
                    found[complaint_id] = entry.data
        else:
            found[complaint_id] = data
    return found
