"""API tokens (one's own), staff deactivation and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from complaintdesk.domain.audit import AuditKind, Subject
from complaintdesk.services import accounts, audit
from complaintdesk.web.api.schemas import (
    AuditOut,
    AuditPage,
    StaffOut,
    TokenIn,
    TokenIssued,
    TokenOut,
    UtcTime,
)
from complaintdesk.web.deps import MAX_ID, CurrentStaff, IdPath, IdQuery, NowDep, SessionDep
from complaintdesk.web.errors import RESPONSES

router = APIRouter(tags=["accounts"], responses=RESPONSES)


@router.post("/tokens", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
def issue_token(
    body: TokenIn, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> TokenIssued:
    """A new API token for the caller (tokens are issued only to oneself), valid for
    ``expires_in_days``; the token is shown once."""
    raw = accounts.issue_token(
        session,
        staff,
        now,
        name=body.name,
        ttl=timedelta(days=body.expires_in_days),
        issued_by=staff,
    )
    token = accounts.token_of(session, raw)
    return TokenIssued(**TokenOut.of(token).model_dump(), token=raw)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    session: SessionDep, staff: CurrentStaff, staff_id: IdQuery = None
) -> list[TokenOut]:
    """The caller's tokens; administrators may give ``staff_id`` for a colleague's."""
    return [TokenOut.of(t) for t in accounts.list_tokens(session, staff, staff_id)]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: IdPath, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> Response:
    """Revoke one of the caller's tokens (administrators: any of their company's)."""
    accounts.revoke_token_by_id(session, staff, token_id, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/staff/{staff_id}/deactivate", response_model=StaffOut)
def deactivate_staff(
    staff_id: IdPath, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> StaffOut:
    """Deactivate a colleague: they can no longer sign in nor use any token, and every
    token they hold is revoked. Administrators; project managers for the staff below
    them on their projects."""
    target = accounts.get_colleague(session, staff, staff_id)
    accounts.deactivate(session, staff, target, now)
    return StaffOut.of(target)


@router.get("/audit", response_model=AuditPage)
def search_audit(
    session: SessionDep,
    staff: CurrentStaff,
    kind: AuditKind | None = None,
    actor_id: IdQuery = None,
    subject_type: Subject | None = None,
    subject_id: IdQuery = None,
    at_from: UtcTime | None = None,
    at_to: UtcTime | None = None,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
) -> AuditPage:
    """The audit trail of the caller's company, newest first (administrators only):
    reads of owners' personal data, sign-ins, tokens issued and revoked, deactivations,
    urgencies lowered."""
    flt = audit.AuditFilter(
        kind=kind,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        at_from=at_from,
        at_to=at_to,
    )
    rows, next_cursor = audit.search(session, staff, flt, cursor=cursor, limit=limit)
    return AuditPage(
        items=[AuditOut.of(a) for a in rows],
        next_cursor=str(next_cursor) if next_cursor is not None else None,
    )
