"""Showing owners' contact details to staff: in full to those who call owners back,
each such read on record; masked to everyone else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Owner, Staff
from complaintdesk.domain import privacy
from complaintdesk.domain.audit import AuditKind, Subject
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import audit


@dataclass(frozen=True)
class Contact:
    phone: str | None
    email: str | None
    masked: bool


def sees_contact(viewer: Staff) -> bool:
    return privacy.sees_contact(Role(viewer.role), StaffDepartment(viewer.department))


def owner_contact(session: Session, viewer: Staff, owner: Owner, now: datetime) -> Contact:
    """The owner's phone and e-mail as ``viewer`` may see them. A full read is
    recorded in the audit trail (in the request's transaction)."""
    if not sees_contact(viewer):
        return Contact(privacy.mask_phone(owner.phone), privacy.mask_email(owner.email), True)
    if owner.phone or owner.email:
        audit.record(
            session,
            company_id=owner.company_id,
            actor=viewer,
            kind=AuditKind.PERSONAL_DATA_READ,
            at=now,
            subject=Subject.OWNER,
            subject_id=owner.id,
            data={"fields": [f for f in ("phone", "email") if getattr(owner, f)]},
        )
    return Contact(owner.phone, owner.email, False)


def recipient_for(viewer: Staff, recipient: str) -> str:
    """Where a message went (a phone number or an address), as ``viewer`` may see it."""
    return recipient if sees_contact(viewer) else privacy.mask_contact(recipient) or ""
