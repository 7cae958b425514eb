"""Keeping the outbox small: delivered messages leave it after a retention period.

The outbox is a queue, not an archive: a message that was sent is needed only for a
while (to answer "did the owner get it?" on the complaint's page, to resend by hand).
After the retention period :func:`purge_outbox` deletes it and keeps a compact
delivery record in the event that caused it, ``data.sent``: ``"sms +42"`` to the
owner (by sms, sent 42 seconds after the event, counted in whole seconds of UTC time),
``"917688400358207488 email +3600"`` to a staff member (their id first). An event with
one record (almost every one) stores it as a string, one with several as a list of
them. Kept for ever, about eight a complaint: a record is the fewest characters that
say it (docs/capacity.md, "Bytes per complaint"). The API answers every record with
whom and its time, as it always did, always a list
(``["owner sms 2026-12-17T11:02:34Z"]``, :func:`one_form`).

Records written by earlier versions stay as they were (history is not rewritten) and
read the same: a list of ``"owner sms +42"`` (7 December 2026, before session 9),
of ``sent`` strings with the time itself (purged, or generated, on 7 December 2026
before the seconds came in), and before that ``data.delivered``, a list of ``{"to",
"ch", "at"}`` objects. :func:`deliveries` reads them all. Messages still pending, being
sent or failed stay (they need delivery or someone's attention).

``serve`` runs it periodically (``COMPLAINTDESK_PURGE_INTERVAL_SECONDS``, retention
``COMPLAINTDESK_OUTBOX_RETENTION_DAYS``); ``complaintdesk purge-outbox`` runs it once.

Adding a record rewrites its event (a new version of the row, on another page: the
old pages are full). On PostgreSQL the old versions' room is reused only once a
``VACUUM`` has seen it, and only a ``VACUUM`` that also cleans the indexes records it
as free: one that skips them (as PostgreSQL does when dead rows are on under 2 % of the
pages, as each run's are) leaves it unused, so every later purge of the month
wrote on new pages and the month's events ended up twice their size (docs/capacity.md,
"Bytes per complaint", session 9). So once the rows a month's partition has had
rewritten since its last vacuum reach :data:`REUSE_SHARE` of it, the purge vacuums
that partition itself (:func:`make_room`, indexes included), whatever autovacuum's
settings: the next runs write into that room.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db import partitions
from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.ids import id_time
from complaintdesk.db.models import Event, Outbox

DEFAULT_RETENTION = timedelta(days=30)

REUSE_SHARE = 0.02
"""A month's events partition is vacuumed by the purge once the rows rewritten in it
since its last vacuum reach this share of its rows (at least :data:`REUSE_ROWS`):
its events grow by about this much before the purges write into the old versions'
room, and each such vacuum reads the partition's indexes once (a month's purges,
which rewrite about three quarters of its events, run about 40 of them)."""
REUSE_ROWS = 1000

log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    purged: int = 0
    recorded: int = 0  # events that got a delivery record
    vacuumed: list[str] = field(default_factory=list)  # partitions given their room back


def _cause(dedupe_key: str) -> int | None:
    """The id of the event a message reports (``owner:<event>``,
    ``staff:<staff>:<event>``)."""
    last = dedupe_key.rpartition(":")[2]
    return int(last) if last.isdigit() else None


OWNER = "owner"


def record(to: str, channel: str, sent: datetime | None, since: datetime | None = None) -> str:
    """One delivery record. With ``since`` (the event's moment), as stored: the whole
    seconds from ``since`` to ``sent`` (both cut to the second, so that
    :func:`one_form` gives back the time to the second exactly), after the channel, and
    before it the staff member's id; the owner is not named (``"sms +42"``,
    ``"42 email +3600"``). Without it, as the API answers it: ``"owner sms
    2026-12-17T11:02:34Z"``, UTC to the second, ending in ``Z`` (a time with its zone,
    as docs/api.md promises). The bulk path (``generate``) writes the same."""
    if sent is None:
        return f"{to} {channel}"
    if since is not None:
        seconds = f"{_seconds(sent) - _seconds(since):+d}"
        return f"{channel} {seconds}" if to == OWNER else f"{to} {channel} {seconds}"
    return f"{to} {channel} {_iso(sent)}"


def _offset(word: str) -> bool:
    """Whether ``word`` is a stored record's seconds after its event (``+42``, ``-3``)."""
    return word[:1] in ("+", "-") and word[1:].isdigit()


def _parts(line: str) -> list[str]:
    """A stored record's words as ``[to, channel, when]`` (``when`` left out when the
    record has no time): an owner's record, ``"sms +42"``, names no one."""
    words = line.split(" ")
    if len(words) == 2 and _offset(words[1]):
        return [OWNER, *words]
    return words


def records(data: dict[str, Any] | None) -> list[str]:
    """An event's stored ``sent`` records as a list (one is stored as a string)."""
    sent = (data or {}).get("sent")
    if sent is None:
        return []
    return [sent] if isinstance(sent, str) else list(sent)


def stored(lines: list[str]) -> str | list[str]:
    """``sent`` as it is stored: one record as the string, several as a list."""
    return lines[0] if len(lines) == 1 else lines


def _seconds(at: datetime) -> int:
    return int(at.timestamp() // 1)


def _iso(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def delivery_record(message: Outbox, since: datetime | None = None) -> str:
    to = OWNER if message.staff_id is None else str(message.staff_id)
    return record(to, message.channel, message.sent_at, since)


@dataclass(frozen=True)
class Delivery:
    to: str  # "owner" or a staff id
    channel: str
    at: str | None  # ISO 8601, UTC


def deliveries(data: dict[str, Any] | None, since: datetime | None = None) -> list[Delivery]:
    """An event's delivery records, in any of their forms (``sent`` strings with the
    seconds after the event, ``since``; ``sent`` strings with the time; the
    ``delivered`` objects of events purged before 7 December 2026)."""
    data = data or {}
    found = [
        Delivery(str(d.get("to")), str(d.get("ch")), d.get("at")) for d in data.get("delivered", [])
    ]
    for line in records(data):
        to, channel, *at = _parts(str(line))
        found.append(Delivery(to, channel, _absolute(at[0], since) if at else None))
    return found


def _absolute(when: str, since: datetime | None) -> str:
    """A stored record's time as the API answers it: ``+42`` (seconds after the
    event) as the time; a time as it was written."""
    if since is None or not _offset(when):
        return when
    return _iso(datetime.fromtimestamp(_seconds(since) + int(when), UTC))


def one_form(data: dict[str, Any] | None, since: datetime | None = None) -> dict[str, Any] | None:
    """An event's data with its delivery records in one form, ``sent`` strings with
    the time (``since``: the event's moment, which the stored seconds count from): the
    ``delivered`` objects of events purged before come first, as strings, then the
    event's own ``sent``. What the API answers, so that a client reads one form
    whatever code wrote the event; history is not rewritten."""
    if not data or ("delivered" not in data and "sent" not in data):
        return data
    out = {k: v for k, v in data.items() if k != "delivered"}
    out["sent"] = [_old_record(d) for d in data.get("delivered", []) if isinstance(d, dict)] + [
        _answered(str(line), since) for line in records(data)
    ]
    return out


def _answered(line: str, since: datetime | None) -> str:
    line = " ".join(_parts(line))  # the owner's "sms +42" named: "owner sms +42"
    head, _, when = line.rpartition(" ")
    if not head or " " not in head:  # "<to> <channel>": no time
        return line
    return f"{head} {_absolute(when, since)}"


def _old_record(d: dict[str, Any]) -> str:
    at = d.get("at")
    try:
        sent = datetime.fromisoformat(str(at)) if at else None
    except ValueError:  # kept as written rather than lost
        return f"{d.get('to')} {d.get('ch')} {at}"
    if sent is not None and sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return record(str(d.get("to")), str(d.get("ch")), sent)


def purge_outbox(
    factory: sessionmaker[Session],
    now: datetime,
    *,
    retention: timedelta = DEFAULT_RETENTION,
    batch: int = 2000,
) -> PurgeReport:
    """Delete messages sent before ``now - retention``, keeping their delivery record
    in their events; one transaction per batch. Then, on PostgreSQL, vacuum the
    events' months whose rewritten rows reached :data:`REUSE_SHARE` (:func:`make_room`)."""
    report = PurgeReport()
    cutoff = now - retention
    rewritten: Counter[datetime] = Counter()
    while True:
        with unit_of_work(factory) as session:
            query = (
                select(Outbox)
                .where(Outbox.status == "sent", Outbox.sent_at < cutoff)
                .order_by(Outbox.id)
                .limit(batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            messages = list(session.scalars(query))
            if not messages:
                break
            by_event: dict[int, list[Outbox]] = {}
            for message in messages:
                cause = _cause(message.dedupe_key)
                if cause is not None:
                    by_event.setdefault(cause, []).append(message)
            for event in session.scalars(select(Event).where(Event.id.in_(sorted(by_event)))):
                data = dict(event.data or {})
                made = [delivery_record(m, event.at) for m in by_event[event.id]]
                data["sent"] = stored([*records(data), *made])
                event.data = data
                report.recorded += 1
                rewritten[partitions.month_start(id_time(event.id))] += 1
            session.execute(delete(Outbox).where(Outbox.id.in_([m.id for m in messages])))
            report.purged += len(messages)
        if len(messages) < batch:
            break
    if rewritten:
        with factory() as probe:
            bind = probe.get_bind()
        report.vacuumed = make_room(bind.engine, rewritten, share=REUSE_SHARE, least=REUSE_ROWS)
    return report


def make_room(
    engine: Engine,
    rewritten: Counter[datetime],
    *,
    share: float = REUSE_SHARE,
    least: int = REUSE_ROWS,
) -> list[str]:
    """Vacuum, indexes included, the events partition of each month in ``rewritten``
    (rows this purge rewrote, by the month of their id) whose rows rewritten since its
    last vacuum (this purge's, or PostgreSQL's count if higher: earlier runs') reach
    ``share`` of its rows and at least ``least``; return the partitions vacuumed.

    ``INDEX_CLEANUP ON``: without it PostgreSQL skips the indexes when dead rows are
    on under 2 % of the pages, and then leaves those pages' room out of the free
    space map, so the next purge still writes on new pages. ``SKIP_LOCKED``: a
    partition another maintenance holds (``db compact`` rebuilding it) is left to the
    next run, not waited for. Nothing on SQLite. Outside any transaction (its own
    connection)."""
    if engine.dialect.name != "postgresql":
        return []
    done: list[str] = []
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for month, count in sorted(rewritten.items()):
            found = connection.execute(
                text(
                    "SELECT c.oid::regclass::text, c.reltuples, COALESCE(s.n_dead_tup, 0) "
                    "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
                    "WHERE c.relkind = 'r' AND c.oid = COALESCE(to_regclass(:month), "
                    "to_regclass('events_default'), to_regclass('events'))"
                ),
                {"month": partitions.partition_name("events", month)},
            ).first()
            if found is None:
                continue
            name, rows, dead = str(found[0]), max(float(found[1]), 0.0), int(found[2])
            if max(count, dead) < max(least, share * rows):
                continue
            connection.execute(text(f"VACUUM (INDEX_CLEANUP ON, SKIP_LOCKED) {name}"))
            done.append(name)
    if done:
        log.info("purge: vacuumed %s for the rewritten events' room", ", ".join(done))
    return done
