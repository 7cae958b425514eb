"""Return visits (回访): check the work held and rebuild trust; not satisfied reopens.

Staff make them by phone (:func:`record_visit`); an owner may also rate the outcome
in the portal or through the link in their message (:func:`record_owner_visit`).
Both follow the same rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, Staff, Visit
from complaintdesk.domain import rules
from complaintdesk.domain.lifecycle import Action
from complaintdesk.domain.messages import MessageKind
from complaintdesk.domain.permissions import Permission
from complaintdesk.services.common import refresh_sla_check, require, targets_for, transition
from complaintdesk.services.notify import tell_owner


def record_visit(
    session: Session,
    actor: Staff,
    complaint: Complaint,
    now: datetime,
    *,
    satisfaction: int,
    comment: str | None = None,
) -> Visit:
    """Record the owner's satisfaction (1–5) as heard by ``actor``. Satisfied: ready to
    close. Not satisfied: reopened and sent back to the department with a fresh
    resolution deadline."""
    require(actor, Permission.VISIT, complaint)
    return _record(session, complaint, now, satisfaction, comment, staff=actor)


def record_owner_visit(
    session: Session,
    complaint: Complaint,
    now: datetime,
    *,
    satisfaction: int,
    comment: str | None = None,
) -> Visit:
    """The owner's own rating of the outcome, from the portal or their link (the
    caller has checked the complaint is theirs); the same rule as a visit by phone."""
    return _record(session, complaint, now, satisfaction, comment, staff=None)


def _record(
    session: Session,
    complaint: Complaint,
    now: datetime,
    satisfaction: int,
    comment: str | None,
    *,
    staff: Staff | None,
) -> Visit:
    satisfied = rules.is_satisfied(satisfaction)
    comment = rules.clean_text(comment or "", field="comment", required=False) or None
    action = Action.VISIT_SATISFIED if satisfied else Action.VISIT_UNSATISFIED
    # Read before the row changes: a query after a change flushes it, and the rest of
    # the step would then be a second UPDATE of the row (a second row version).
    targets = targets_for(session, complaint)
    event = transition(session, complaint, staff, action, now)
    event.data = {
        "satisfaction": satisfaction,
        "comment": comment,
        "by": "staff" if staff is not None else "owner",
    }
    visit = Visit(
        complaint_id=complaint.id,
        staff_id=staff.id if staff is not None else None,
        owner_id=complaint.owner_id if staff is None else None,
        at=now,
        satisfaction=satisfaction,
        satisfied=satisfied,
        comment=comment,
    )
    session.add(visit)
    complaint.satisfaction = satisfaction
    if satisfied:
        complaint.visited_at = now
        kind = MessageKind.VISITED
    else:
        complaint.reopen_count += 1
        complaint.resolved_at = None
        complaint.visit_by = None
        complaint.visit_level = 0
        complaint.resolution_level = 0
        complaint.clock_started_at = now
        complaint.resolve_by = now + targets.resolution
        kind = MessageKind.REOPENED
    refresh_sla_check(complaint, now)
    tell_owner(session, complaint, kind, event, now)
    session.flush()
    return visit
