"""Staff write to the owner in their own words (the complaint page's "message the
owner"): recorded in the timeline and sent through the outbox like every message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, Outbox, Owner, Project, Staff
from complaintdesk.domain import replies, rules
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.messages import MessageKind, language_of_text
from complaintdesk.domain.permissions import Permission
from complaintdesk.domain.taxonomy import Department, display_name
from complaintdesk.services.common import project_zone, record_event, require
from complaintdesk.services.notify import reference, tell_owner

MAX_CHARS = 2000


def owner_language(session: Session, complaint: Complaint) -> str:
    """The language the complainant is written to: the owner's, or the language of
    the words of a caller we have no record of."""
    owner = session.get(Owner, complaint.owner_id) if complaint.owner_id is not None else None
    if owner is not None and owner.language in ("zh", "en"):
        return owner.language
    return language_of_text(complaint.text)


def draft(session: Session, complaint: Complaint, reply: replies.Reply) -> str:
    """A reply template filled in for ``complaint``, in the owner's language."""
    lang = owner_language(session, complaint)
    owner = session.get(Owner, complaint.owner_id) if complaint.owner_id is not None else None
    zone = project_zone(session.get(Project, complaint.project_id))
    due = complaint.next_follow_up_at or complaint.visit_by or complaint.resolve_by
    values = {
        "name": owner.name if owner is not None else (complaint.caller_name or ""),
        "ref": reference(complaint),
        "department": display_name(Department(complaint.department), lang),
        "next": due.astimezone(zone).strftime("%Y-%m-%d %H:%M") if due else "…",
    }
    return replies.fill(reply, lang, values)


def message_owner(
    session: Session, actor: Staff, complaint: Complaint, text: str, now: datetime
) -> Outbox:
    """Send ``text`` to the complainant and record it in the timeline."""
    require(actor, Permission.FOLLOW_UP, complaint)
    text = rules.clean_text(text, field="text", max_chars=MAX_CHARS)
    event = record_event(session, complaint, actor, "owner_messaged", now, data={"text": text})
    message = tell_owner(session, complaint, MessageKind.REPLY, event, now, text=text)
    if message is None:
        raise InvalidInput(
            "the owner has no phone or e-mail on record: call them instead "
            "/ 业主没有登记电话或邮箱,请直接致电",
            field="text",
        )
    session.flush()
    return message
