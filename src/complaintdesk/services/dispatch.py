"""Dispatching a complaint to the department(s) that act on it, and starting work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, ComplaintDepartment, Staff
from complaintdesk.domain import rules
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.lifecycle import Action
from complaintdesk.domain.messages import MessageKind
from complaintdesk.domain.permissions import Permission
from complaintdesk.domain.taxonomy import Department
from complaintdesk.services.common import (
    can_see_project,
    mark_responded,
    record_event,
    require,
    transition,
)
from complaintdesk.services.labels import correct_labels
from complaintdesk.services.notify import tell_owner


def dispatch(
    session: Session,
    actor: Staff,
    complaint: Complaint,
    now: datetime,
    *,
    department: Department,
    assignee_id: int | None = None,
    also: list[Department] | None = None,
    note: str | None = None,
) -> Complaint:
    """Send the complaint to a lead ``department`` (and optionally a person), with any
    other departments ``also`` involved. The first receiver never changes.

    A dispatch names the departments involved anew: the lead and ``also``, no other.
    A department that led before and is not named again is no longer involved (the
    dispatcher decides who handles it now); correcting the label alone
    (:func:`complaintdesk.services.labels.correct_labels`) keeps the old lead
    involved as co-handling."""
    require(actor, Permission.DISPATCH, complaint)
    note = rules.clean_text(note or "", field="note", max_chars=2000, required=False) or None
    assignee = None
    if assignee_id is not None:
        assignee = session.get(Staff, assignee_id)
        if (
            assignee is None
            or assignee.company_id != complaint.company_id
            or not assignee.active
            or not can_see_project(assignee, complaint.project_id)
        ):
            raise InvalidInput(
                f"staff {assignee_id} does not work on this project", field="assignee_id"
            )
    # The lead first, then the others once each, in the order given.
    involved = list(dict.fromkeys([department, *(also or [])]))
    if complaint.department != department.value:
        # Sending it elsewhere than the label says corrects the label: training data.
        correct_labels(session, actor, complaint, {"department": department.value}, now)
    event = transition(session, complaint, actor, Action.DISPATCH, now)
    data: dict[str, object] = {
        "department": department.value,
        "also": [d.value for d in involved[1:]],
        "note": note,
    }
    # The lead is the row's department (set above): only the others are stored.
    complaint.co_handling = [
        ComplaintDepartment(department=d.value) for d in involved if d.value != complaint.department
    ]
    if complaint.assignee_id is None and assignee_id is not None:
        # The first assignment is recorded in the dispatch event itself (one event
        # where two were written: about 170 bytes a complaint with its index entries,
        # measured with bench/bench_bytes.py: docs/capacity.md, "Bytes per complaint").
        data["assignee"] = str(assignee_id)
        complaint.assignee_id = assignee_id
    elif complaint.assignee_id != assignee_id:
        # A change of assignee (another person, or none) keeps its own event, old → new.
        record_event(
            session,
            complaint,
            actor,
            "assigned",
            now,
            field="assignee_id",
            old=complaint.assignee_id,
            new=assignee_id,
        )
        complaint.assignee_id = assignee_id
    event.data = data
    mark_responded(complaint, now)
    tell_owner(session, complaint, MessageKind.DISPATCHED, event, now)
    session.flush()
    return complaint


def start(session: Session, actor: Staff, complaint: Complaint, now: datetime) -> Complaint:
    """The acting department has begun work; an unassigned complaint becomes theirs."""
    require(actor, Permission.WORK, complaint)
    event = transition(session, complaint, actor, Action.START, now)
    if complaint.assignee_id is None:
        # Recorded in the start event, as a dispatch records its first assignee.
        complaint.assignee_id = actor.id
        event.data = {"assignee": str(actor.id)}
    mark_responded(complaint, now)
    session.flush()
    return complaint
