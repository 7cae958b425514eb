"""Follow-up notes, so that nothing is forgotten (将日常繁琐的工作系统化,以免遗忘)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, FollowUp, Staff
from complaintdesk.domain import rules
from complaintdesk.domain.errors import TransitionNotAllowed
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.permissions import Permission
from complaintdesk.services.common import mark_responded, record_event, require


def add_follow_up(
    session: Session,
    actor: Staff,
    complaint: Complaint,
    now: datetime,
    *,
    note: str,
    next_follow_up_at: datetime | None = None,
) -> FollowUp:
    """Record what was done or learnt; a next date puts it back in the queue then."""
    require(actor, Permission.FOLLOW_UP, complaint)
    if not Status(complaint.status).is_open:
        raise TransitionNotAllowed("the complaint is closed / 投诉已结案", field="status")
    note = rules.clean_text(note, field="note")
    if next_follow_up_at is not None:
        rules.check_future(next_follow_up_at, now, field="next_follow_up_at")
    follow_up = FollowUp(
        complaint_id=complaint.id,
        staff_id=actor.id,
        at=now,
        note=note,
        next_follow_up_at=next_follow_up_at,
    )
    session.add(follow_up)
    old = complaint.next_follow_up_at
    complaint.next_follow_up_at = next_follow_up_at
    record_event(
        session,
        complaint,
        actor,
        "follow_up",
        now,
        field="next_follow_up_at",
        old=old.isoformat() if old else None,
        new=next_follow_up_at.isoformat() if next_follow_up_at else None,
        data={"note": note},
    )
    mark_responded(complaint, now)
    session.flush()
    return follow_up
