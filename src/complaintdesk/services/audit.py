"""The audit trail: append a line, and let administrators search their company's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk import context
from complaintdesk.db.ids import new_id
from complaintdesk.db.models import AuditEntry, Staff
from complaintdesk.domain.audit import AuditKind, Subject
from complaintdesk.domain.permissions import Permission
from complaintdesk.services.common import require

MAX_PAGE = 200


def record(
    session: Session,
    *,
    company_id: int,
    actor: Staff | None,
    kind: AuditKind,
    at: datetime,
    subject: Subject | None = None,
    subject_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry, in the caller's transaction: it is kept if and only if what it
    records is. The client's address comes from the request being served, if any."""
    entry = AuditEntry(
        id=new_id(),
        company_id=company_id,
        at=at,
        actor_id=actor.id if actor is not None else None,
        kind=kind.value,
        subject_type=subject.value if subject is not None else None,
        subject_id=subject_id,
        address=context.current().address,
        data=data,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    kind: AuditKind | None = None
    actor_id: int | None = None
    subject_type: Subject | None = None
    subject_id: int | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None


def search(
    session: Session, actor: Staff, flt: AuditFilter, *, cursor: int | None, limit: int
) -> tuple[list[AuditEntry], int | None]:
    """The caller's company's entries, newest first, ``limit`` at a time; the second
    value is the cursor of the next page (None on the last). Administrators only."""
    require(actor, Permission.AUDIT)
    query = select(AuditEntry).where(AuditEntry.company_id == actor.company_id)
    if flt.kind is not None:
        query = query.where(AuditEntry.kind == flt.kind.value)
    if flt.actor_id is not None:
        query = query.where(AuditEntry.actor_id == flt.actor_id)
    if flt.subject_type is not None:
        query = query.where(AuditEntry.subject_type == flt.subject_type.value)
    if flt.subject_id is not None:
        query = query.where(AuditEntry.subject_id == flt.subject_id)
    if flt.at_from is not None:
        query = query.where(AuditEntry.at >= flt.at_from)
    if flt.at_to is not None:
        query = query.where(AuditEntry.at < flt.at_to)
    if cursor is not None:
        query = query.where(AuditEntry.id < cursor)
    rows = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None
