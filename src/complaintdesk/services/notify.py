"""Queue messages to owners and staff in the outbox, in the caller's transaction.

Delivery happens later (see ``delivery.py``); writing the message with the change it
reports means a change is never made without its message, nor a message sent for a
change that was rolled back.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, Event, Outbox, Owner, Project, ShownComplaint, Staff
from complaintdesk.domain.lifecycle import Outcome
from complaintdesk.domain.messages import (
    MessageKind,
    Rendered,
    clause,
    language_of_text,
    render,
)
from complaintdesk.domain.taxonomy import Department, Nature, display_name
from complaintdesk.services import owner_links
from complaintdesk.services.common import project_zone


def reference(complaint: Complaint | ShownComplaint) -> str:
    """The number an owner quotes on the phone."""
    return f"TS{complaint.id}"


def _when(at: datetime | None, zone: tzinfo) -> str:
    """A time as the owner reads it: in the project's own time zone."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at is not None else "-"


def _owner_address(owner: Owner | None, complaint: Complaint) -> tuple[str, str, str] | None:
    """(channel, recipient, language) for telling the complainant, or None if we
    have no way to reach them."""
    if owner is not None:
        if owner.contact_channel == "email" and owner.email:
            return ("email", owner.email, owner.language)
        if owner.phone:
            channel = owner.contact_channel if owner.contact_channel in ("sms", "wechat") else "sms"
            return (channel, owner.phone, owner.language)
        if owner.email:
            return ("email", owner.email, owner.language)
        return None
    if complaint.caller_phone:
        # No record of them: write in the language they wrote (or spoke) in.
        return ("sms", complaint.caller_phone, language_of_text(complaint.text))
    return None


def tell_owner(
    session: Session,
    complaint: Complaint,
    kind: MessageKind,
    cause: Event,
    now: datetime,
    **values: str,
) -> Outbox | None:
    """Queue a message to the complainant about ``cause`` (one message per event)."""
    owner = session.get(Owner, complaint.owner_id) if complaint.owner_id is not None else None
    address = _owner_address(owner, complaint)
    if address is None:
        return None
    channel, recipient, language = address
    receiver = session.get(Staff, complaint.first_receiver_id)
    zone = project_zone(session.get(Project, complaint.project_id))
    outcome = Outcome(complaint.resolution_outcome) if complaint.resolution_outcome else None
    fill = {
        "ref": reference(complaint),
        "name": owner.name if owner is not None else (complaint.caller_name or ""),
        "receiver": receiver.name if receiver is not None else "",
        "respond_by": _when(complaint.respond_by, zone),
        "resolve_by": _when(complaint.resolve_by, zone),
        "department": display_name(Department(complaint.department), language),
        "resolution": clause(complaint.owner_explanation or complaint.resolution),
        "explanation": clause(complaint.owner_explanation or complaint.resolution),
        **values,
    }
    link = owner_links.url(owner_links.issue(session, complaint, now))
    rendered = render(
        kind, language, fill, nature=Nature(complaint.nature), outcome=outcome, link=link
    )
    return _queue(
        session,
        complaint,
        kind,
        channel,
        recipient,
        language,
        rendered,
        dedupe_key=f"owner:{cause.id}",
        now=now,
        owner_id=complaint.owner_id,
    )


def tell_staff(
    session: Session,
    complaint: Complaint,
    staff: Staff,
    kind: MessageKind,
    cause: Event,
    now: datetime,
    **values: str,
) -> Outbox:
    """Queue a message to a staff member about ``cause`` (one per person per event), in
    their language; ``values`` carry codes (clock, level) that ``render`` words."""
    language = staff.language if staff.language in ("zh", "en") else "zh"
    channel, recipient = ("email", staff.email) if staff.email else ("log", staff.username)
    rendered = render(kind, language, {"ref": reference(complaint), **values})
    return _queue(
        session,
        complaint,
        kind,
        channel,
        recipient,
        language,
        rendered,
        dedupe_key=f"staff:{staff.id}:{cause.id}",
        now=now,
        staff_id=staff.id,
    )


def _queue(
    session: Session,
    complaint: Complaint,
    kind: MessageKind,
    channel: str,
    recipient: str,
    language: str,
    rendered: Rendered,
    *,
    dedupe_key: str,
    now: datetime,
    owner_id: int | None = None,
    staff_id: int | None = None,
) -> Outbox:
    message = Outbox(
        company_id=complaint.company_id,
        complaint_id=complaint.id,
        owner_id=owner_id,
        staff_id=staff_id,
        kind=kind.value,
        channel=channel,
        recipient=recipient,
        language=language,
        subject=rendered.subject,
        body=rendered.body,
        dedupe_key=dedupe_key,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message
