"""Keeping the outbox small: delivered messages leave it after a retention period.

The outbox is a queue, not an archive: a message that was sent is needed only for a
while (to answer "did the owner get it?" on the complaint's page, to resend by hand).
After the retention period :func:`purge_outbox` deletes it and keeps a compact
delivery record in the event that caused it: ``data.sent``, a list of strings
``"<to> <channel> <when sent, UTC>"``, e.g. ``"owner sms 2026-12-17T11:02:34Z"``
(``to``: ``owner`` or the staff member's id). Kept for ever, about eight a complaint:
one short string is about half the bytes of an object with three keys. Events
written by earlier versions (purged, or generated, before 7 December 2026) hold
``data.delivered``, a list of ``{"to", "ch",
"at"}`` objects; :func:`deliveries` reads both, and the API answers both as
``sent`` strings (:func:`one_form`). Messages still pending, being sent or
failed stay (they need delivery or someone's attention).

``serve`` runs it periodically (``COMPLAINTDESK_PURGE_INTERVAL_SECONDS``, retention
``COMPLAINTDESK_OUTBOX_RETENTION_DAYS``); ``complaintdesk purge-outbox`` runs it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.models import Event, Outbox

DEFAULT_RETENTION = timedelta(days=30)


@dataclass
class PurgeReport:
    purged: int = 0
    recorded: int = 0  # events that got a delivery record


def _cause(dedupe_key: str) -> int | None:
    """The id of the event a message reports (``owner:<event>``,
    ``staff:<staff>:<event>``)."""
    last = dedupe_key.rpartition(":")[2]
    return int(last) if last.isdigit() else None


def record(to: str, channel: str, sent: datetime | None) -> str:
    """One delivery record: ``"owner sms 2026-12-17T11:02:34Z"``. The time is UTC to
    the second and ends in ``Z`` (a time with its zone, as docs/api.md promises);
    the bulk path (``generate``) writes the same."""
    if sent is None:
        return f"{to} {channel}"
    return f"{to} {channel} {sent.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def delivery_record(message: Outbox) -> str:
    to = "owner" if message.staff_id is None else str(message.staff_id)
    return record(to, message.channel, message.sent_at)


@dataclass(frozen=True)
class Delivery:
    to: str  # "owner" or a staff id
    channel: str
    at: str | None  # ISO 8601, UTC


def deliveries(data: dict[str, Any] | None) -> list[Delivery]:
    """An event's delivery records, in either form (``sent`` strings, or the
    ``delivered`` objects of events purged before 7 December 2026)."""
    data = data or {}
    found = [
        Delivery(str(d.get("to")), str(d.get("ch")), d.get("at")) for d in data.get("delivered", [])
    ]
    for line in data.get("sent", []):
        to, channel, *at = str(line).split(" ")
        found.append(Delivery(to, channel, at[0] if at else None))
    return found


def one_form(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """An event's data with its delivery records in one form, ``sent`` strings: the
    ``delivered`` objects of events purged before come first, as strings, then the
    event's own ``sent``. What the API answers, so that a client reads one form
    whatever code wrote the event; history is not rewritten."""
    if not data or "delivered" not in data:
        return data
    out = {k: v for k, v in data.items() if k != "delivered"}
    out["sent"] = [_old_record(d) for d in data["delivered"] if isinstance(d, dict)] + list(
        data.get("sent", [])
    )
    return out


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
    in their events; one transaction per batch."""
    report = PurgeReport()
    cutoff = now - retention
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
                return report
            by_event: dict[int, list[str]] = {}
            for message in messages:
                cause = _cause(message.dedupe_key)
                if cause is not None:
                    by_event.setdefault(cause, []).append(delivery_record(message))
            for event in session.scalars(select(Event).where(Event.id.in_(sorted(by_event)))):
                data = dict(event.data or {})
                data["sent"] = [*data.get("sent", []), *by_event[event.id]]
                event.data = data
                report.recorded += 1
            session.execute(delete(Outbox).where(Outbox.id.in_([m.id for m in messages])))
            report.purged += len(messages)
        if len(messages) < batch:
            return report
