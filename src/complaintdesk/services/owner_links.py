"""Links to a complaint's owner page that work without an account.

Every message to an owner ends with one (see ``notify.tell_owner``). The token is
unguessable (128 random bits), only its SHA-256 is stored, it expires, and it can be
revoked: revoking a complaint's links stops every link sent for it so far (a new
message carries a new one).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from complaintdesk.db.ids import new_id
from complaintdesk.db.models import Complaint, OwnerLink, Staff
from complaintdesk.domain.permissions import Permission
from complaintdesk.services.common import record_event, require
from complaintdesk.settings import get_settings

LINK_LIFETIME = timedelta(days=365)
"""Long enough to follow a complaint through return visit and closing, and to look
back at it; a link that should stop working sooner is revoked."""

LINK_PATH = "/l/"


HASH_BYTES = 16
"""The stored hash: the first 128 bits of the token's SHA-256 (the token itself has
128 random bits; a longer hash would only take more room, see ``db/models.py``)."""


def _hash(raw: str) -> bytes:
    return hashlib.sha256(raw.encode("utf-8")).digest()[:HASH_BYTES]


def issue(session: Session, complaint: Complaint, now: datetime) -> str:
    """A new link token for ``complaint``; returned once, only its hash is kept."""
    raw = secrets.token_urlsafe(16)
    session.add(
        OwnerLink(
            id=new_id(),
            complaint_id=complaint.id,
            token_hash=_hash(raw),
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    return raw


def url(raw: str) -> str:
    """The address an owner opens."""
    return get_settings().public_url.rstrip("/") + LINK_PATH + raw


def complaint_for(session: Session, raw: str, now: datetime) -> Complaint | None:
    """The complaint a link token opens, or None (unknown, expired or revoked)."""
    if not raw or len(raw) > 100:
        return None
    link = session.scalar(select(OwnerLink).where(OwnerLink.token_hash == _hash(raw)))
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        return None
    return session.get(Complaint, link.complaint_id)


def revoke_all(session: Session, complaint: Complaint, now: datetime) -> int:
    """Stop every link sent for ``complaint`` so far; how many were live."""
    result = session.execute(
        update(OwnerLink)
        .where(OwnerLink.complaint_id == complaint.id, OwnerLink.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke(session: Session, actor: Staff, complaint: Complaint, now: datetime) -> int:
    """Staff revoke the owner links of a complaint they coordinate (say a message went
    to the wrong number). The caller has already checked the complaint is theirs to
    see (``get_complaint``)."""
    require(actor, Permission.DISPATCH, complaint)
    count = revoke_all(session, complaint, now)
    record_event(session, complaint, actor, "links_revoked", now, data={"count": count})
    return count
