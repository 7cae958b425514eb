"""Follow-up reminders, "so as not to forget": when a follow-up note's next date
comes, its author and the complaint's assignee are reminded once, through the outbox.

Run by the sweeper beside the escalations. A note whose date was replaced by a
later note, or whose complaint has closed, is marked done without a message. The
reminder is one event and one message per person (the outbox's unique key), and the
note is marked in the same transaction, so a second sweeper finds nothing to do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.models import Complaint, FollowUp, Project, Staff
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.messages import MessageKind
from complaintdesk.services.common import project_zone, record_event
from complaintdesk.services.notify import tell_staff


def remind_due(factory: sessionmaker[Session], now: datetime, *, batch: int = 200) -> int:
    """Send every reminder due at ``now``; returns how many people were reminded."""
    sent = 0
    while True:
        with unit_of_work(factory) as session:
            due = _claim(session, now, batch)
            for note in due:
                sent += _remind(session, note, now)
        if len(due) < batch:
            return sent


def _claim(session: Session, now: datetime, batch: int) -> list[FollowUp]:
    query = (
        select(FollowUp)
        .where(FollowUp.reminded_at.is_(None), FollowUp.next_follow_up_at <= now)
        .order_by(FollowUp.next_follow_up_at)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def _remind(session: Session, note: FollowUp, now: datetime) -> int:
    note.reminded_at = now
    complaint = session.get(Complaint, note.complaint_id)
    if (
        complaint is None
        or not Status(complaint.status).is_open
        or complaint.next_follow_up_at != note.next_follow_up_at
    ):
        return 0  # closed, or a later note set another date: that one will remind
    people = {
        s.id: s
        for s in (
            session.get(Staff, note.staff_id),
            session.get(Staff, complaint.assignee_id) if complaint.assignee_id else None,
        )
        if s is not None and s.active
    }
    zone = project_zone(session.get(Project, complaint.project_id))
    at = (
        note.next_follow_up_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        if note.next_follow_up_at
        else "-"
    )
    event = record_event(
        session,
        complaint,
        None,
        "follow_up_reminded",
        now,
        data={"follow_up": str(note.id), "notified": [str(i) for i in people]},
    )
    for staff in people.values():
        tell_staff(
            session, complaint, staff, MessageKind.FOLLOW_UP_DUE, event, now, at=at, note=note.note
        )
    session.flush()
    return len(people)
