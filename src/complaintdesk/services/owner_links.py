"""Links to a complaint's owner page that work without an account.

Every message to an owner ends with one (see ``notify.tell_owner``). The token is
unguessable (128 bits), only its SHA-256 is stored, it expires, and it can be
revoked: revoking a complaint's links stops every link sent for it so far (a new
message carries a new one).

One link a complaint, not one a message: a complaint's later messages carry the link
its first message carried (a complaint sends its owner five messages or so, and every
link row with its unique index costs about 200 bytes, kept for ever). The token is
therefore not random but ``HMAC(installation secret, link id)``: it can be made again
from the link's id for the next message, while the database keeps only its hash (a
copy of the database alone opens nothing; the secret is the one that signs the
pages' cookies, ``settings.secret_key``). A link is reused while it has at least
``LINK_LIFETIME`` left, so every message's link works at least that long after the
message; later messages get a new link. A link made under another secret (an older
one, or before links were reused) is never reused: its hash does not match what the
current secret makes, so the next message gets a new link, and the old one still opens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from complaintdesk.db.ids import new_id
from complaintdesk.db.models import Complaint, OwnerLink, Staff
from complaintdesk.domain.permissions import Permission
from complaintdesk.services.common import record_event, require
from complaintdesk.settings import get_settings, secret_key

LINK_LIFETIME = timedelta(days=365)
"""How long a link works at least after the last message that carried it: long enough
to follow a complaint through return visit and closing, and to look back at it; a
link that should stop working sooner is revoked."""

REUSE = timedelta(days=30)
"""How long after it was made a link is carried by a complaint's later messages (it
expires ``LINK_LIFETIME + REUSE`` after it was made)."""

LINK_PATH = "/l/"


HASH_BYTES = 16
"""The stored hash: the first 128 bits of the token's SHA-256 (the token itself has
128 bits; a longer hash would only take more room, see ``db/models.py``)."""

_PURPOSE = b"complaintdesk.owner-link:"


def _hash(raw: str) -> bytes:
    return hashlib.sha256(raw.encode("utf-8")).digest()[:HASH_BYTES]


@cache
def _key() -> bytes:
    return secret_key().encode("utf-8")


def _token(link_id: int) -> str:
    """The token of link ``link_id``: 128 bits of HMAC-SHA256, URL-safe base64 (the
    form ``secrets.token_urlsafe(16)`` had)."""
    digest = hmac.new(_key(), _PURPOSE + str(link_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def issue(session: Session, complaint: Complaint, now: datetime) -> str:
    """The link token for a message about ``complaint`` sent ``now``: the complaint's
    live link if it has one with ``LINK_LIFETIME`` left, else a new one. Only hashes
    are kept."""
    if complaint not in session.new:  # a complaint made now has no link yet: no query
        link = session.scalar(
            select(OwnerLink)
            .where(
                OwnerLink.complaint_id == complaint.id,
                OwnerLink.revoked_at.is_(None),
                OwnerLink.expires_at >= now + LINK_LIFETIME,
            )
            .order_by(OwnerLink.id.desc())
            .limit(1)
        )
        if link is not None:
            raw = _token(link.id)
            if hmac.compare_digest(_hash(raw), link.token_hash):  # made with this secret
                return raw
    link_id = new_id()
    raw = _token(link_id)
    session.add(
        OwnerLink(
            id=link_id,
            complaint_id=complaint.id,
            token_hash=_hash(raw),
            created_at=now,
            expires_at=now + LINK_LIFETIME + REUSE,
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
