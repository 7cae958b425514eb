"""Staff correct the classifier's labels; every correction is kept as training data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, ComplaintDepartment, LabelCorrection, Staff
from complaintdesk.domain import rules
from complaintdesk.domain.audit import AuditKind, Subject
from complaintdesk.domain.errors import InvalidInput, TransitionNotAllowed
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.permissions import Permission
from complaintdesk.domain.taxonomy import LABELS, parse_labels
from complaintdesk.services import audit
from complaintdesk.services.common import record_event, require, set_deadlines


def correct_labels(
    session: Session,
    actor: Staff,
    complaint: Complaint,
    changes: dict[str, str],
    now: datetime,
    *,
    reason: str | None = None,
) -> list[LabelCorrection]:
    """Set the given labels; deadlines follow a new urgency, the lead department a new
    department. Unchanged values are ignored; an empty change is refused.

    A change that makes the complaint less urgent (a lower urgency, or out of
    emergency) moves its deadlines out: it needs a supervisor's authority
    (:data:`Permission.LOWER_URGENCY`) and a ``reason``, kept in the history and the
    audit trail."""
    require(actor, Permission.RELABEL, complaint)
    if not Status(complaint.status).is_open:
        raise TransitionNotAllowed(
            "a closed complaint's labels cannot change / 已结案投诉不能修改分类", field="status"
        )
    if not changes:
        raise InvalidInput("give at least one of " + ", ".join(sorted(LABELS)), field="labels")
    parsed = parse_labels(changes)
    current = {name: getattr(complaint, name) for name in LABELS}
    wanted = rules.apply_label_rules({**current, **parsed}, urgency_given="urgency" in parsed)
    lowered = rules.lowers_urgency(current, wanted)
    if lowered:
        require(actor, Permission.LOWER_URGENCY, complaint)
        reason = rules.clean_text(reason or "", field="reason", max_chars=1000)
    corrections = []
    for name, code in wanted.items():
        old = getattr(complaint, name)
        if old == code:
            continue
        setattr(complaint, name, code)
        correction = LabelCorrection(
            complaint_id=complaint.id,
            staff_id=actor.id,
            at=now,
            label=name,
            old=old,
            new=code,
            model_version=complaint.model_version,
        )
        session.add(correction)
        corrections.append(correction)
        record_event(
            session,
            complaint,
            actor,
            "label_corrected",
            now,
            field=name,
            old=old,
            new=code,
            data={"reason": reason} if lowered else None,
        )
        if name == "department":
            _set_lead(complaint, old, code)
    if lowered:
        audit.record(
            session,
            company_id=complaint.company_id,
            actor=actor,
            kind=AuditKind.URGENCY_LOWERED,
            at=now,
            subject=Subject.COMPLAINT,
            subject_id=complaint.id,
            data={
                "old": {k: current[k] for k in ("category", "urgency")},
                "new": {k: wanted[k] for k in ("category", "urgency")},
                "reason": reason,
            },
        )
    if corrections:
        complaint.label_source = "staff"
        complaint.needs_review = False
        if any(c.label == "urgency" for c in corrections):
            set_deadlines(session, complaint, now)
    session.flush()
    return corrections


def _set_lead(complaint: Complaint, old: str, department: str) -> None:
    """``department`` now leads (it is the row's ``department``, never stored among
    the co-handling ones); the department that led stays involved, co-handling."""
    others = [d for d in complaint.co_handling if d.department != department]
    if old != department and all(d.department != old for d in others):
        others.append(ComplaintDepartment(department=old))
    complaint.co_handling = others


def correct_or_confirm(
    session: Session,
    actor: Staff,
    complaint: Complaint,
    chosen: dict[str, str],
    now: datetime,
    *,
    reason: str | None = None,
) -> list[LabelCorrection]:
    """What a person does with the labels they were shown: the ones they changed are
    corrected; if they changed none, they confirmed the classifier's (it leaves the
    review queue). Empty choices are ignored."""
    chosen = {k: v for k, v in chosen.items() if v}
    changes = {k: v for k, v in chosen.items() if getattr(complaint, k, None) != v}
    if changes:
        return correct_labels(session, actor, complaint, changes, now, reason=reason)
    confirm_labels(session, actor, complaint, now)
    return []


def confirm_labels(session: Session, actor: Staff, complaint: Complaint, now: datetime) -> None:
    """A person checked the classifier's labels and found them right."""
    require(actor, Permission.RELABEL, complaint)
    if not complaint.needs_review:
        return
    complaint.needs_review = False
    record_event(
        session,
        complaint,
        actor,
        "labels_confirmed",
        now,
        data={name: getattr(complaint, name) for name in LABELS},
    )
    session.flush()
