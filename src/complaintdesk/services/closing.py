"""Closing with a summary (cause, lesson, corrective and preventive action), or withdrawal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, Staff
from complaintdesk.domain import rules
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.lifecycle import Action, Status, next_status
from complaintdesk.domain.messages import MessageKind
from complaintdesk.domain.permissions import Permission
from complaintdesk.domain.taxonomy import Nature
from complaintdesk.services.common import refresh_sla_check, require, transition
from complaintdesk.services.notify import tell_owner


@dataclass(frozen=True)
class Summary:
    """The quality-management summary: why it happened, what we learnt, what we
    corrected and what will stop it happening again."""

    cause: str | None = None
    lesson: str | None = None
    corrective_action: str | None = None
    preventive_action: str | None = None


def close(
    session: Session, actor: Staff, complaint: Complaint, now: datetime, summary: Summary
) -> Complaint:
    """Close a visited complaint. An effective dissatisfaction complaint needs the
    whole summary; others may give what they have."""
    require(actor, Permission.CLOSE, complaint)
    fields = {
        "summary_cause": summary.cause,
        "summary_lesson": summary.lesson,
        "corrective_action": summary.corrective_action,
        "preventive_action": summary.preventive_action,
    }
    cleaned = {
        name: rules.clean_text(value or "", field=name, required=False) or None
        for name, value in fields.items()
    }
    next_status(Status(complaint.status), Action.CLOSE)  # refuse a wrong state first
    if complaint.nature == Nature.DISSATISFACTION and complaint.effective:
        for name, value in cleaned.items():
            if value is None:
                raise InvalidInput(
                    "an effective dissatisfaction complaint needs a summary: cause, lesson, "
                    "corrective and preventive action / 有效不满意投诉结案须填写原因、教训、"
                    "纠正及预防措施",
                    field=name,
                )
    # The summary is kept on the row (a closed complaint is final: it never changes
    # again), so the event does not copy it.
    event = transition(session, complaint, actor, Action.CLOSE, now)
    for name, value in cleaned.items():
        setattr(complaint, name, value)
    complaint.closed_at = now
    refresh_sla_check(complaint, now)
    tell_owner(session, complaint, MessageKind.CLOSED, event, now)
    session.flush()
    return complaint


def withdraw(
    session: Session, actor: Staff, complaint: Complaint, now: datetime, *, reason: str
) -> Complaint:
    """The owner withdrew the complaint; the reason is kept."""
    require(actor, Permission.WITHDRAW, complaint)
    reason = rules.clean_text(reason, field="reason")
    event = transition(session, complaint, actor, Action.WITHDRAW, now)
    event.data = {"reason": reason}
    complaint.closed_at = now
    refresh_sla_check(complaint, now)
    tell_owner(session, complaint, MessageKind.WITHDRAWN, event, now)
    session.flush()
    return complaint
