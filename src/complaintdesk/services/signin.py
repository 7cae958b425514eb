"""Staff sign-in to the pages: username and password, rate limited.

Attempts are counted per username and per client address in fixed windows
(:mod:`complaintdesk.services.ratelimit`), before the password is checked, so that
guessing is slow whatever the answer; a refused sign-in does not raise, so the
counted attempt is committed with the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from complaintdesk.db.models import Owner, Staff
from complaintdesk.domain.audit import AuditKind, Subject
from complaintdesk.services import audit, org, ratelimit

PER_USERNAME = 10
PER_CLIENT = 50
WINDOW = timedelta(minutes=15)


class Refusal(str):
    """Why a sign-in was refused (a stable code the page translates)."""


BAD_CREDENTIALS = Refusal("bad_credentials")
NEEDS_COMPANY = Refusal("needs_company")


@dataclass(frozen=True)
class SignInResult:
    staff: Staff | None
    refusal: Refusal | None = None


def sign_in(
    session: Session,
    *,
    username: str,
    password: str,
    company_code: str | None,
    client: str,
    now: datetime,
) -> SignInResult:
    """The staff member these credentials belong to, or why not. Raises
    :class:`~complaintdesk.domain.errors.RateLimited` past the limits."""
    username = username.strip()
    company_code = (company_code or "").strip() or None
    ratelimit.hit(session, f"signin:client:{client}", limit=PER_CLIENT, window=WINDOW, now=now)
    ratelimit.hit(
        session, f"signin:user:{username.lower()}", limit=PER_USERNAME, window=WINDOW, now=now
    )
    candidates = org.find_staff(session, username, company_code) if username else []
    if not candidates:
        org.check_password(session, Staff(), password)  # same cost as a real check
        return SignInResult(None, BAD_CREDENTIALS)
    matches = [s for s in candidates if org.check_password(session, s, password)]
    if len(matches) > 1:
        # The same username and password in two companies: say which one.
        return SignInResult(None, NEEDS_COMPANY)
    if not matches:
        for staff in candidates:  # a wrong password for a known account is on record
            audit.record(
                session,
                company_id=staff.company_id,
                actor=None,
                kind=AuditKind.SIGN_IN_FAILED,
                at=now,
                subject=Subject.STAFF,
                subject_id=staff.id,
            )
        return SignInResult(None, BAD_CREDENTIALS)
    audit.record(
        session,
        company_id=matches[0].company_id,
        actor=matches[0],
        kind=AuditKind.SIGN_IN,
        at=now,
        subject=Subject.STAFF,
        subject_id=matches[0].id,
    )
    return SignInResult(matches[0])


def sign_out(session: Session, staff: Staff, now: datetime) -> None:
    """A staff member ended their page session: on record like the sign-in."""
    audit.record(
        session,
        company_id=staff.company_id,
        actor=staff,
        kind=AuditKind.SIGN_OUT,
        at=now,
        subject=Subject.STAFF,
        subject_id=staff.id,
    )


def owner_signed(session: Session, owners: list[Owner], kind: AuditKind, now: datetime) -> None:
    """An owner signed in to (or out of) the portal with their phone: on record in the
    audit trail of each company that knows them by it (no staff actor)."""
    for owner in owners:
        audit.record(
            session,
            company_id=owner.company_id,
            actor=None,
            kind=kind,
            at=now,
            subject=Subject.OWNER,
            subject_id=owner.id,
        )
